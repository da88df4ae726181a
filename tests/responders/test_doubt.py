"""What an uncertain attempt leaves on the reply (its doubt) and what each doubt makes the
responder do: any 5xx and a timeout are read back before a resend, an X DM that cannot be
read back is failed (never resent, across a SIGTERM and a restart too), a read-back refused
for good fails the reply, a resend X refuses as duplicate content is found and recorded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import event, inspect, select

from carewatch.errors import TransientError
from responders.outbox import Outbox, doubt_of, run_due
from responders.queue import queue_move_private, queue_reply
from storage import outbox as q
from storage.models import AuditEntry, Reply, utcnow

from .conftest import Stand
from .test_dm_reconcile import _respond_once
from .test_retries_teamwork import _reply

REPO = Path(__file__).resolve().parents[2]
DM_POST = r"^/2/dm_conversations/with/\d+/messages$"
TWEETS = r"^/2/tweets$"
SEARCH = "/2/tweets/search/recent"


def _audit(stand: Stand, action: str) -> list[dict]:
    with stand.db.session() as session:
        return [e.details for e in session.execute(select(AuditEntry).where(
            AuditEntry.action == action).order_by(AuditEntry.id)).scalars()]


def _one_try(stand: Stand) -> Outbox:
    """A responder that gives up after one attempt, so the doubt it leaves stays visible."""
    settings = stand.settings.model_copy(update={"max_retries": 1, "http_timeout": 0.5})
    return Outbox(stand.db, settings, sleep=lambda _s: None)


def test_doubt_of_each_uncertain_outcome() -> None:
    assert doubt_of(requests.ReadTimeout(), TransientError("late")) == "timeout"
    assert doubt_of(requests.ConnectionError(), TransientError("dropped")) == "unknown"
    assert doubt_of(ValueError("cut short"), TransientError("malformed")) == "unknown"
    for status in (500, 502, 503, 504):
        assert doubt_of(Exception(), TransientError("5xx", code=status)) == "server_error"


def test_timeout_and_5xx_are_stored_and_audited(any_stand: Stand) -> None:
    stand = any_stand
    late = stand.tweet("@acmeair late answer", username="lou")
    gateway = stand.tweet("@acmeair gateway", username="max")
    [late_id] = queue_reply(stand.db, stand.settings, f"x:{late.external_id}", "On it, Lou.",
                            agent="alice")
    [gateway_id] = queue_reply(stand.db, stand.settings, f"x:{gateway.external_id}",
                               "On it, Max.", agent="alice")
    stand.ctl.add_fault(TWEETS, "slow", method="POST", delay=1.5)
    stand.ctl.add_fault(TWEETS, "504", method="POST")
    summary = _one_try(stand).run_due()
    assert summary.failed == 2, [o.line() for o in summary.outcomes]
    assert (_reply(stand, late_id).doubt, _reply(stand, gateway_id).doubt) == (
        "timeout", "server_error")
    assert [d["doubt"] for d in _audit(stand, "reply_failed")] == ["timeout", "server_error"]
    # The doubt was right: X took the reply that timed out, after the client gave up.
    _wait_for(lambda: [s["text"] for s in stand.ctl.sent(kind="x_reply")] == ["On it, Lou."])


def test_504_is_read_back_before_the_resend(any_stand: Stand) -> None:
    """A gateway timeout may come after the write: the retry looks before it posts."""
    stand = any_stand
    tweet = stand.tweet()
    [rid] = queue_reply(stand.db, stand.settings, f"x:{tweet.external_id}", "Sorry Jane!",
                        agent="alice")
    stand.ctl.add_fault(TWEETS, "504", method="POST", count=3)
    first = Outbox(stand.db, stand.settings, sleep=lambda _s: None).run_due()
    assert first.retrying == 1
    assert "server_error" in first.outcomes[0].line()
    assert _reply(stand, rid).doubt == "server_error"
    stand.ctl.clear_requests()
    later = run_due(stand.db, stand.settings, now=utcnow() + timedelta(minutes=10))
    assert later.sent == 1
    calls = [(r["method"], r["path"]) for r in stand.ctl.requests(path="^/2/tweets")]
    assert calls == [("GET", SEARCH), ("POST", "/2/tweets")]
    row = _reply(stand, rid)
    assert row.doubt is None  # sent by this attempt, not found by reconciling
    assert len(stand.ctl.sent(kind="x_reply")) == 1


def test_a_last_attempt_taken_after_all_is_recorded_sent_not_failed(any_stand: Stand) -> None:
    """The last attempt the policy allows is answered 503 after X stored the reply (found by
    the chaos test): it is read back and recorded as sent, not failed for an agent to queue
    again."""
    stand = any_stand
    tweet = stand.tweet()
    [rid] = queue_reply(stand.db, stand.settings, f"x:{tweet.external_id}", "Sorry Jane!",
                        agent="alice")
    stand.ctl.add_fault(TWEETS, "504", method="POST", count=2)
    stand.ctl.add_fault(TWEETS, "drop_response", method="POST")
    settings = stand.settings.model_copy(update={"max_retries": 3})
    summary = Outbox(stand.db, settings, sleep=lambda _s: None).run_due()
    assert summary.sent == 1, [o.line() for o in summary.outcomes]
    row = _reply(stand, rid)
    assert (row.state, row.doubt, row.attempts) == ("sent", "server_error", 3)
    [posted] = stand.ctl.sent(kind="x_reply")
    assert row.platform_id == posted["id"]


def test_a_last_private_reply_that_cannot_be_read_back_says_where_to_look(
        stand: Stand) -> None:
    """Graph cannot read private replies back: a last allowed attempt answered 5xx after the
    write fails, saying it may have arrived and where to look (found by the chaos test)."""
    fb = stand.fb_comment(name="Bob Smith")
    [rid] = queue_move_private(stand.db, stand.settings, f"facebook:{fb.external_id}",
                               "Hi Bob, please send us your booking ref.", agent="alice")
    stand.ctl.add_fault(r"/messages$", "500", method="POST", count=2)
    stand.ctl.add_fault(r"/messages$", "drop_response", method="POST")
    settings = stand.settings.model_copy(update={"max_retries": 3})
    summary = Outbox(stand.db, settings, sleep=lambda _s: None).run_due()
    assert summary.failed == 1, [o.line() for o in summary.outcomes]
    row = _reply(stand, rid)
    assert (row.state, row.doubt) == ("failed", "server_error")
    assert "the last attempt may have arrived (server_error)" in (row.last_error or "")
    assert "look at the conversation with" in (row.last_error or "")
    assert len(stand.ctl.sent(kind="private_reply")) == 1


def test_crash_mid_attempt_leaves_unknown(stand: Stand) -> None:
    fb = stand.fb_comment()
    [rid] = queue_reply(stand.db, stand.settings, f"facebook:{fb.external_id}", "Hi Bob",
                        agent="alice")
    with stand.db.write() as session:
        claim = q.claim_next(session, lease=timedelta(seconds=1))
        assert claim is not None
        assert q.begin_attempt(session, claim, lease=timedelta(seconds=1))
    assert _reply(stand, rid).doubt == "unknown"


def test_dm_answered_503_after_writing_is_never_resent(stand: Stand) -> None:
    """503 can come after the write (the sandbox's drop_response stores the DM, then answers
    503): without DM read access the DM is failed with where to look, not sent twice."""
    stand.ctl.set_dm_lookup(False)
    tweet = stand.tweet(username="nora")
    stand.ctl.add_fault(DM_POST, "drop_response", method="POST")
    [rid] = queue_move_private(stand.db, stand.settings, f"x:{tweet.external_id}",
                               "Please DM us your booking ref.", agent="alice")
    summary = run_due(stand.db, stand.settings)
    assert summary.failed == 1
    line = summary.outcomes[0].line()
    assert "server error" in line
    assert "no way to check whether the direct message arrived" in line
    assert "@nora" in line
    assert _reply(stand, rid).doubt == "server_error"
    assert len(stand.ctl.sent(kind="x_dm")) == 1


def _respond_loop(env: dict[str, str]) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CAREWATCH_")}
    full.update(env, CAREWATCH_HTTP_TIMEOUT="1")
    return subprocess.Popen(
        [sys.executable, "-c", "from carewatch.cli import run; run()", "respond"],
        env=full, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


@pytest.mark.slow
def test_dm_timeout_then_sigterm_and_restart_sends_once(stand: Stand) -> None:
    """The DM's answer does not come within the client timeout (the platform takes it later),
    the responder is stopped with SIGTERM meanwhile and started again: X has one DM, and the
    reply is failed with where to look, because X offers no way to read DMs back."""
    stand.ctl.set_dm_lookup(False)
    tweet = stand.tweet(username="otto")
    stand.ctl.add_fault(DM_POST, "slow", method="POST", delay=2.5)
    [rid] = queue_move_private(stand.db, stand.settings, f"x:{tweet.external_id}",
                               "DM us your booking ref, Otto.", agent="alice")
    proc = _respond_loop(stand.env)
    try:
        _wait_for(lambda: _reply(stand, rid).attempts == 1)
        time.sleep(0.2)  # the DM request is in flight
        proc.send_signal(signal.SIGTERM)
        # The signal reached the process while X was still taking the DM: nothing written
        # yet, and the process still running (it finishes the call in hand, then stops).
        assert stand.ctl.sent(kind="x_dm") == []
        assert proc.poll() is None
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in err
    row = _reply(stand, rid)
    assert (row.state, row.doubt) == ("queued", "timeout")
    _wait_for(lambda: len(stand.ctl.sent(kind="x_dm")) == 1)  # the platform took it late

    _wait_for(lambda: _reply(stand, rid).next_attempt_at <= utcnow())  # type: ignore[operator]
    again = _respond_once(stand.env, crash=False)
    assert again.returncode == 1, again.stderr
    assert "did not answer in time" in again.stderr
    assert "look at the conversation with @otto" in again.stderr
    row = _reply(stand, rid)
    assert (row.state, row.doubt) == ("failed", "timeout")
    state = stand.ctl.state()  # GET /_sandbox/state: what the platform holds and took
    assert (state["sent"], state["x"]["dm_events"]) == (1, 1)
    assert len(stand.ctl.sent(kind="x_dm")) == 1
    assert len(stand.ctl.requests(path=DM_POST, method="POST")) == 1


def test_deleted_comment_during_reconciliation_fails_the_reply(any_stand: Stand) -> None:
    """Graph code 100 while reading back: the reply fails with the reason, it does not cycle."""
    stand = any_stand
    fb = stand.fb_comment()
    [rid] = queue_reply(stand.db, stand.settings, f"facebook:{fb.external_id}", "Hi Bob",
                        agent="alice")
    with stand.db.write() as session:  # a responder died mid-attempt
        claim = q.claim_next(session, lease=timedelta(seconds=1))
        assert claim is not None
        assert q.begin_attempt(session, claim, lease=timedelta(seconds=1))
    stand.ctl.delete_graph_object(fb.external_id)
    summary = run_due(stand.db, stand.settings, now=utcnow() + timedelta(minutes=2))
    assert summary.failed == 1, [o.line() for o in summary.outcomes]
    row = _reply(stand, rid)
    assert row.state == "failed"
    assert "checking whether an earlier attempt arrived failed for good" in (
        row.last_error or "")
    assert "deleted" in (row.last_error or "")
    assert row.doubt == "unknown"
    assert stand.ctl.sent() == []
    assert run_due(stand.db, stand.settings, now=utcnow() + timedelta(hours=1)).outcomes == []


def test_missing_page_during_reconciliation_fails_the_reply(stand: Stand) -> None:
    fb = stand.fb_comment()
    [rid] = queue_reply(stand.db, stand.settings, f"facebook:{fb.external_id}", "Hi Bob",
                        agent="alice")
    stand.ctl.add_fault(r"_\d+/comments$", "503", method="POST")
    no_page = stand.settings.model_copy(update={"sources": [
        s for s in stand.settings.sources if s.platform.value != "facebook"]})
    summary = Outbox(stand.db, no_page, sleep=lambda _s: None).run_due()
    assert summary.failed == 1, [o.line() for o in summary.outcomes]
    assert "no Facebook page configured" in (_reply(stand, rid).last_error or "")


def test_duplicate_content_after_an_empty_read_back_is_recorded_as_sent(
        any_stand: Stand) -> None:
    """The reply is written but its answer lost (503); the search has not caught up yet, so
    the resend is refused as duplicate content; one more look finds the tweet."""
    stand = any_stand
    tweet = stand.tweet()
    [rid] = queue_reply(stand.db, stand.settings, f"x:{tweet.external_id}", "Sorry Jane!",
                        agent="alice")
    stand.ctl.add_fault(TWEETS, "drop_response", method="POST")
    stand.ctl.add_fault(SEARCH, "empty", method="GET")
    summary = Outbox(stand.db, stand.settings, sleep=lambda _s: None).run_due()
    assert summary.sent == 1, [o.line() for o in summary.outcomes]
    [sent] = stand.ctl.sent(kind="x_reply")
    row = _reply(stand, rid)
    assert (row.state, row.platform_id, row.doubt) == ("sent", sent["id"], "server_error")
    calls = [(r["method"], r["status"]) for r in stand.ctl.requests(path="^/2/tweets")]
    assert calls == [("POST", 503), ("GET", 200), ("POST", 403), ("GET", 200)]
    [audited] = _audit(stand, "reply_sent")
    assert audited["reconciled"] is True
    assert audited["doubt"] == "server_error"


def test_duplicate_content_without_doubt_fails_unsent(stand: Stand) -> None:
    """The same words to the same tweet a second time, on purpose: X refuses it, and the
    first reply's tweet is never taken for the second's."""
    tweet = stand.tweet()
    ref = f"x:{tweet.external_id}"
    [first] = queue_reply(stand.db, stand.settings, ref, "Sorry Jane!", agent="alice")
    assert run_due(stand.db, stand.settings).sent == 1
    with stand.db.write() as session:  # a second, deliberate reply with the same text
        session.add(Reply(mention_pk=_reply(stand, first).mention_pk, kind="public",
                          text="Sorry Jane!", idempotency_key="again:public", agent="alice",
                          target_id=tweet.external_id))
    summary = run_due(stand.db, stand.settings)
    assert summary.failed == 1
    assert "duplicate" in summary.outcomes[0].message
    assert "nothing was sent" in summary.outcomes[0].message
    assert len(stand.ctl.sent(kind="x_reply")) == 1


def test_read_back_checks_only_its_candidates(any_stand: Stand) -> None:
    """Reconciliation asks the database about the ids it found (indexed), never for every
    sent id; a match recorded for another reply is skipped and this one is sent."""
    stand = any_stand
    assert "ix_replies_platform_id" in {
        i["name"] for i in inspect(stand.db.engine).get_indexes("replies")}
    fb = stand.fb_comment()
    ref = f"facebook:{fb.external_id}"
    for i in range(3):
        other = stand.fb_comment(f"Question {i}")
        queue_reply(stand.db, stand.settings, f"facebook:{other.external_id}", "Thanks!",
                    agent="alice")
    queue_reply(stand.db, stand.settings, ref, "Thanks!", agent="alice")
    assert run_due(stand.db, stand.settings).sent == 4
    with stand.db.write() as session:
        session.add(Reply(mention_pk=_reply(stand, 4).mention_pk, kind="public",
                          text="Thanks!", idempotency_key="again:public", agent="alice",
                          target_id=fb.external_id))
    stand.ctl.add_fault(r"_\d+/comments$", "503", method="POST")
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()))

    event.listen(stand.db.engine, "before_cursor_execute", record)
    try:
        summary = Outbox(stand.db, stand.settings, sleep=lambda _s: None).run_due()
    finally:
        event.remove(stand.db.engine, "before_cursor_execute", record)
    assert summary.sent == 1, [o.line() for o in summary.outcomes]
    comments = [s for s in stand.ctl.sent(kind="facebook_comment")
                if s["target_id"] == fb.external_id]
    assert len(comments) == 2
    lookups = [s for s in statements if s.startswith("SELECT replies.platform_id ")]
    assert lookups
    assert all("replies.platform_id IN " in s for s in lookups), lookups
    assert Counter(s["kind"] for s in stand.ctl.sent()) == {"facebook_comment": 5}
