"""The reply box of the opened item, which knows the channel it answers in.

A public item gets a public reply in its thread (plus "Move to private"); a private item gets
a message in its conversation (X direct message, Messenger, Instagram Direct), counted
against that channel's limit and shown with the conversation's messaging window: the time
left while it is open; when it is closed, why, with sending disabled. Both queue through the
same responders call (`actions.queue_reply`), which picks the kind of reply from the item.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

import streamlit as st

from carewatch.platforms import spec_for
from carewatch.settings import Settings
from dashboard import actions, auth, context, suggestions
from dashboard.components import length_counter, set_flash
from dashboard.safe import has_control_characters, plain
from responders.queue import message_window
from responders.window import MessagingWindow
from storage.canned import canned_replies
from storage.db import Database
from storage.inbox import InboxRow

#: Who may use the reply box: the roles of the inbox, where it is shown.
ROLES = auth.PAGE_ROLES["Inbox"]
CONTROL_REFUSED = ("The {what} holds an invisible control character (pasted in?); remove it "
                   "and queue again.")
DEFAULT_PUBLIC_NOTE = "We've sent you a private message so we can look into this with you."


def window_for(db: Database, settings: Settings, row: InboxRow,
               now: datetime | None = None) -> MessagingWindow | None:
    """The messaging window of a private item's conversation, exactly as the responders
    judge it before queueing (None for a public item)."""
    return message_window(db, settings, row.ref, now=now)


def _canned_options(db: Database, settings: Settings) -> dict[str, str]:
    with db.session() as session:
        stored = {row.name: row.text for row in canned_replies(session)}
    for canned in settings.canned_replies:
        stored.setdefault(canned.name, canned.text)
    return stored


@auth.action(ROLES)
def _use_canned(user: auth.CurrentUser, text_key: str, choice_key: str,
                options: dict[str, str], ref: str) -> None:
    choice = st.session_state.get(choice_key)
    if choice in options:
        st.session_state[text_key] = actions.render_canned(
            context.database(), choice, ref, user.username, options[choice])


def _client_key(text_key: str, *parts: str) -> str:
    """Same key for the same submission of one draft, so a double click queues once; a new
    draft (after a successful send) gets a new nonce."""
    nonce = st.session_state.setdefault(f"{text_key}_nonce", uuid.uuid4().hex)
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]
    return f"dash:{nonce}:{digest}"


def _sent(text_key: str) -> None:
    st.session_state[text_key] = ""
    st.session_state.pop(f"{text_key}_nonce", None)


@auth.action(ROLES)
def _do_reply(user: auth.CurrentUser, ref: str, text_key: str, what: str) -> None:
    text = st.session_state.get(text_key, "") or ""
    if not text.strip():
        set_flash("error", f"Write the {what.lower()} first.")
        return
    if has_control_characters(text):
        set_flash("error", CONTROL_REFUSED.format(what=what.lower()))
        return
    current = context.settings()
    outcome = actions.queue_reply(context.database(current), current, ref, text,
                                  agent=user.username, role=user.role,
                                  client_key=_client_key(text_key, text), what=what)
    set_flash("success" if outcome.ok else "error", outcome.message)
    if outcome.ok:
        _sent(text_key)


@auth.action(ROLES)
def _do_private(user: auth.CurrentUser, ref: str, text_key: str, note_key: str) -> None:
    text = st.session_state.get(text_key, "") or ""
    if not text.strip():
        set_flash("error", "Write the private message first.")
        return
    current = context.settings()
    note = st.session_state.get(note_key, "") or ""
    if has_control_characters(text + note):
        set_flash("error", CONTROL_REFUSED.format(what="private message or public note"))
        return
    outcome = actions.move_private(context.database(current), current, ref, text,
                                   public_note=note, agent=user.username, role=user.role,
                                   client_key=_client_key(text_key, text, note))
    set_flash("success" if outcome.ok else "error", outcome.message)
    if outcome.ok:
        _sent(text_key)


def _canned_picker(db: Database, settings: Settings, row: InboxRow, text_key: str,
                   user: auth.CurrentUser) -> None:
    options = _canned_options(db, settings)
    if not options:
        return
    choice_key = f"cw_canned_{row.id}"
    col_choice, col_use = st.columns([3, 1], vertical_alignment="bottom")
    with col_choice:
        st.selectbox("Canned reply", list(options), key=choice_key)
    with col_use:
        st.button("Use canned reply", key=f"cw_use_canned_{row.id}", on_click=_use_canned,
                  args=(text_key, choice_key, options, row.ref))


def _beside_suggestions(row: InboxRow, user: auth.CurrentUser, text_key: str) -> Any:
    """The column for the reply box, with the suggestions panel (filling `text_key`) in
    the column beside it."""
    box, side = st.columns([3, 2], gap="medium")
    with side:
        suggestions.panel(row, user, text_key)
    return box


def public_reply(db: Database, settings: Settings, row: InboxRow,
                 user: auth.CurrentUser) -> None:
    """A public reply in the item's thread."""
    text_key = f"cw_reply_{row.id}"
    with _beside_suggestions(row, user, text_key):
        _canned_picker(db, settings, row, text_key, user)
        st.text_area("Reply", key=text_key, height=110,
                     placeholder="Public reply in the thread")
        fits = length_counter(row.platform, st.session_state.get(text_key, "") or "")
        st.button("Queue reply", key=f"cw_send_{row.id}", type="primary", disabled=not fits,
                  on_click=_do_reply, args=(row.ref, text_key, "Reply"))


