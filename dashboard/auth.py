"""Login, sessions and role checks for the dashboard.

Session state keeps only the user's id and an idle expiry; the user's name and role are read
from the database on every rerun, so deleting a user or changing a role takes effect on their
next click. Pages call `require()` themselves: the navigation only lists what a role may see,
and each page checks again on the server before it shows anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import streamlit as st

from carewatch.log import get_logger
from dashboard import context
from storage.db import Database
from storage.models import utcnow
from storage.users import authenticate, get_user

log = get_logger(__name__)

SESSION_KEY = "cw_session"
NOTICE_KEY = "cw_login_notice"
IDLE_TIMEOUT = timedelta(hours=8)

# Which pages each role gets: Inbox (agents, managers), Alerts (managers), Trends
# (analysts, managers), Settings (admins). A page not listed for a role is not served to it.
ROLE_PAGES: dict[str, tuple[str, ...]] = {
    "agent": ("Inbox",),
    "manager": ("Inbox", "Alerts", "Trends"),
    "analyst": ("Trends",),
    "admin": ("Settings",),
}
PAGE_ROLES: dict[str, tuple[str, ...]] = {
    page: tuple(role for role, pages in ROLE_PAGES.items() if page in pages)
    for page in ("Inbox", "Alerts", "Trends", "Settings")
}


@dataclass(frozen=True, slots=True)
class CurrentUser:
    id: int
    username: str
    role: str


def _clear(notice: str | None = None) -> None:
    st.session_state.pop(SESSION_KEY, None)
    if notice:
        st.session_state[NOTICE_KEY] = notice


def current_user(db: Database, *, now: datetime | None = None) -> CurrentUser | None:
    """The logged-in user, re-read from the database; None when logged out or expired."""
    data = st.session_state.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    now = now or utcnow()
    expires = data.get("expires_at")
    if not isinstance(expires, datetime) or expires <= now:
        _clear("Your session expired; log in again.")
        return None
    with db.session() as session:
        user = get_user(session, int(data.get("user_id", 0)))
        if user is None or user.role not in ROLE_PAGES:
            _clear("Your account is no longer available; log in again.")
            return None
        found = CurrentUser(user.id, user.username, user.role)
    data["expires_at"] = now + IDLE_TIMEOUT
    return found


def log_in(db: Database, username: str, password: str) -> str | None:
    """Try a login; on success start a session and return None, else the message to show."""
    with db.write() as session:
        result = authenticate(session, username, password)
    if not result.ok or result.user_id is None:
        log.info("login_refused", username=username[:100])
        return result.message
    st.session_state[SESSION_KEY] = {"user_id": result.user_id,
                                     "expires_at": utcnow() + IDLE_TIMEOUT}
    st.session_state.pop(NOTICE_KEY, None)
    log.info("login", username=result.username, role=result.role)
    return None


def log_out() -> None:
    _clear()
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith("cw_"):
            st.session_state.pop(key, None)


# Streamlit gives every password field a reveal button labelled "Show password", so two
# elements answer to the label "Password" and `get_by_label("Password")` in a browser test (or
# a screen reader's label search) is ambiguous. This fixed script, with no outside input,
# renames that button; the field itself stays a real `type=password` input.
_RELABEL_REVEAL_BUTTON = """
<script>
(() => {
  const relabel = () => document.querySelectorAll(
    'button[aria-label="Show password"], button[aria-label="Hide password"]'
  ).forEach((button) => {
    const shown = button.getAttribute("aria-label") === "Hide password";
    button.setAttribute("aria-label", shown ? "Hide characters" : "Reveal characters");
  });
  relabel();
  new MutationObserver(relabel).observe(document.body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["aria-label"],
  });
})();
</script>
"""


def login_page() -> None:
    """The login form: inputs `Username` and `Password`, button `Log in`."""
    st.html(_RELABEL_REVEAL_BUTTON, unsafe_allow_javascript=True)
    st.title("carewatch")
    st.caption("Social care inbox. Log in to continue.")
    notice = st.session_state.get(NOTICE_KEY)
    if notice:
        st.info(notice)
    with st.form("login", clear_on_submit=False):
        username = st.text_input("Username", key="login_username")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        if not username.strip() or not password:
            st.error("Enter your username and password.")
            return
        try:
            db = context.database()
        except context.DashboardUnavailable as exc:
            st.error(str(exc))
            return
        message = log_in(db, username, password)
        if message is None:
            st.rerun()
        st.error(message)


def require(allowed: Iterable[str]) -> tuple[CurrentUser, Database]:
    """Server-side guard at the top of every page: the user is logged in and has a role
    allowed here; otherwise the page stops before rendering anything."""
    db = context.database()
    user = current_user(db)
    allowed = tuple(allowed)
    if user is None or user.role not in allowed:
        st.error("You do not have access to this page.")
        st.stop()
    assert user is not None
    return user, db
