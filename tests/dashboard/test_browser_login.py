"""A login survives a reload and a page opened by URL, in headless Chromium against a real
`carewatch dashboard` process: the login cookie lands on the dashboard's origin (Path=/,
SameSite=Strict, Max-Age of the idle timeout), a reload stays on the page, a URL outside
the role is refused, log out and a tampered cookie show the login form, and a role changed
or an account locked in the database takes effect at the next reload. Chromium is required
as in test_browser.py."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from dashboard.auth import COOKIE_NAME, IDLE_TIMEOUT
from storage.models import LoginSession, User, utcnow
from storage.users import find_user, set_role
from tests.dashboard.seed import PASSWORDS
from tests.dashboard.test_browser import _login, _nav, _wait_idle, _wait_title
from tests.dashboard.test_browser import served as served  # this module's own dashboard

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _cookie(page: Any, timeout: float = 20) -> dict[str, Any]:
    """The login cookie once the page has set it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [c for c in page.context.cookies() if c["name"] == COOKIE_NAME]
        if found:
            return found[0]
        page.wait_for_timeout(200)
    raise AssertionError("the login cookie was never set")


def _wait_no_cookie(page: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [c for c in page.context.cookies() if c["name"] == COOKIE_NAME]:
            return
        page.wait_for_timeout(200)
    raise AssertionError("the login cookie was not cleared")


def _logged_in(page: Any, served: dict[str, Any], username: str, title: str) -> dict[str, Any]:
    _login(page, served["url"], username, PASSWORDS[username])
    _wait_title(page, title)
    return _cookie(page)


def _login_form(page: Any) -> None:
    page.get_by_role("button", name="Log in").wait_for()
    page.get_by_label("Username", exact=True).wait_for()
    assert page.locator("h1", has_text="Inbox").count() == 0


def _stored(served: dict[str, Any], username: str) -> int:
    with served["db"].session() as session:
        user = find_user(session, username)
        assert user is not None
        return int(session.execute(select(func.count()).select_from(LoginSession)
                                   .where(LoginSession.user_id == user.id)).scalar_one())


def test_reload_and_page_urls_keep_the_login(served: dict[str, Any], page: Any) -> None:
    before = time.time()
    cookie = _logged_in(page, served, "manager1", "Inbox")
    assert cookie["path"] == "/"
    assert cookie["sameSite"] == "Strict"
    assert cookie["domain"] == "127.0.0.1"
    assert not cookie["secure"]
    idle = IDLE_TIMEOUT.total_seconds()  # Max-Age: the idle timeout, from when it was set
    assert before + idle - 5 <= cookie["expires"] <= time.time() + idle + 5
    assert _stored(served, "manager1") >= 1
    with served["db"].session() as session:  # the browser's token is not what is stored
        hashes = set(session.execute(select(LoginSession.token_hash)).scalars())
    assert cookie["value"] not in hashes
    page.goto(f"{served['url']}/alerts")
    _wait_title(page, "Alerts")
    _wait_idle(page)
    page.reload()
    _wait_title(page, "Alerts")
    _wait_idle(page)
    assert page.get_by_label("Username", exact=True).count() == 0
    assert _nav(page) == ["Inbox", "Alerts", "Trends"]
    page.goto(f"{served['url']}/trends")
    _wait_title(page, "Trends")


def test_a_page_outside_the_role_is_refused_by_url(served: dict[str, Any], page: Any) -> None:
    _logged_in(page, served, "analyst1", "Trends")
    page.goto(f"{served['url']}/settings")
    page.get_by_text("You do not have access to this page.").wait_for()
    _wait_idle(page)
    assert page.locator("h1").count() == 0
    assert page.get_by_label("Username", exact=True).count() == 0
    page.goto(f"{served['url']}/inbox")
    page.get_by_text("You do not have access to this page.").wait_for()
    assert page.locator("h1", has_text="Inbox").count() == 0


def test_log_out_ends_the_login_for_reloads(served: dict[str, Any], page: Any) -> None:
    _logged_in(page, served, "agent1", "Inbox")
    _wait_idle(page)
    page.get_by_role("button", name="Log out").click()
    _login_form(page)
    _wait_no_cookie(page)
    assert _stored(served, "agent1") == 0
    page.reload()
    _login_form(page)
    page.goto(f"{served['url']}/inbox")
    _login_form(page)


def test_a_tampered_or_replayed_cookie_shows_the_login_form(served: dict[str, Any],
                                                            page: Any) -> None:
    cookie = _logged_in(page, served, "admin1", "Settings")
    _wait_idle(page)
    value = cookie["value"]
    tampered = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    page.context.add_cookies([{**cookie, "value": tampered}])
    page.reload()
    _login_form(page)
    _wait_no_cookie(page)  # the refused cookie is cleared
    assert page.get_by_text("Traceback").count() == 0
    # The real token, logged out on the server, is refused as well.
    page.context.add_cookies([{**cookie, "value": value}])
    page.goto(f"{served['url']}/settings")
    _wait_title(page, "Settings")
    with served["db"].write() as session:
        session.execute(LoginSession.__table__.delete())
    page.reload()
    _login_form(page)


def test_role_change_and_lock_take_effect_at_the_next_reload(served: dict[str, Any],
                                                             page: Any) -> None:
    _logged_in(page, served, "agent2", "Inbox")
    _wait_idle(page)
    with served["db"].write() as session:
        set_role(session, "agent2", "analyst", actor="test")
    page.reload()
    _wait_title(page, "Trends")
    _wait_idle(page)
    assert "Inbox" not in [t.strip() for t in page.locator("section[data-testid=stSidebar] a")
                           .all_inner_texts()]
    page.goto(f"{served['url']}/inbox")
    page.get_by_text("You do not have access to this page.").wait_for()
    with served["db"].write() as session:
        session.execute(update(User).where(User.username == "agent2")
                        .values(locked_until=utcnow() + timedelta(hours=1)))
    page.reload()
    _login_form(page)
    assert _stored(served, "agent2") == 0
