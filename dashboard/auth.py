"""Login, sessions and role checks for the dashboard.

Session state keeps only the user's id, an idle expiry and a proof that this process's login
wrote them; the user's name, role and lock are read from the database on every check, so
deleting, demoting or locking a user takes effect on their next click. Three kinds of code
check, each through `check()`:
- pages call `require()` before rendering (the navigation only lists what a role may see);
- every widget callback is wrapped in `@action(roles)`: Streamlit runs callbacks *before*
  the page script, so a callback would otherwise act for a session the page would refuse;
- a fragment that refreshes alone (`run_every`) calls `check(..., touch=False)`: it shows
  data, so it re-checks, but it is no user action and does not extend the idle timer.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Concatenate, ParamSpec

import streamlit as st

from carewatch.log import get_logger
from dashboard import context
from dashboard.components import set_flash
from storage.db import Database
from storage.models import utcnow
from storage.users import MIN_PASSWORD_LENGTH, authenticate, get_user, is_locked

log = get_logger(__name__)

SESSION_KEY = "cw_session"
NOTICE_KEY = "cw_login_notice"
CLIENT_KEY = "cw_client"
IDLE_TIMEOUT = timedelta(hours=8)
REFUSAL = "You do not have access to this page."
# Signs the sessions this server process started: a session written into session state any
# other way (no login) carries no valid proof and is refused.
_SESSION_SECRET = secrets.token_bytes(32)
P = ParamSpec("P")

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


def _proof(user_id: int, nonce: str) -> str:
    return hmac.new(_SESSION_SECRET, f"{user_id}:{nonce}".encode(), hashlib.sha256).hexdigest()


def _start_session(user_id: int) -> None:
    nonce = secrets.token_hex(16)
    st.session_state[SESSION_KEY] = {"user_id": user_id, "nonce": nonce,
                                     "proof": _proof(user_id, nonce),
                                     "expires_at": utcnow() + IDLE_TIMEOUT}


def _session_user_id(data: object) -> int | None:
    """The user id of a session this process started by a login, else None."""
    if not isinstance(data, dict):
        return None
    user_id, nonce, proof = data.get("user_id"), data.get("nonce"), data.get("proof")
    if not isinstance(user_id, int) or not isinstance(nonce, str) or not isinstance(proof, str):
        return None
    return user_id if hmac.compare_digest(proof, _proof(user_id, nonce)) else None


def current_user(db: Database, *, now: datetime | None = None,
                 touch: bool = True) -> CurrentUser | None:
    """The logged-in user, re-read from the database; None when logged out, expired, forged,
    deleted, locked or without a known role. `touch` extends the idle timer (user actions
    only)."""
    data = st.session_state.get(SESSION_KEY)
    if data is None:
        return None
    user_id = _session_user_id(data)
    if user_id is None:
        log.warning("dashboard_session_forged")
        _clear("Log in to continue.")
        return None
    now = now or utcnow()
    expires = data.get("expires_at")
    if not isinstance(expires, datetime) or expires <= now:
        _clear("Your session expired; log in again.")
        return None
    with db.session() as session:
        user = get_user(session, user_id)
        if user is None or user.role not in ROLE_PAGES or is_locked(user, now):
            _clear("Your account is no longer available; log in again.")
            return None
        found = CurrentUser(user.id, user.username, user.role)
    if touch:
        data["expires_at"] = now + IDLE_TIMEOUT
    return found


def check(allowed: Iterable[str], *, touch: bool = True) -> CurrentUser | None:
    """The fresh user when logged in with one of the `allowed` roles, else None (refusals
    are logged). The one check behind pages, callbacks and fragments."""
    user = current_user(context.database(), touch=touch)
    if user is not None and user.role in tuple(allowed):
        return user
    log.warning("dashboard_refused", user=user.username if user else None)
    return None


def action(allowed: Iterable[str]) -> Callable[[Callable[Concatenate[CurrentUser, P], None]],
                                               Callable[P, None]]:
    """Wrap a widget callback so it runs only for a fresh, allowed user, who it gets as its
    first argument; for anyone else it does nothing and the page rerun shows the login or a
    refusal. Widgets pass every other argument; never the user they were rendered for."""
    roles = tuple(allowed)

    def wrap(callback: Callable[Concatenate[CurrentUser, P], None]) -> Callable[P, None]:
        @functools.wraps(callback)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
            user = check(roles)
            if user is not None:
                callback(user, *args, **kwargs)

        return guarded

    return wrap


def _client() -> str:
    """Who is logging in, for the per-client throttle: the connection's IP address, else
    (local connections, tests) this browser session."""
    try:
        address = st.context.ip_address
    except AttributeError:
        address = None
    if isinstance(address, str) and address:
        return f"ip:{address}"
    return "session:" + st.session_state.setdefault(CLIENT_KEY, uuid.uuid4().hex)


def log_in(db: Database, username: str, password: str) -> str | None:
    """Try a login; on success start a session and return None, else the message to show."""
    client = _client()
    with db.write() as session:
        result = authenticate(session, username, password, client=client)
    if not result.ok or result.user_id is None:
        log.info("login_refused", username=username[:100], client=client)
        return result.message
    _start_session(result.user_id)
    st.session_state.pop(NOTICE_KEY, None)
    if result.short_password:
        set_flash("warning", f"Your password is shorter than {MIN_PASSWORD_LENGTH} "
                             "characters: ask an admin to set a longer one.")
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
    user = check(allowed)
    if user is None:
        st.error(REFUSAL)
        st.stop()
    assert user is not None
    return user, context.database()
