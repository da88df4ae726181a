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

A login also survives a reload or a page opened by URL in the same browser: it creates a row
in `login_sessions` (storage.login_sessions) and the page puts its random token in a cookie
(`cookie_script`; Streamlit cannot set cookies from the server). A new connection without a
session reads the cookie (`st.context.cookies`) and resumes the login when the row is
unexpired and its user still exists, unlocked, with a known role; the role is then read from
the database like on every check. The row follows the same idle timeout; log out deletes it
and clears the cookie. The token is never logged.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Concatenate, ParamSpec

import streamlit as st
import streamlit.components.v1 as components

from carewatch.log import get_logger
from dashboard import context, outage
from dashboard.components import set_flash
from storage import login_sessions as stored
from storage.db import Database
from storage.models import utcnow
from storage.users import RECOMMENDED_PASSWORD_LENGTH, authenticate, get_user, is_locked

log = get_logger(__name__)

SESSION_KEY = "cw_session"
NOTICE_KEY = "cw_login_notice"
CLIENT_KEY = "cw_client"
IDLE_TIMEOUT = timedelta(hours=8)
#: The browser cookie holding a login's token, and session-state keys about it: the token to
#: (re)write into the cookie, the hash of a cookie already refused (not looked up again on
#: every rerun), and whether the page must clear the cookie.
COOKIE_NAME = "cw_login"
TOKEN_KEY = "cw_login_token"
REFUSED_COOKIE_KEY = "cw_login_refused"
CLEAR_COOKIE_KEY = "cw_login_clear"
#: How often a session in use restarts its stored login's idle time (one UPDATE, not one a
#: click) and so the cookie's Max-Age.
TOUCH_EVERY = timedelta(minutes=1)
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


def _start_session(user_id: int, token: str) -> None:
    nonce = secrets.token_hex(16)
    now = utcnow()
    st.session_state[SESSION_KEY] = {"user_id": user_id, "nonce": nonce,
                                     "proof": _proof(user_id, nonce),
                                     "expires_at": now + IDLE_TIMEOUT,
                                     "login": stored.token_hash(token), "touched_at": now}
    st.session_state[TOKEN_KEY] = token
    st.session_state.pop(CLEAR_COOKIE_KEY, None)
    st.session_state.pop(REFUSED_COOKIE_KEY, None)


def _cookie_token() -> str | None:
    """This connection's login cookie, if the browser sent one."""
    try:
        value = st.context.cookies.get(COOKIE_NAME)
    except Exception:  # no browser connection (bare script runs): no cookie
        return None
    return value if isinstance(value, str) and value else None


def _resume(db: Database, now: datetime) -> bool:
    """Start a session from the login cookie (a reload, a page opened by URL): whether it
    did. An unknown, expired or tampered token is refused once and the cookie cleared."""
    token = _cookie_token()
    if token is None:
        return False
    hashed = stored.token_hash(token)
    if st.session_state.get(REFUSED_COOKIE_KEY) == hashed:
        return False
    with db.write() as session:
        user_id = stored.resume_login_session(session, token, IDLE_TIMEOUT, now=now)
    if user_id is None:
        log.info("login_resume_refused")
        st.session_state[REFUSED_COOKIE_KEY] = hashed
        st.session_state[CLEAR_COOKIE_KEY] = True
        return False
    _start_session(user_id, token)
    log.info("login_resumed", user_id=user_id)
    return True


def _end_stored_login(db: Database, data: object, *, user_id: int | None = None) -> None:
    """Delete the stored login behind this session (and, for a user who may no longer log
    in, all of theirs), and have the page clear the cookie."""
    with db.write() as session:
        if isinstance(data, dict) and isinstance(data.get("login"), str):
            stored.end_login_session(session, data["login"])
        if user_id is not None:
            stored.end_user_login_sessions(session, user_id)
    st.session_state.pop(TOKEN_KEY, None)
    st.session_state[CLEAR_COOKIE_KEY] = True


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
    now = now or utcnow()
    data = st.session_state.get(SESSION_KEY)
    if data is None:
        if not _resume(db, now):
            return None
        data = st.session_state[SESSION_KEY]
    user_id = _session_user_id(data)
    if user_id is None:
        log.warning("dashboard_session_forged")
        _clear("Log in to continue.")
        return None
    expires = data.get("expires_at")
    if not isinstance(expires, datetime) or expires <= now:
        _end_stored_login(db, data)
        _clear("Your session expired; log in again.")
        return None
    with db.session() as session:
        user = get_user(session, user_id)
        if user is None or user.role not in ROLE_PAGES or is_locked(user, now):
            gone = True
        else:
            gone = False
            found = CurrentUser(user.id, user.username, user.role)
    if gone:
        _end_stored_login(db, data, user_id=user_id)
        _clear("Your account is no longer available; log in again.")
        return None
    if touch:
        data["expires_at"] = now + IDLE_TIMEOUT
        if not _touch_stored_login(db, data, now):
            _end_stored_login(db, data)
            _clear("Your session ended; log in again.")
            return None
    return found