def move_private(row: InboxRow, user: auth.CurrentUser) -> None:
    """A private message to the author of a public item, with an optional public note."""
    text_key = f"cw_private_{row.id}"
    note_key = f"cw_note_{row.id}"
    st.text_area("Private message", key=text_key, height=110,
                 placeholder="Sent as a direct / private message to the author")
    if note_key not in st.session_state:
        st.session_state[note_key] = DEFAULT_PUBLIC_NOTE
    st.text_input("Public note", key=note_key,
                  help="Left in the public thread so others see the case is handled; "
                       "empty for none.")
    # Like "Queue reply": a text over the platform's limit disables the button, so the
    # counter's line is the one message (a click would only add the refusal's).
    fits = length_counter(row.platform, st.session_state.get(text_key, "") or "", "private")
    note_fits = length_counter(row.platform, st.session_state.get(note_key, "") or "")
    st.button("Move to private", key=f"cw_move_{row.id}", type="primary",
              disabled=not (fits and note_fits),
              on_click=_do_private, args=(row.ref, text_key, note_key))


def show_window(window: MessagingWindow) -> None:
    """Time left while the window is open; when closed, why sending is disabled."""
    if window.open:
        st.caption(plain(f"Messaging window: {window.reason}"))
    else:
        st.warning(plain(f"Sending is disabled: {window.reason}"))


def private_message(db: Database, settings: Settings, row: InboxRow,
                    user: auth.CurrentUser) -> None:
    """A message in the item's private conversation, within its messaging window."""
    channel = spec_for(row.platform).conversation.name
    text_key = f"cw_message_{row.id}"
    window = window_for(db, settings, row)
    if window is None:  # a public item: the public reply tab answers it
        return
    show_window(window)
    with _beside_suggestions(row, user, text_key):
        _canned_picker(db, settings, row, text_key, user)
        st.text_area("Message", key=text_key, height=110,
                     placeholder=f"Sent in the {channel} conversation")
        fits = length_counter(row.platform, st.session_state.get(text_key, "") or "",
                              "message")
        st.button(f"Send in {channel}", key=f"cw_send_{row.id}", type="primary",
                  disabled=not (fits and window.open),
                  on_click=_do_reply, args=(row.ref, text_key, "Message"))
