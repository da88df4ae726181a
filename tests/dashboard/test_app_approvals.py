"""The approval queue (managers, Inbox) and the needs_approval toggle (admins, Settings)
through Streamlit's AppTest: approve, edit then approve, reject, each audited; the callbacks
act only for a fresh session of an allowed role; why an item was routed is shown."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from storage.models import AuditEntry, Mention, MentionRouting, Reply, RuleRun, User, utcnow
from tests.dashboard.seed import TOP_REF
from tests.dashboard.test_app import goto, login, texts

RULE_TEXT = "Thanks for telling us, we are on it."


def held(store: Any, n: int = 1) -> list[int]:
    """`n` rule replies to the top mention, held for approval."""
    external_id = TOP_REF.split(":", 1)[1]
    with store.write() as session:
        mention = session.execute(select(Mention).where(
            Mention.external_id == external_id)).scalar_one()
        rows = [Reply(mention_pk=mention.id, kind="public", text=f"{RULE_TEXT} {i}",
                      state="pending_approval", idempotency_key=f"rule:{mention.id}:r{i}:public",
                      agent="rule:thank", target_id=external_id, attempts=0)
                for i in range(n)]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


def reply(store: Any, reply_id: int) -> Reply:
    with store.session() as session:
        row = session.get(Reply, reply_id)
        assert row is not None
        session.expunge(row)
        return row


def actions(store: Any) -> list[tuple[str, str]]:
    with store.session() as session:
        return [(a.actor, a.action) for a in session.execute(
            select(AuditEntry).order_by(AuditEntry.id)).scalars()]


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    return at


def test_manager_approves_edits_and_rejects(store: Any) -> None:
    first, second, third = held(store, 3)
    at = login("manager1")
    assert any(e.label == "Approval queue (3)" for e in at.expander)
    assert at.text_area(key=f"cw_approval_text_{first}").value == f"{RULE_TEXT} 0"

    click(at, f"cw_approve_{first}")
    assert (reply(store, first).state, reply(store, first).approved_by) == ("queued",
                                                                             "manager1")
    assert any("approved; it is sent by the responder" in s.value.replace("\\", "")
               for s in at.success), [s.value for s in at.success]

    at.text_area(key=f"cw_approval_text_{second}").input("Edited by a person.").run()
    click(at, f"cw_approve_edited_{second}")
    assert (reply(store, second).state, reply(store, second).text) == ("queued",
                                                                        "Edited by a person.")

    at.text_input(key=f"cw_approval_reason_{third}").input("too chirpy").run()
    click(at, f"cw_reject_{third}")
    rejected = reply(store, third)
    assert rejected.state == "failed"
    assert rejected.last_error == "rejected by manager1: too chirpy"
    assert any(e.label == "Approval queue (0)" for e in at.expander)
    # Under the reply in the conversation: why it will never go out.
    at.selectbox(key="cw_open").set_value(TOP_REF).run()
    assert "Not sent: rejected by manager1: too chirpy" in [
        w.value.replace("\\", "").replace("\u200b", "") for w in at.warning]
    assert [a for a in actions(store) if a[0] == "manager1" and a[1] != "login"] == [
        ("manager1", "reply_approved"), ("manager1", "reply_edited"),
        ("manager1", "reply_approved"), ("manager1", "reply_rejected")]


def test_an_edit_over_the_platform_limit_is_refused_in_words(store: Any) -> None:
    [reply_id] = held(store)
    at = login("manager1")
    at.text_area(key=f"cw_approval_text_{reply_id}").input("x" * 281).run()
    click(at, f"cw_approve_edited_{reply_id}")
    assert any("allows 280" in e.value for e in at.error), [e.value for e in at.error]
    assert reply(store, reply_id).state == "pending_approval"


def test_agents_have_no_queue_and_a_demoted_manager_cannot_decide(store: Any) -> None:
    [reply_id] = held(store)
    agent = login("agent1")
    assert not any(e.label.startswith("Approval queue") for e in agent.expander)
    at = login("manager1")
    # Locked out while the page is open: still a manager in the users table (which the
    # approval itself would accept), but the callback's session check refuses first.
    with store.write() as session:
        user = session.execute(select(User).where(User.username == "manager1")).scalar_one()
        user.locked_until = utcnow() + timedelta(hours=1)
    at.button(key=f"cw_approve_{reply_id}").click().run()
    assert reply(store, reply_id).state == "pending_approval"
    assert ("manager1", "reply_approved") not in actions(store)
    with store.write() as session:  # unlocked but demoted: refused as well
        user = session.execute(select(User).where(User.username == "manager1")).scalar_one()
        user.locked_until, user.role = None, "agent"
    at = login("manager1")
    assert not any(e.label.startswith("Approval queue") for e in at.expander)


def test_admin_marks_a_user_needs_approval(store: Any) -> None:
    at = goto(login("admin1"), "Settings")
    at.selectbox(key="cw_user_pick").set_value("agent1").run()
    click(at, "cw_toggle_approval")
    with store.session() as session:
        agent = session.execute(select(User).where(User.username == "agent1")).scalar_one()
        assert agent.needs_approval
    assert ("admin1", "user_needs_approval") in actions(store)
    assert at.button(key="cw_toggle_approval").label == "Send without approval"
    # The agent's next reply waits for a manager.
    agent_at = login("agent1")
    key = next(t for t in agent_at.text_area if t.label == "Reply").key
    agent_at.text_area(key=key).input("We are looking into it").run()
    next(b for b in agent_at.button if b.label == "Queue reply").click().run()
    with store.session() as session:
        states = list(session.execute(select(Reply.state, Reply.agent)).all())
    assert states == [("pending_approval", "agent1")]
    # A session whose admin was demoted meanwhile changes nothing.
    with store.write() as session:
        admin = session.execute(select(User).where(User.username == "admin1")).scalar_one()
        admin.role = "analyst"
    at.button(key="cw_toggle_approval").click().run()
    with store.session() as session:
        agent = session.execute(select(User).where(User.username == "agent1")).scalar_one()
        assert agent.needs_approval


def test_the_inbox_says_why_an_item_was_routed(store: Any) -> None:
    external_id = TOP_REF.split(":", 1)[1]
    with store.write() as session:
        mention = session.execute(select(Mention).where(
            Mention.external_id == external_id)).scalar_one()
        session.add(MentionRouting(mention_pk=mention.id, evaluated_at=utcnow(),
                                   tags=["bags"], priority="high"))
        session.add(RuleRun(mention_pk=mention.id, rule="bags to maria",
                            actions=["assign maria", "tag bags"]))
    at = login("agent1")
    at.selectbox(key="cw_open").set_value(TOP_REF).run()
    shown = texts(at)
    assert "routed by rule 'bags to maria': assign maria, tag bags" in shown
    assert "priority high · tags bags" in shown


def _said_after(at: AppTest, label: str, button: str, text: str) -> list[str]:
    """Write `text` in the box labelled `label`, click its `button` (key prefix), and return
    the success lines shown."""
    key = next(t for t in at.text_area if t.label == label).key
    at.text_area(key=key).input(text).run()
    click(at, button + key.rsplit("_", 1)[1])
    return [s.value.replace("\\", "") for s in at.success]


def test_an_agent_whose_replies_need_approval_is_told_they_are_held(store: Any) -> None:
    """A reply and a move to private by a user marked `needs_approval` say they wait for a
    manager, not that the responder sends them; another agent's still says it is sent."""
    from storage.users import set_needs_approval

    with store.write() as session:
        set_needs_approval(session, "agent1", True, actor="admin1")
    at = login("agent1")
    assert _said_after(at, "Reply", "cw_send_", "We are on it 🙏") == [
        "Reply queued for a manager's approval; it is sent once approved."]
    assert _said_after(at, "Private message", "cw_move_",
                       "Could you send your booking code?") == [
        "Private message queued with a public note for a manager's approval; it is sent "
        "once approved."]
    with store.session() as session:
        states = set(session.execute(select(Reply.state)).scalars())
    assert states == {"pending_approval"}
    assert _said_after(login("agent2"), "Reply", "cw_send_", "On it") == [
        "Reply queued; it is sent by the responder."]