def _touch_stored_login(db: Database, data: dict[str, object], now: datetime) -> bool:
    """Restart the stored login's idle time (at most every `TOUCH_EVERY`); False when it was
    logged out elsewhere (another tab of this browser) or has expired."""
    hashed, touched = data.get("login"), data.get("touched_at")
    if not isinstance(hashed, str):
        return True
    if isinstance(touched, datetime) and now - touched < TOUCH_EVERY:
        return True
    with db.write() as session:
        alive = stored.touch_login_session(session, hashed, IDLE_TIMEOUT, now=now) is not None
    data["touched_at"] = now
    return alive


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
            with outage.shown(flash=True):
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
    token = None
    with db.write() as session:
        result = authenticate(session, username, password, client=client)
        if result.ok and result.user_id is not None:
            token, _ = stored.create_login_session(session, result.user_id, IDLE_TIMEOUT)
    if not result.ok or result.user_id is None or token is None:
        log.info("login_refused", username=username[:100], client=client)
        return result.message
    _start_session(result.user_id, token)
    st.session_state.pop(NOTICE_KEY, None)
    if result.short_password:
        set_flash("warning", f"Your password is shorter than {RECOMMENDED_PASSWORD_LENGTH} "
                             "characters: ask an admin to set a longer one.")
    log.info("login", username=result.username, role=result.role)
    return None


def log_out() -> None:
    """End the login: its stored row is deleted (a reload does not resume it), session
    state is emptied and the page clears the cookie."""
    data = st.session_state.get(SESSION_KEY)
    refused = stored.token_hash(token) if (token := _cookie_token()) else None
    with contextlib.suppress(context.DashboardUnavailable):
        _end_stored_login(context.database(), data)
    _clear()
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith("cw_"):
            st.session_state.pop(key, None)
    st.session_state[CLEAR_COOKIE_KEY] = True
    if refused:  # this connection still sees the old cookie: it must not log back in
        st.session_state[REFUSED_COOKIE_KEY] = refused


# Sets (or clears) the login cookie on the dashboard's own origin: the component's frame is
# same-origin (its sandbox allows it), so it writes `parent.document.cookie`. Only fixed text
# and json-encoded values go in; a token is urlsafe base64, never markup.
_COOKIE_SCRIPT = """<script>
(() => {
  const secure = window.parent.location.protocol === "https:" ? "; Secure" : "";
  window.parent.document.cookie = %s + "=" + %s + "; Path=/; SameSite=Strict; Max-Age=" + %s
    + secure;
})();
</script>
<!-- %s -->"""


def cookie_script() -> None:
    """Keep the browser's login cookie in step with the session: write it (again after each
    touch of the stored login, so its Max-Age slides with the idle time) while logged in,
    clear it after log out or a refused cookie. Renders an invisible component."""
    token = st.session_state.get(TOKEN_KEY)
    data = st.session_state.get(SESSION_KEY)
    if isinstance(token, str) and isinstance(data, dict):
        value, max_age = token, int(IDLE_TIMEOUT.total_seconds())
        stamp = str(data.get("touched_at"))
    elif st.session_state.get(CLEAR_COOKIE_KEY):
        value, max_age, stamp = "", 0, "clear"
    else:
        return
    components.html(_COOKIE_SCRIPT % (json.dumps(COOKIE_NAME), json.dumps(value),
                                      json.dumps(str(max_age)), stamp), height=0)


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
    cookie_script()
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
