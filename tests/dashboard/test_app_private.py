"""Private conversations in the dashboard, through Streamlit's AppTest and per role.

Agents and managers: private items carry a lock mark and can be filtered on; the opened item
shows one timeline of the case's public thread and private messages, each labelled; the reply
box of a private item is a message in its conversation, counted against that channel's limit,
with the messaging window (time left, or why sending is disabled); the customer panel shows
whole texts across channels. Analysts: no private text anywhere they can reach.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from carewatch.domain import Platform
from storage.models import Mention, Reply
from tests.dashboard.private_seed import (
    AGENT_ANSWER_TEXT,
    ANSWER_REF,
    ANSWER_TEXT,
    COMPLAINT_REF,
    COMPLAINT_TEXT,
    IG_ACCOUNT_ID,
    IG_DM_REF,
    MOVE_TEXT,
    NOTE_TEXT,
    PAGE_ID,
    PRIVATE_REFS,
    PRIVATE_TEXTS,
    X_DM_REF,
    X_DM_TEXT,
)
from tests.dashboard.seed import TOP_REF
from tests.dashboard.test_app import all_markdown, goto, login, texts


def _captions(at: AppTest) -> list[str]:
    return [c.value.replace("\\", "").replace("\u200b", "") for c in at.caption]


def _open(at: AppTest, ref: str) -> AppTest:
    at.selectbox(key="cw_open").set_value(ref).run()
    assert not at.exception, at.exception
    return at


def _button(at: AppTest, label: str) -> Any:
    return next(b for b in at.button if b.label == label)


def _page_content(at: AppTest) -> str:
    """Everything the page renders, element by element, with every table's cells."""
    return repr(list(at.main)) + repr(list(at.sidebar)) + "".join(
        frame.value.to_csv() for frame in at.dataframe)


def test_private_items_are_marked_in_the_queue(private_store: Any) -> None:
    at = login("agent1")
    table = at.dataframe[0].value
    channel = dict(zip(table["mention"], table["channel"], strict=True))
    assert channel[ANSWER_REF] == "🔒 Messenger"
    assert channel[X_DM_REF] == "🔒 X direct message"
    assert channel[TOP_REF] == "X"
    # Reasons are compact chips of short codes.
    reasons = dict(zip(table["mention"], table["reasons"], strict=True))
    assert list(reasons[TOP_REF]) == ["safety", "neg", "reach"]


@pytest.mark.parametrize(("choice", "private"), [("Private", True), ("Public", False)])
def test_queue_filters_on_visibility(private_store: Any, choice: str, private: bool) -> None:
    at = login("agent1")
    at.radio(key="cw_f_visibility").set_value(choice).run()
    assert not at.exception
    refs = set(at.dataframe[0].value["mention"])
    assert (refs == set(PRIVATE_REFS)) if private else not refs & set(PRIVATE_REFS)


def test_agent_opens_a_private_item_and_sees_the_case_timeline(private_store: Any) -> None:
    at = _open(login("agent1"), ANSWER_REF)
    shown = texts(at)
    for text in (COMPLAINT_TEXT, MOVE_TEXT, NOTE_TEXT, ANSWER_TEXT, AGENT_ANSWER_TEXT):
        assert text in shown, text
    # Oldest to newest: the public complaint, the move to Messenger, the answers.
    rest = iter(shown[shown.index(COMPLAINT_TEXT):])
    assert all(text in rest for text in (MOVE_TEXT, ANSWER_TEXT, AGENT_ANSWER_TEXT))
    captions = _captions(at)
    assert any(c.startswith("Maria Ramos · public · Facebook") for c in captions), captions
    assert any(c.startswith("Acme Air (brand) · 🔒 private · Messenger") for c in captions)
    assert any(c.startswith("Maria Ramos · 🔒 private · Messenger") and "this item" in c
               for c in captions)
    assert any(c.startswith("Post · Acme Air (brand) · public · Facebook") for c in captions)
    # The reply box is a message in the Messenger conversation, with the window open.
    assert [t.label for t in at.tabs][:1] == ["Message in the conversation"]
    assert "Move to private" not in [t.label for t in at.tabs]
    assert any(c.startswith("Messaging window: 2") and "h left to answer" in c
               for c in captions), captions
    assert any("/ 2000 characters on Messenger" in c for c in captions), captions
    assert not _button(at, "Send in Messenger").disabled


