"""X direct messages after an uncertain attempt: looked up in the DM conversation through
tweepy (`GET /2/dm_conversations/with/:participant_id/dm_events`) before any resend, so a DM
goes out exactly once; only an app without DM read access still fails such a DM."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from responders.outbox import run_due
from responders.queue import queue_move_private
from storage.models import Mention, Reply, utcnow

from .conftest import BRAND_X_ID, Stand

REPO = Path(__file__).resolve().parents[2]
DM_POST = r"^/2/dm_conversations/with/\d+/messages$"
DM_LOOKUP = "/2/dm_conversations/with/"


def _replies(stand: Stand) -> dict[str, Reply]:
    with stand.db.session() as session:
        rows = list(session.execute(select(Reply).order_by(Reply.id)).scalars())
        session.expunge_all()
    return {r.kind: r for r in rows}


def _status(stand: Stand, external_id: str) -> str:
    with stand.db.session() as session:
        return session.execute(select(Mention.status).where(
            Mention.platform == "x", Mention.external_id == external_id)).scalar_one()


def _respond_once(env: dict[str, str], *, crash: bool) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CAREWATCH_")}
    full.update(env)
    if crash:
        full["CAREWATCH_TEST_CRASH_AFTER_SEND"] = "1"
    return subprocess.run(
        [sys.executable, "-c", "from carewatch.cli import run; run()", "respond", "--once"],
        env=full, cwd=REPO, capture_output=True, text=True, timeout=60)


def test_lost_dm_response_is_found_not_resent(stand: Stand) -> None:
    """The sandbox stores the DM and answers 503: the next look finds it, no second DM."""
    tweet = stand.tweet(username="hana")
    customer = tweet.author.external_id
    # The customer's own DM with the same words is theirs, not an attempt of ours.
    stand.ctl.add_dm("Please DM us your booking ref.", customer)
    stand.ctl.add_fault(DM_POST, "drop_response", method="POST")
    queue_move_private(stand.db, stand.settings, f"x:{tweet.external_id}",
                       "Please DM us your booking ref.", public_note="We sent you a DM.",
                       agent="alice")
    first = run_due(stand.db, stand.settings)
    second = run_due(stand.db, stand.settings)
    assert first.sent == 2, [o.line() for o in first.outcomes]
    assert second.outcomes == []

    dms = stand.ctl.sent(kind="x_dm")
    assert len(dms) == 1
    assert dms[0]["participant_id"] == customer
    assert Counter(s["kind"] for s in stand.ctl.sent()) == {"x_dm": 1, "x_reply": 1}
    replies = _replies(stand)
    dm = replies["private"]
    assert dm.state == "sent"
    assert dm.platform_id == dms[0]["id"]
    assert dm.attempts == 1  # one POST, then the lookup: never a second POST
    assert "found in the DM conversation" in (dm.last_error or "")
    assert replies["public_note"].state == "sent"
    assert _status(stand, tweet.external_id) == "private"
    posts = stand.ctl.requests(path=DM_POST, method="POST")
    lookups = stand.ctl.requests(path=DM_LOOKUP + r"\d+/dm_events$", method="GET")
    assert len(posts) == 1
    assert posts[0]["fault"] == "drop_response"
    assert len(lookups) == 1
    assert lookups[0]["query"]["event_types"] == "MessageCreate"
    assert "sender_id" in lookups[0]["query"]["dm_event.fields"]


def test_old_dm_with_same_text_is_not_taken_for_this_one(stand: Stand) -> None:
    """A 503 that did not write: the brand's identical DM from before the reply was queued
    is not this reply's, so the DM is sent (once) after looking."""
    tweet = stand.tweet(username="ivan")
    customer = tweet.author.external_id
    old = stand.ctl.add_dm("Could you DM us the booking ref?", BRAND_X_ID, to=customer,
                           ago=3600)
    stand.ctl.add_fault(DM_POST, "503", method="POST")
    queue_move_private(stand.db, stand.settings, f"x:{tweet.external_id}",
                       "Could you DM us the booking ref?", agent="alice")
    summary = run_due(stand.db, stand.settings)
    assert summary.sent == 1, [o.line() for o in summary.outcomes]
    assert run_due(stand.db, stand.settings).outcomes == []
    dms = stand.ctl.sent(kind="x_dm")
    assert len(dms) == 1
    dm = _replies(stand)["private"]
    assert dm.platform_id == dms[0]["id"] != old["id"]
    assert dm.attempts == 2
    methods = [r["method"] for r in stand.ctl.requests(path=DM_LOOKUP)]
    assert methods == ["POST", "GET", "POST"]  # looked before the resend


@pytest.mark.slow
def test_kill_9_during_dm_is_reconciled_not_repeated(stand: Stand) -> None:
    tweet = stand.tweet(username="gus")
    queue_move_private(stand.db, stand.settings, f"x:{tweet.external_id}", "DM us please",
                       public_note="Sent you a DM", agent="alice")
    proc = _respond_once(stand.env, crash=True)
    assert proc.returncode == -9, proc.stderr
    summary = run_due(stand.db, stand.settings, now=utcnow() + timedelta(minutes=10))
    assert summary.sent == 2, [o.line() for o in summary.outcomes]
    assert Counter(s["kind"] for s in stand.ctl.sent()) == {"x_dm": 1, "x_reply": 1}
    dm = _replies(stand)["private"]
    assert dm.platform_id == stand.ctl.sent(kind="x_dm")[0]["id"]
    assert dm.attempts == 1
    assert _respond_once(stand.env, crash=False).returncode == 0
    assert len(stand.ctl.sent(kind="x_dm")) == 1


@pytest.mark.slow
def test_kill_9_without_dm_read_access_fails_rather_than_repeats(stand: Stand) -> None:
    """The residual case: X refuses the lookup (no DM read access), so it cannot be checked."""
    stand.ctl.set_dm_lookup(False)
    tweet = stand.tweet(username="gus")
    queue_move_private(stand.db, stand.settings, f"x:{tweet.external_id}", "DM us please",
                       public_note="Sent you a DM", agent="alice")
    assert _respond_once(stand.env, crash=True).returncode == -9
    summary = run_due(stand.db, stand.settings, now=utcnow() + timedelta(minutes=10))
    lines = [o.line() for o in summary.outcomes]
    assert summary.failed == 2, lines
    assert "no way to check whether the direct message arrived" in lines[0]
    assert "@gus" in lines[0]
    assert "private message it announces failed" in lines[1]
    assert Counter(s["kind"] for s in stand.ctl.sent()) == {"x_dm": 1}
