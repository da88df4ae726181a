"""The messaging window: 24 h to answer, 7 days for a person with the HUMAN_AGENT tag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from carewatch.domain import Author, Mention, Platform, Visibility, conversation_key
from carewatch.platforms import spec_for
from responders.window import HUMAN_AGENT, MESSAGE_TAG, RESPONSE, messaging_window
from storage.mentions import last_customer_message_at, upsert_mentions
from storage.models import Thread

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
GRAPH = spec_for(Platform.FACEBOOK).conversation


def test_conversation_key_is_the_x_dm_conversation_id_shape() -> None:
    assert conversation_key("1500000000000000000", "42") == "42-1500000000000000000"
    assert conversation_key("42", "1500000000000000000") == "42-1500000000000000000"


def test_x_has_no_window() -> None:
    window = messaging_window(spec_for(Platform.X).conversation, None, NOW, human_agent=False)
    assert window.open
    assert window.messaging_type is None
    assert window.closes_at is None


@pytest.mark.parametrize(
    ("age", "human_agent", "by_person", "expected"),
    [
        (timedelta(hours=1), False, True, (True, RESPONSE, None)),
        (timedelta(hours=23, minutes=59), False, False, (True, RESPONSE, None)),
        (timedelta(hours=25), False, True, (False, None, None)),
        (timedelta(hours=25), True, True, (True, MESSAGE_TAG, HUMAN_AGENT)),
        (timedelta(hours=25), True, False, (False, None, None)),  # rules never use the tag
        (timedelta(days=6, hours=23), True, True, (True, MESSAGE_TAG, HUMAN_AGENT)),
        (timedelta(days=7, minutes=1), True, True, (False, None, None)),
    ],
)
def test_graph_window(age: timedelta, human_agent: bool, by_person: bool,
                      expected: tuple[bool, str | None, str | None]) -> None:
    window = messaging_window(GRAPH, NOW - age, NOW, human_agent=human_agent,
                              by_person=by_person, label="Messenger")
    assert (window.open, window.messaging_type, window.tag) == expected
    assert window.reason
    if not window.open:
        assert "closed" in window.reason
        assert window.time_left(NOW) == timedelta(0)


def test_closed_window_says_how_to_open_it() -> None:
    window = messaging_window(GRAPH, NOW - timedelta(hours=30), NOW, human_agent=False,
                              label="Messenger")
    assert "human_agent = true" in window.reason
    assert "24 h" in window.reason
    assert messaging_window(GRAPH, None, NOW, human_agent=True).open is False


def test_time_left_counts_down() -> None:
    window = messaging_window(GRAPH, NOW - timedelta(hours=20), NOW, human_agent=False)
    assert window.time_left(NOW) == timedelta(hours=4)
    assert window.reason == "4 h left to answer"


def test_last_customer_message_ignores_the_brand(migrated_db) -> None:
    page, customer = "100000000000001", "5001"
    key = conversation_key(page, customer)

    def message(mid: str, sender: str, minutes: int) -> Mention:
        return Mention(platform=Platform.FACEBOOK, external_id=mid, text="hi",
                       created_at=NOW - timedelta(minutes=minutes),
                       author=Author(Platform.FACEBOOK, sender), thread_id=key,
                       is_own=sender == page, visibility=Visibility.PRIVATE)

    with migrated_db.write() as session:
        upsert_mentions(session, [message("m_1", customer, 90), message("m_2", page, 30),
                                  message("m_3", customer, 60)])
    with migrated_db.session() as session:
        thread = session.query(Thread).one()
        assert last_customer_message_at(session, thread.id) == NOW - timedelta(minutes=60)