def test_closed_window_disables_sending_and_says_why(private_store: Any) -> None:
    at = _open(login("agent1"), IG_DM_REF)
    warnings = [w.value.replace("\\", "").replace("\u200b", "") for w in at.warning]
    assert any(w.startswith("Sending is disabled: the messaging window closed") and
               "24 h" in w and "Instagram Direct" in w for w in warnings), warnings
    assert _button(at, "Send in Instagram Direct").disabled


def test_x_direct_message_has_no_window_and_the_dm_limit(private_store: Any) -> None:
    at = _open(login("agent1"), X_DM_REF)
    captions = _captions(at)
    assert "Messaging window: X direct message has no messaging window" in captions
    assert any("/ 10000 characters on X direct message" in c for c in captions), captions
    assert not _button(at, "Send in X direct message").disabled


def _send_message(store: Any, text: str) -> list[Reply]:
    at = _open(login("agent1"), ANSWER_REF)
    at.text_area(key=next(t.key for t in at.text_area if t.label == "Message")).input(text)
    at.run()
    _button(at, "Send in Messenger").click().run()
    assert not at.exception
    assert any("Message queued" in s.value for s in at.success), [e.value for e in at.error]
    with store.session() as session:
        return list(session.execute(
            select(Reply).join(Mention, Mention.id == Reply.mention_pk)
            .where(Mention.external_id == ANSWER_REF.split(":", 1)[1], Reply.text == text)
        ).scalars())


def test_message_in_the_conversation_is_queued(private_store: Any) -> None:
    replies = _send_message(private_store, "The refund is on its way, Maria.")
    assert [(r.agent, r.state) for r in replies] == [("agent1", "queued")]


def test_message_in_the_conversation_is_queued_as_a_message(private_store: Any) -> None:
    replies = _send_message(private_store, "One more thing: keep the booking code.")
    assert [r.kind for r in replies] == ["message"]


def test_public_item_keeps_reply_and_move_to_private(private_store: Any) -> None:
    at = _open(login("agent1"), COMPLAINT_REF)
    assert [t.label for t in at.tabs][:3] == ["Reply", "Move to private", "Assign & status"]
    # The public complaint's conversation includes the Messenger conversation it moved to.
    assert ANSWER_TEXT in texts(at)
    assert AGENT_ANSWER_TEXT in texts(at)


def test_customer_panel_shows_whole_texts_across_channels(private_store: Any) -> None:
    at = login("agent1")  # opens the top mention, whose customer also wrote an X DM
    assert X_DM_TEXT in texts(at)
    captions = _captions(at)
    assert any(c.endswith(X_DM_REF) and "🔒 private · X direct message" in c
               for c in captions), captions


def test_manager_reads_private_messages(private_store: Any) -> None:
    at = _open(login("manager1"), ANSWER_REF)
    assert ANSWER_TEXT in texts(at)
    assert MOVE_TEXT in texts(at)


def test_analyst_reaches_no_private_text(private_store: Any) -> None:
    from streamlit.util import calc_hash

    at = login("analyst1")
    for page in ("Trends",):
        goto(at, page)
        content = _page_content(at) + "".join(all_markdown(at))
        for text in PRIVATE_TEXTS:
            assert text not in content, text
    for path in ("inbox", "alerts"):  # asked for by URL: refused, nothing rendered
        at._page_hash = calc_hash(path)
        at.run()
        content = _page_content(at)
        assert [e.value for e in at.error] == ["You do not have access to this page."]
        for text in PRIVATE_TEXTS:
            assert text not in content, text


def test_only_agents_and_managers_may_read_private_items() -> None:
    from dashboard.conversation import may_read_private, readable

    assert [r for r in ("agent", "manager", "analyst", "admin") if may_read_private(r)] == [
        "agent", "manager"]
    assert readable("public", "analyst")
    assert not readable("private", "analyst")


def test_human_agent_source_keeps_the_window_open_for_seven_days(private_store: Any) -> None:
    from dashboard.reply_box import window_for
    from storage.inbox import mention_row
    from storage.mentions import mention_by_ref
    from storage.models import utcnow

    with private_store.session() as session:
        row = mention_row(session, mention_by_ref(session, IG_DM_REF).id)
    from carewatch.settings import SourceConfig

    source = SourceConfig(platform=Platform.INSTAGRAM, kind="direct", page_id=PAGE_ID,
                          ig_user_id=IG_ACCOUNT_ID, human_agent=True)
    window = window_for(private_store, SimpleNamespace(sources=[source]), row)
    assert window is not None
    assert (window.open, window.tag) == (True, "HUMAN_AGENT")
    assert window.time_left(utcnow()) > timedelta(days=5)
    closed = window_for(private_store, SimpleNamespace(sources=[]), row)
    assert closed is not None
    assert not closed.open
