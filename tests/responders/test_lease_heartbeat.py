"""Two responders never both hold a reply: the holder's heartbeat renews its lease (database
time) for as long as it works on the reply, and no platform call can outlast a lease."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest

from responders.outbox import Outbox, RunSummary, lease_for, request_cap
from responders.queue import queue_reply
from storage.models import Reply

from .conftest import Stand

TWEETS = r"^/2/tweets$"


def _lease_until(stand: Stand, reply_id: int) -> datetime | None:
    with stand.db.session() as session:
        row = session.get(Reply, reply_id)
        assert row is not None
        return row.lease_until


def test_heartbeat_holds_the_claim_while_the_platform_makes_it_wait(any_stand: Stand) -> None:
    """X answers the first POST with a rate limit (about 4 s to wait, longer than the 2.5 s
    lease) and the second slowly. Between two of the holder's own steps the lease would run
    out; its heartbeat renews it, so a second responder polling all along never gets the
    reply, and X gets one tweet."""
    stand = any_stand
    tweet = stand.tweet()
    [rid] = queue_reply(stand.db, stand.settings, f"x:{tweet.external_id}", "Sorry Jane!",
                        agent="alice")
    settings = stand.settings.model_copy(update={"http_timeout": 1.0})
    lease = timedelta(seconds=2.5)
    stand.ctl.add_fault(TWEETS, "429", method="POST", reset_after=3)
    stand.ctl.add_fault(TWEETS, "slow", method="POST", delay=0.8)
    holder: list[RunSummary] = []
    worker = threading.Thread(target=lambda: holder.append(
        Outbox(stand.db, settings, lease=lease).run_due()))
    started = time.monotonic()
    worker.start()
    while _lease_until(stand, rid) is None:  # the holder claims first
        time.sleep(0.01)
    rival: list[str] = []
    leases: set[datetime] = set()
    while worker.is_alive():
        rival += [o.line() for o in Outbox(stand.db, settings, lease=lease).run_due().outcomes]
        until = _lease_until(stand, rid)
        if until is not None:
            leases.add(until)
        time.sleep(0.1)
    worker.join()
    assert time.monotonic() - started > lease.total_seconds()
    assert rival == []
    [summary] = holder
    assert summary.sent == 1, [o.line() for o in summary.outcomes]
    assert len(leases) >= 3  # renewed while waiting, not only at each attempt
    assert len(stand.ctl.sent(kind="x_reply")) == 1
    assert [r["status"] for r in stand.ctl.requests(path=TWEETS, method="POST")] == [429, 201]


def test_no_platform_call_outlasts_a_lease(stand: Stand) -> None:
    settings = stand.settings.model_copy(update={"http_timeout": 2.0})
    assert request_cap(settings) == timedelta(seconds=4)
    with pytest.raises(ValueError, match="does not outlast one platform call"):
        Outbox(stand.db, settings, lease=timedelta(seconds=4))
    default = stand.settings.model_copy(update={"http_timeout": 20.0})
    assert lease_for(default) == timedelta(seconds=60) > request_cap(default)
    slow = stand.settings.model_copy(update={"http_timeout": 45.0})
    assert lease_for(slow) == timedelta(seconds=135)
