"""Every dashboard action re-checks its user: Streamlit runs widget callbacks before the
page script (and its login check), and the inbox's queue fragment refreshes on its own. A
forged session, an idle one, and a user deleted, demoted or locked after logging in get the
login or a refusal, and their click changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from storage.models import Alert, Reply, User, utcnow
from storage.users import LOCKOUT
from tests.dashboard.seed import PASSWORDS, TOP_REF, TOP_TEXT
from tests.dashboard.test_app import _app, _submit_login, login, texts, titles


def _user(store: Any, name: str) -> User:
    with store.session() as session:
        return session.execute(select(User).where(User.username == name)).scalar_one()


def _forge(at: AppTest, store: Any) -> None:
    """Session state written by hand, as a bug or a crafted state would: a user id, a role and
    a far expiry, without a login."""
    from dashboard.auth import SESSION_KEY

    at.session_state[SESSION_KEY] = {"user_id": _user(store, "agent1").id, "role": "admin",
                                     "expires_at": utcnow() + timedelta(hours=1)}


def _expire(at: AppTest, _store: Any) -> None:
    from dashboard.auth import SESSION_KEY

    at.session_state[SESSION_KEY]["expires_at"] = utcnow() - timedelta(seconds=1)


def _delete(_at: AppTest, store: Any) -> None:
    with store.write() as session:
        session.delete(session.get(User, _user(store, "agent1").id))


def _demote(_at: AppTest, store: Any) -> None:
    with store.write() as session:
        session.get(User, _user(store, "agent1").id).role = "analyst"  # type: ignore[union-attr]


def _lock(_at: AppTest, store: Any) -> None:
    with store.write() as session:
        session.get(User, _user(store, "agent1").id).locked_until = utcnow() + LOCKOUT  # type: ignore[union-attr]


CHANGES: dict[str, Callable[[AppTest, Any], None]] = {
    "forged": _forge, "expired": _expire, "deleted": _delete, "demoted": _demote,
    "locked": _lock,
}


def _shows_no_inbox(at: AppTest) -> None:
    assert not at.exception
    assert "Inbox" not in titles(at)
    assert TOP_TEXT not in texts(at)
    assert at.dataframe.len == 0 or "Trends" in titles(at)


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_click_after_the_session_went_bad_does_nothing(store: Any, change: str) -> None:
    at = login("agent1")
    claim = next(b for b in at.button if b.label == "Claim")
    CHANGES[change](at, store)
    claim.click().run()
    _shows_no_inbox(at)
    with store.session() as session:
        from storage.mentions import mention_by_ref

        assert mention_by_ref(session, TOP_REF).assignee is None  # type: ignore[union-attr]
    if change == "demoted":  # the Inbox URL, now outside the role, answers with a refusal
        assert "You do not have access to this page." in [e.value for e in at.error]
    else:
        assert [b.label for b in at.button] == ["Log in"]


@pytest.mark.parametrize("change", ["forged", "expired", "deleted", "locked"])
def test_a_queued_reply_needs_a_live_session(store: Any, change: str) -> None:
    at = login("agent1")
    key = next(t for t in at.text_area if t.label == "Reply").key
    at.text_area(key=key).input("We are on it, sorry about this.").run()
    send = next(b for b in at.button if b.label == "Queue reply")
    CHANGES[change](at, store)
    send.click().run()
    _shows_no_inbox(at)
    with store.session() as session:
        assert session.execute(select(Reply)).first() is None


def test_a_demoted_manager_cannot_acknowledge(store: Any) -> None:
    from tests.dashboard.test_app import goto

    at = login("manager1")
    goto(at, "Alerts")
    ack = next(b for b in at.button if b.label == "Acknowledge")
    with store.write() as session:
        session.execute(select(User).where(User.username == "manager1")).scalar_one().role = \
            "agent"
    ack.click().run()
    assert not at.exception
    with store.session() as session:
        assert session.execute(select(Alert)).scalar_one().acknowledged_by is None
    assert "Alerts" not in titles(at)


def test_a_forged_session_never_shows_a_page(store: Any) -> None:
    at = _app().run()
    _forge(at, store)
    at.run()
    _shows_no_inbox(at)
    assert [b.label for b in at.button] == ["Log in"]


# The queue fragment run on its own, as its `run_every` timer runs it: no page guard first.
# When it refuses it reruns the whole app, which here is the page guard.
def _fragment_script() -> None:
    import streamlit as st

    from dashboard import auth, inbox
    from storage.inbox import InboxFilters

    if st.session_state.pop("fragment_only", False):
        inbox._queue(InboxFilters())
    else:
        auth.require(auth.PAGE_ROLES["Inbox"])
        st.title("Inbox")


def _fragment_app(store: Any) -> AppTest:
    at = AppTest.from_function(_fragment_script, default_timeout=30)
    at.run()
    at.session_state["fragment_only"] = True  # the script's own login check is skipped
    return at


@pytest.mark.parametrize("change", list(CHANGES))
def test_the_refreshing_queue_rechecks_the_user(store: Any, change: str) -> None:
    at = login("agent1")
    session_data = dict(at.session_state["cw_session"])
    fragment = _fragment_app(store)
    fragment.session_state["cw_session"] = session_data
    CHANGES[change](fragment, store)
    fragment.session_state["fragment_only"] = True
    fragment.run()
    assert not fragment.exception
    assert fragment.dataframe.len == 0
    assert TOP_TEXT not in texts(fragment)
    assert "You do not have access to this page." in [e.value for e in fragment.error]


def test_the_refreshing_queue_does_not_extend_the_idle_timer(store: Any) -> None:
    at = login("agent1")
    session_data = dict(at.session_state["cw_session"])
    expires = utcnow() + timedelta(minutes=1)
    session_data["expires_at"] = expires
    fragment = _fragment_app(store)
    fragment.session_state["cw_session"] = session_data
    fragment.session_state["fragment_only"] = True
    fragment.run()
    assert not fragment.exception
    assert fragment.dataframe.len == 1  # it did refresh ...
    assert fragment.session_state["cw_session"]["expires_at"] == expires  # ... idly


def test_a_click_extends_the_idle_timer(store: Any) -> None:
    from dashboard.auth import SESSION_KEY

    at = login("agent1")
    soon = utcnow() + timedelta(minutes=1)
    at.session_state[SESSION_KEY]["expires_at"] = soon
    next(b for b in at.button if b.label == "Claim").click().run()
    assert at.session_state[SESSION_KEY]["expires_at"] > soon + timedelta(hours=1)


def test_a_short_old_password_logs_in_with_a_warning(store: Any) -> None:
    from storage.users import _hasher

    with store.write() as session:
        session.get(User, _user(store, "agent1").id).password_hash = _hasher.hash("short1")  # type: ignore[union-attr]
    at = _submit_login(_app().run(), "agent1", "short1")
    assert titles(at) == ["Inbox"]
    assert any("shorter than 12 characters" in w.value for w in at.warning)


def test_a_throttled_browser_is_told_to_wait(store: Any) -> None:
    from storage.login_throttle import CLIENT_MAX_FAILURES
    from storage.users import THROTTLED

    at = _app().run()
    for number in range(CLIENT_MAX_FAILURES):
        _submit_login(at, f"nobody{number}", "wrong password")
    _submit_login(at, "agent1", PASSWORDS["agent1"])
    assert [e.value for e in at.error] == [THROTTLED]
    assert titles(at) != ["Inbox"]
    assert titles(login("agent1")) == ["Inbox"]  # another browser is not held back
