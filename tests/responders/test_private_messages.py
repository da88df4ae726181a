"""`reply` on a private message: a message in its conversation (`ReplyKind.MESSAGE`), refused
before queueing when the messaging window is closed, sent with the window's messaging type,
exactly once through lost answers and restarts, answering every open item before it."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from carewatch.cli import main
from carewatch.domain import Platform, conversation_key
from carewatch.settings import Settings, load_settings
from responders.outbox import run_due
from responders.queue import message_window, queue_move_private, queue_reply
from sandbox.world import FB_PAGE_ID, IG_USER_ID
from storage.models import AuditEntry, Mention, Reply, utcnow

from .conftest import BRAND_X_ID, Stand
from .test_dm_reconcile import _respond_once
from .test_rules_cli import _refused

HOUR = 3600.0
DAY = 24 * HOUR
X_MESSAGE_POST = r"^/2/dm_conversations/\d+-\d+/messages$"
GRAPH_SEND = rf"^/v[\d.]+/{FB_PAGE_ID}/messages$"


def _replies(stand: Stand) -> list[Reply]:
    with stand.db.session() as session:
        rows = list(session.execute(select(Reply).order_by(Reply.id)).scalars())
        session.expunge_all()
    return rows


def _mention(stand: Stand, platform: str, external_id: str) -> Mention:
    with stand.db.session() as session:
        row = session.execute(select(Mention).where(
            Mention.platform == platform, Mention.external_id == external_id)).scalar_one()
        session.expunge(row)
    return row


def _audits(stand: Stand, action: str) -> list[AuditEntry]:
    with stand.db.session() as session:
        rows = list(session.execute(select(AuditEntry).where(
            AuditEntry.action == action).order_by(AuditEntry.id)).scalars())
        session.expunge_all()
    return rows


def _add_source(stand: Stand, platform: str, kind: str, **keys: str) -> Settings:
    """Add a private-conversation source with `human_agent = true` to carewatch.toml (which
    every CLI call reads) and to the stand's settings."""
    config = Path(stand.env["CAREWATCH_CONFIG"])
    lines = [f'{key} = "{value}"' for key, value in keys.items()]
    config.write_text(config.read_text() + "\n".join(
        ["", "[[sources]]", f'platform = "{platform}"', f'kind = "{kind}"', *lines,
         "human_agent = true", ""]))
    stand.settings = load_settings(config)
    return stand.settings


def _sent_once(stand: Stand, ref: str, text: str, sent_kind: str) -> Reply:
    """Queue `text` as the answer to `ref` and run the responder twice: one message reaches
    the platform, and the reply records its id."""
    queue_reply(stand.db, stand.settings, ref, text, agent="alice")
    summary = run_due(stand.db, stand.settings)
    assert summary.sent == 1, [o.line() for o in summary.outcomes]
    assert run_due(stand.db, stand.settings).outcomes == []
    [sent] = stand.ctl.sent(kind=sent_kind)
    [reply] = _replies(stand)
    assert reply.platform_id == sent["id"]
    return reply


def _count(stand: Stand) -> int:
    with stand.db.session() as session:
        return int(session.execute(select(func.count(Reply.id))).scalar_one())


