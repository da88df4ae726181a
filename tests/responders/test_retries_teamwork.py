"""Transient and permanent failures, and teamwork: routing, canned replies, approvals."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from carewatch.cli import main
from carewatch.settings import load_settings
from responders import teamwork
from responders.outbox import HeldBack, Outbox, run_due
from responders.queue import queue_move_private, queue_reply
from responders.rules import RuleViolation
from storage.models import AuditEntry, Mention, Reply, User, utcnow

from .conftest import Stand


def _reply(stand: Stand, reply_id: int) -> Reply:
    with stand.db.session() as session:
        row = session.get(Reply, reply_id)
        assert row is not None
        session.expunge(row)
        return row


def test_rate_limit_is_waited_out_without_using_an_attempt(stand: Stand) -> None:
    tweet = stand.tweet()
    [rid] = queue_reply(stand.db, stand.settings, f"x:{tweet.external_id}", "hi",
                        agent="alice")
    stand.ctl.add_fault("/2/tweets", "429", method="POST", reset_after=1)
    summary = run_due(stand.db, stand.settings)
    assert summary.sent == 1
    row = _reply(stand, rid)
    assert row.state == "sent"
    assert row.attempts == 1
    assert len(stand.ctl.sent()) == 1


def test_transient_errors_back_off_then_fail_with_reason(stand: Stand) -> None:
    fb = stand.fb_comment()
    [rid] = queue_reply(stand.db, stand.settings, f"facebook:{fb.external_id}", "hi",
                        agent="alice")
    stand.ctl.add_fault(r"_\d+/comments$", "503", method="POST", count=-1)
    settings = stand.settings.model_copy(update={"max_retries": 4, "max_backoff_seconds": 2})
    first = Outbox(stand.db, settings, sleep=lambda _s: None).run_due()
    assert first.retrying == 1
    assert first.sent == 0
    row = _reply(stand, rid)
    assert row.state == "queued"
    assert row.attempts == 3
    assert row.next_attempt_at is not None
    assert "transient" in (row.last_error or "")
    # Not due yet: the loop is never blocked by it.
    assert Outbox(stand.db, settings, sleep=lambda _s: None).run_due().outcomes == []
    later = Outbox(stand.db, settings, sleep=lambda _s: None,
                   clock=lambda: utcnow() + timedelta(minutes=5)).run_due()
    assert later.failed == 1
    assert "gave up after 4 attempts" in later.outcomes[0].message
    assert stand.ctl.sent() == []


def test_revoked_token_fails_with_next_step(stand: Stand) -> None:
    tweet = stand.tweet()
    queue_reply(stand.db, stand.settings, f"x:{tweet.external_id}", "hi", agent="alice")
    stand.ctl.revoke("x")
    summary = run_due(stand.db, stand.settings)
    assert summary.failed == 1
    assert "revoked" in summary.outcomes[0].message
    assert "CAREWATCH_X_" in summary.outcomes[0].message


def test_missing_credentials_leave_replies_queued_and_exit_2(
        any_stand: Stand, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A respond process without a platform's token: a configuration mistake (exit 2, the
    variable named), not a failed reply; the replies go out once the token is set. They
    used to be failed for good, Facebook's as "Facebook call failed: MissingCredentials"."""
    stand = any_stand
    comment, tweet = stand.fb_comment(), stand.tweet()
    assert main(["reply", f"facebook:{comment.external_id}", "--text", "On it!"]) == 0
    assert main(["reply", f"x:{tweet.external_id}", "--text", "Sorry Jane"]) == 0
    for name in ("CAREWATCH_FB_PAGE_TOKEN", "CAREWATCH_X_CONSUMER_KEY"):
        monkeypatch.delenv(name)
    capsys.readouterr()
    assert main(["respond", "--once"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("carewatch: error: 2 replies left in the queue: ")
    assert "CAREWATCH_" in err[-1]
    assert any("set CAREWATCH_FB_PAGE_TOKEN" in line for line in err)
    assert {r.state for r in (_reply(stand, 1), _reply(stand, 2))} == {"queued"}
    assert (_reply(stand, 1).attempts, _reply(stand, 2).attempts) == (0, 0)
    assert stand.ctl.sent() == []

    monkeypatch.setenv("CAREWATCH_FB_PAGE_TOKEN", "page-token")
    monkeypatch.setenv("CAREWATCH_X_CONSUMER_KEY", "ck")
    # The next run with the tokens set sends them at once (they used to wait a minute, so
    # this run sent nothing and said "0 sent").
    capsys.readouterr()
    assert main(["respond", "--once"]) == 0
    assert "respond: 2 sent" in capsys.readouterr().err
    assert sorted(s["kind"] for s in stand.ctl.sent()) == ["facebook_comment", "x_reply"]


def test_a_long_running_responder_holds_off_blocked_replies(stand: Stand,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """The reply stays due for everyone, but the loop that lacks the token does not retry
    it every round until its hold expires."""
    tweet = stand.tweet()
    assert main(["reply", f"x:{tweet.external_id}", "--text", "Sorry Jane"]) == 0
    monkeypatch.delenv("CAREWATCH_X_CONSUMER_KEY")
    ticks = [0.0]
    held_back = HeldBack(seconds=60, clock=lambda: ticks[0])
    settings = load_settings()
    assert run_due(stand.db, settings, held_back=held_back).blocked == 1
    assert run_due(stand.db, settings, held_back=held_back).outcomes == []
    ticks[0] = 61.0
    assert run_due(stand.db, settings, held_back=held_back).blocked == 1
    assert _reply(stand, 1).state == "queued"
    monkeypatch.setenv("CAREWATCH_X_CONSUMER_KEY", "ck")
    assert run_due(stand.db, load_settings()).sent == 1  # another process, token set


def test_window_expired_after_queueing(stand: Stand) -> None:
    fb = stand.fb_comment(ago=6.9 * 86400)
    queue_move_private(stand.db, stand.settings, f"facebook:{fb.external_id}", "hi",
                       agent="alice")
    stand.ctl.advance_clock(4 * 3600)
    summary = run_due(stand.db, stand.settings)
    assert summary.failed == 1
    assert "window for a private reply has passed" in summary.outcomes[0].message


def test_returning_customer_routed_to_last_agent(stand: Stand) -> None:
    with stand.db.write() as session:
        session.add(User(username="alice", role="agent", password_hash="x"))
    first = stand.tweet("@acmeair lost bag", username="ivy")
    queue_reply(stand.db, stand.settings, f"x:{first.external_id}", "On it", agent="alice")
    assert run_due(stand.db, stand.settings).sent == 1
    second = stand.tweet("@acmeair still no bag", username="ivy")
    other = stand.tweet("@acmeair hello", username="jon")
    with stand.db.session() as session:
        ids = list(session.execute(select(Mention.id).where(Mention.external_id.in_(
            [second.external_id, other.external_id]))).scalars())
    routed = teamwork.route_new_mentions(stand.db, ids)
    assert list(routed.values()) == ["alice"]
    holder = teamwork.holder(stand.db, f"x:{second.external_id}")
    assert holder.assignee == "alice"
    assert holder.status == "assigned"
    assert holder.notice("bob") == "alice is on this mention"
    assert teamwork.holder(stand.db, f"x:{other.external_id}").assignee is None


def test_canned_replies_with_placeholders(stand: Stand,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert teamwork.seed_canned_replies(stand.db, stand.settings) == 1
    assert teamwork.seed_canned_replies(stand.db, stand.settings) == 0
    tweet = stand.tweet(username="kim", name="Kim Park")
    ref = f"x:{tweet.external_id}"
    text = teamwork.render_canned(stand.db, "sorry", ref, "alice")
    assert text.startswith("Hi Kim, alice here.")
    assert "Case CW-" in text
    with pytest.raises(RuleViolation, match="unknown placeholder"):
        teamwork.save_canned(stand.db, "bad", "Hi {name}", "alice")
    assert main(["reply", ref, "--canned", "sorry"]) == 0
    assert main(["respond", "--once"]) == 0
    assert stand.ctl.sent()[0]["text"] == text
    assert main(["canned", "add", "thanks", "--text", "Thanks {handle}!"]) == 0
    capsys.readouterr()
    assert main(["canned", "list"]) == 0
    assert "thanks\tThanks {handle}!" in capsys.readouterr().out


def test_replies_needing_approval_wait_for_a_manager(stand: Stand) -> None:
    with stand.db.write() as session:
        session.add(User(username="newbie", role="agent", password_hash="x",
                         needs_approval=True))
        session.add(User(username="maria", role="manager", password_hash="x"))
    tweet = stand.tweet()
    ids = queue_move_private(stand.db, stand.settings, f"x:{tweet.external_id}", "DM",
                             public_note="see DM", agent="newbie")
    assert {_reply(stand, i).state for i in ids} == {"pending_approval"}
    assert run_due(stand.db, stand.settings).outcomes == []
    with pytest.raises(RuleViolation, match="not a manager"):
        teamwork.approve(stand.db, ids[0], "newbie")
    assert teamwork.approve(stand.db, ids[1], "maria") == ids
    assert run_due(stand.db, stand.settings).sent == 2
    assert Counter(s["kind"] for s in stand.ctl.sent()) == {"x_dm": 1, "x_reply": 1}
    assert _reply(stand, ids[0]).approved_by == "maria"


def test_managers_list_and_reject_pending_replies_from_the_shell(
        stand: Stand, capsys: pytest.CaptureFixture[str]) -> None:
    with stand.db.write() as session:
        session.add(User(username="newbie", role="agent", password_hash="x",
                         needs_approval=True))
        session.add(User(username="maria", role="manager", password_hash="x"))
    ref = f"x:{stand.tweet().external_id}"
    assert main(["approvals"]) == 0
    assert "no replies waiting for approval" in capsys.readouterr().out
    ids = queue_move_private(stand.db, stand.settings, ref, "Please DM us",
                             public_note="see DM", agent="newbie")
    assert main(["approvals"]) == 0
    assert "2 replies waiting for approval" in capsys.readouterr().out
    assert main(["approvals", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in listed] == ids
    assert {(r["mention"], r["agent"]) for r in listed} == {(ref, "newbie")}
    assert listed[0]["text"] == "Please DM us"
    assert listed[0]["queued_at"].endswith("Z")
    assert main(["reject", str(ids[0]), "--as", "newbie"]) == 2
    assert "not a manager" in capsys.readouterr().err
    assert main(["reject", str(ids[1]), "--as", "maria", "--reason", "too curt"]) == 0
    assert f"rejected replies #{ids[0]}, #{ids[1]}" in capsys.readouterr().err
    assert main(["reject", str(ids[0]), "--as", "maria"]) == 2
    assert "not waiting for approval" in capsys.readouterr().err
    assert teamwork.pending_approvals(stand.db) == []
    assert run_due(stand.db, stand.settings).outcomes == []
    assert stand.ctl.sent() == []
    row = _reply(stand, ids[0])
    assert row.state == "failed"
    assert row.last_error == "rejected by maria: too curt"
    with stand.db.session() as session:
        audited = session.execute(select(AuditEntry).where(
            AuditEntry.action == "reply_rejected")).scalars().all()
        assert {(a.actor, a.details.get("reason")) for a in audited} == {("maria", "too curt")}
        assert len(audited) == 2


def test_status_transitions_are_audited(stand: Stand) -> None:
    tweet = stand.tweet()
    ref = f"x:{tweet.external_id}"
    teamwork.claim(stand.db, ref, "alice")
    with pytest.raises(RuleViolation, match="unknown status"):
        teamwork.set_status(stand.db, ref, "bogus", "alice")
    queue_reply(stand.db, stand.settings, ref, "hi", agent="alice")
    run_due(stand.db, stand.settings)
    assert teamwork.close(stand.db, ref, "alice") == "closed"
    with pytest.raises(RuleViolation, match="cannot go from closed to replied"):
        teamwork.set_status(stand.db, ref, "replied", "alice")
    with stand.db.session() as session:
        rows = session.execute(select(AuditEntry).where(AuditEntry.target == ref)
                               .order_by(AuditEntry.id)).scalars().all()
        trail = [(r.action, r.details.get("new")) for r in rows]
    assert trail == [("assigned", None), ("status_changed", "assigned"),
                     ("reply_queued", None), ("status_changed", "replied"),
                     ("reply_sent", None), ("status_changed", "closed")]


def test_unassign_through_assign_none(stand: Stand) -> None:
    tweet = stand.tweet()
    ref = f"x:{tweet.external_id}"
    assert teamwork.assign(stand.db, ref, "alice", "alice").status == "assigned"
    with pytest.raises(RuleViolation, match="assigned to alice"):
        teamwork.assign(stand.db, ref, None, "bob")
    holder = teamwork.assign(stand.db, ref, None, "alice")
    assert holder.assignee is None
    assert holder.status == "new"