# ------------------------------------------------------------------ before queueing
def test_window_rules_before_queueing(any_stand: Stand,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    stand = any_stand
    fresh = stand.message(Platform.FACEBOOK, "Refund please", customer="dora", ago=2 * HOUR)
    late = stand.message(Platform.FACEBOOK, "Hello?", customer="eli", ago=30 * HOUR)
    stale = stand.message(Platform.FACEBOOK, "Anyone?", customer="fay", ago=8 * DAY)

    # Inside 24 h: queued as a message in the conversation, to the customer.
    assert main(["reply", f"facebook:{fresh.external_id}", "--text", "Sorry, checking"]) == 0
    [queued] = _replies(stand)
    assert (queued.kind, queued.target_id) == ("message", fresh.author.external_id)
    window = message_window(stand.db, stand.settings, f"facebook:{fresh.external_id}")
    assert window is not None
    assert window.open
    assert window.messaging_type == "RESPONSE"

    # 24 h - 7 d without human_agent: refused with the window's reason, nothing queued.
    _refused(["reply", f"facebook:{late.external_id}", "--text", "Sorry"], capsys,
             "set human_agent = true on the source")
    # ... with human_agent on the page's Messenger source: allowed, tagged.
    settings = _add_source(stand, "facebook", "messenger", page_id=FB_PAGE_ID)
    tagged = message_window(stand.db, settings, f"facebook:{late.external_id}")
    assert tagged is not None
    assert (tagged.messaging_type, tagged.tag) == ("MESSAGE_TAG", "HUMAN_AGENT")
    assert main(["reply", f"facebook:{late.external_id}", "--text", "Sorry"]) == 0
    # Older than 7 days: refused even for a human agent.
    _refused(["reply", f"facebook:{stale.external_id}", "--text", "Sorry"], capsys,
             "more than 7 days old")
    # The message limit, and no move to private from a private message.
    _refused(["reply", f"facebook:{fresh.external_id}", "--text", "x" * 2001], capsys,
             "a Facebook private message allows 2000")
    _refused(["move-private", f"facebook:{fresh.external_id}", "--text", "DM"], capsys,
             "is a private message already")
    assert _count(stand) == 2
    # A public mention has no window.
    tweet = stand.tweet()
    assert message_window(stand.db, stand.settings, f"x:{tweet.external_id}") is None


def test_human_agent_comes_from_the_conversation_source(stand: Stand) -> None:
    """Instagram Direct: the `direct` source of the account in the conversation key says
    whether a person may answer with the tag, and which page the message goes through."""
    late = stand.message(Platform.INSTAGRAM, "Still waiting", customer="gil", ago=30 * HOUR)
    ref = f"instagram:{late.external_id}"
    other_account = _add_source(stand, "instagram", "direct",
                                ig_user_id="17841499999999999", page_id="100000000000099")
    window = message_window(stand.db, other_account, ref)
    assert window is not None
    assert not window.open
    ours = _add_source(stand, "instagram", "direct", ig_user_id=IG_USER_ID, page_id=FB_PAGE_ID)
    window = message_window(stand.db, ours, ref)
    assert window is not None
    assert window.tag == "HUMAN_AGENT"
    # Sent through the page linked to this account, tagged.
    queue_reply(stand.db, ours, ref, "Sorry for the wait", agent="alice")
    assert run_due(stand.db, ours).sent == 1
    [sent] = stand.ctl.sent(kind="message")
    assert (sent["messaging_type"], sent["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    [post] = stand.ctl.requests(path=r"/messages$", method="POST")
    assert post["path"].endswith(f"/{FB_PAGE_ID}/messages")


# --------------------------------------------------------------------- X DMs
def test_reply_inside_an_x_dm_conversation(any_stand: Stand,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    stand = any_stand
    first = stand.dm("my bag is lost", username="hana", ago=3 * DAY)
    second = stand.dm("any news?", username="hana", ago=60)
    conversation = conversation_key(BRAND_X_ID, first.author.external_id)
    assert first.thread_id == second.thread_id == conversation
    # X DMs have no window: three days later the brand may still answer.
    assert main(["reply", f"x:{second.external_id}", "--text", "Found it, on its way"]) == 0
    assert main(["respond", "--once"]) == 0

    [dm] = stand.ctl.sent(kind="x_dm")
    assert dm["dm_conversation_id"] == conversation
    [post] = stand.ctl.requests(path=X_MESSAGE_POST, method="POST")
    assert post["path"] == f"/2/dm_conversations/{conversation}/messages"
    [reply] = _replies(stand)
    assert (reply.kind, reply.state, reply.platform_id) == ("message", "sent", dm["id"])
    # Both waiting messages were answered by it: replied, first response counted.
    for item in (first, second):
        row = _mention(stand, "x", item.external_id)
        assert row.status == "replied"
        assert row.first_response_at == reply.sent_at
        assert row.assignee == "alice"
    changed = {a.target for a in _audits(stand, "status_changed")}
    assert changed == {f"x:{first.external_id}", f"x:{second.external_id}"}
    assert [a.target for a in _audits(stand, "reply_sent")] == [f"x:{second.external_id}"]


def test_x_message_exactly_once_through_a_lost_answer(any_stand: Stand) -> None:
    stand = any_stand
    dm = stand.dm("where is my refund", username="ivo")
    stand.ctl.add_fault(X_MESSAGE_POST, "drop_response", method="POST")
    reply = _sent_once(stand, f"x:{dm.external_id}", "Refund sent today", "x_dm")
    assert "found in the DM conversation" in (reply.last_error or "")
    assert len(stand.ctl.requests(path=X_MESSAGE_POST, method="POST")) == 1
    lookups = stand.ctl.requests(path=rf"^/2/dm_conversations/{dm.thread_id}/dm_events$")
    assert len(lookups) == 1


@pytest.mark.slow
def test_x_message_exactly_once_after_a_crash_and_restart(stand: Stand) -> None:
    dm = stand.dm("still nothing", username="jon")
    queue_reply(stand.db, stand.settings, f"x:{dm.external_id}", "On it", agent="alice")
    proc = _respond_once(stand.env, crash=True)
    assert proc.returncode == -9, proc.stderr
    summary = run_due(stand.db, stand.settings, now=utcnow() + timedelta(minutes=10))
    assert summary.sent == 1, [o.line() for o in summary.outcomes]
    [sent] = stand.ctl.sent(kind="x_dm")
    assert _replies(stand)[0].platform_id == sent["id"]
    assert _mention(stand, "x", dm.external_id).status == "replied"


def test_move_private_records_the_conversation(any_stand: Stand) -> None:
    stand = any_stand
    tweet = stand.tweet(username="kim")
    comment = stand.fb_comment(name="Lou Reed")
    queue_move_private(stand.db, stand.settings, f"x:{tweet.external_id}", "DM us",
                       agent="alice")
    queue_move_private(stand.db, stand.settings, f"facebook:{comment.external_id}",
                       "Sent you a message", agent="alice")
    summary = run_due(stand.db, stand.settings)
    assert summary.sent == 2, [o.line() for o in summary.outcomes]
    x_reply, fb_reply = _replies(stand)
    assert x_reply.conversation_ref == conversation_key(BRAND_X_ID, tweet.author.external_id)
    assert x_reply.conversation_ref == stand.ctl.sent(kind="x_dm")[0]["dm_conversation_id"]
    assert fb_reply.conversation_ref == conversation_key(FB_PAGE_ID,
                                                         comment.author.external_id)
    [sent] = [a for a in _audits(stand, "reply_sent")
              if a.target == f"facebook:{comment.external_id}"]
    assert sent.details["conversation_ref"] == fb_reply.conversation_ref


def test_private_reply_confirmed_by_10900_keeps_its_conversation(stand: Stand) -> None:
    """The answer to a private reply is lost; the resend gets 10900 ("already replied"),
    and the reply still records the conversation it opened."""
    comment = stand.fb_comment(name="Rae Sun")
    stand.ctl.add_fault(GRAPH_SEND, "drop_response", method="POST")
    queue_move_private(stand.db, stand.settings, f"facebook:{comment.external_id}",
                       "Sent you a message", agent="alice")
    summary = run_due(stand.db, stand.settings)
    assert summary.sent == 1, [o.line() for o in summary.outcomes]
    [reply] = _replies(stand)
    assert "10900" in (reply.last_error or "")
    assert reply.conversation_ref == conversation_key(FB_PAGE_ID, comment.author.external_id)
    assert len(stand.ctl.sent(kind="private_reply")) == 1


# ---------------------------------------------------------- Messenger / Instagram
def test_messenger_message_with_the_window_of_the_moment(stand: Stand) -> None:
    fresh = stand.message(Platform.FACEBOOK, "Refund?", customer="max", ago=HOUR)
    late = stand.message(Platform.FACEBOOK, "Hello??", customer="ned", ago=30 * HOUR)
    settings = _add_source(stand, "facebook", "messenger", page_id=FB_PAGE_ID)
    queue_reply(stand.db, settings, f"facebook:{fresh.external_id}", "Refunded", agent="alice")
    queue_reply(stand.db, settings, f"facebook:{late.external_id}", "Sorry for the wait",
                agent="alice")
    summary = run_due(stand.db, settings)
    assert summary.sent == 2, [o.line() for o in summary.outcomes]
    sent = {s["recipient_id"]: s for s in stand.ctl.sent(kind="message")}
    assert sent[fresh.author.external_id]["messaging_type"] == "RESPONSE"
    assert sent[late.author.external_id]["messaging_type"] == "MESSAGE_TAG"
    assert sent[late.author.external_id]["tag"] == "HUMAN_AGENT"
    assert {r.platform_id for r in _replies(stand)} == {s["id"] for s in sent.values()}
    for item in (fresh, late):
        row = _mention(stand, "facebook", item.external_id)
        assert row.status == "replied"
        assert row.first_response_at is not None


def test_window_that_closed_while_queued_fails_unsent(stand: Stand) -> None:
    msg = stand.message(Platform.FACEBOOK, "Refund?", customer="ona", ago=HOUR)
    queue_reply(stand.db, stand.settings, f"facebook:{msg.external_id}", "Refunded",
                agent="alice")
    summary = run_due(stand.db, stand.settings, now=utcnow() + timedelta(hours=24))
    assert summary.failed == 1
    [reply] = _replies(stand)
    assert reply.state == "failed"
    assert "messaging window closed" in (reply.last_error or "")
    assert stand.ctl.requests(path=GRAPH_SEND, method="POST") == []
    assert _mention(stand, "facebook", msg.external_id).status == "new"


def test_platform_window_refusal_is_explained(stand: Stand) -> None:
    """Our copy of the conversation says the customer wrote just now; Messenger knows better
    (their message is two days old there): its code 10 / 2018278 fails the message."""
    msg = stand.message(Platform.FACEBOOK, "Refund?", customer="pia", ago=2 * DAY)
    with stand.db.write() as session:
        row = session.execute(select(Mention).where(
            Mention.external_id == msg.external_id)).scalar_one()
        row.created_at = utcnow()
    queue_reply(stand.db, stand.settings, f"facebook:{msg.external_id}", "Hi", agent="alice")
    summary = run_due(stand.db, stand.settings)
    assert summary.failed == 1, [o.line() for o in summary.outcomes]
    assert "messaging window of this conversation is closed" in (_replies(stand)[0].last_error
                                                                 or "")
    assert stand.ctl.sent(kind="message") == []


@pytest.mark.parametrize(("platform", "keep_conversation_id"),
                         [(Platform.FACEBOOK, True), (Platform.INSTAGRAM, False)])
def test_graph_message_exactly_once_through_a_lost_answer(
        any_stand: Stand, platform: Platform, keep_conversation_id: bool) -> None:
    """The answer is lost after Meta stored the message: the conversation is read back (by
    the stored conversation id, or found by the customer's id) and the message is not sent
    twice."""
    stand = any_stand
    msg = stand.message(platform, "Cancelled flight", customer="quinn", ago=HOUR,
                        keep_conversation_id=keep_conversation_id)
    stand.ctl.add_fault(r"/messages$", "drop_response", method="POST")
    reply = _sent_once(stand, f"{platform.value}:{msg.external_id}",
                       "Rebooked you on the next flight", "message")
    assert "found in the conversation" in (reply.last_error or "")
    posts = [r for r in stand.ctl.requests(method="POST") if r["path"].endswith("/messages")]
    assert len(posts) == 1
    reads = Counter(r["path"].rsplit("/", 1)[-1] for r in stand.ctl.requests(method="GET"))
    assert reads["messages"] == 1
    assert reads["conversations"] == (0 if keep_conversation_id else 1)
