"""The opened item's conversation: one timeline, oldest to newest, of its case's public
thread and private conversation(s), every item labelled public or private with its channel.

Private text (direct messages, Messenger, Instagram Direct) is for the people who answer
customers: `may_read_private` is checked here and in the customer panel, so a role without
it never gets a private item rendered, whichever page calls these views.
Item text is shown with `st.text` only. A reply of ours the responder could not send yet
says why under it (a missing platform token, a refusal), so a stuck reply never looks sent.
"""

from __future__ import annotations

import streamlit as st

from carewatch.domain import ReplyState, Visibility
from carewatch.log import scrub
from dashboard.components import channel_label, platform_label, stamp, visibility_mark
from dashboard.safe import one_line, plain
from storage.db import Database
from storage.inbox import ThreadItem, conversation

#: The roles that read private messages: agents and managers. Analysts never do.
PRIVATE_READERS = frozenset({"agent", "manager"})


def may_read_private(role: str) -> bool:
    return role in PRIVATE_READERS


def readable(visibility: str, role: str) -> bool:
    """Whether an item of this visibility may be shown to `role`."""
    return visibility != Visibility.PRIVATE.value or may_read_private(role)


def _caption(item: ThreadItem) -> str:
    parts = [item.author, visibility_mark(item.visibility),
             channel_label(item.platform, item.visibility), stamp(item.created_at)]
    if item.is_selected:
        parts.append("this item")
    if item.kind == "reply":
        parts.append(f"reply {item.state}")
    return plain(" · ".join(parts))


def conversation_view(db: Database, mention_id: int, brand: str, role: str) -> None:
    with db.session() as session:
        view = conversation(session, mention_id, brand=brand)
    if view is None:
        return
    items = [item for item in view.items if readable(item.visibility, role)]
    st.subheader("Conversation")
    if view.root_text is not None:
        with st.container(border=True):
            where = platform_label(view.root_platform or "")
            st.caption(plain(f"Post · {view.root_author or 'unknown'} · "
                             f"{visibility_mark(Visibility.PUBLIC.value)} · {where}"))
            st.text(view.root_text)
    elif any(i.is_selected and i.visibility == Visibility.PUBLIC.value for i in items):
        st.caption("The post this belongs to has not been fetched.")
    for item in items:
        with st.container(border=item.is_selected):
            st.caption(_caption(item))
            st.text(item.text)
            if item.problem:  # a failed reply is final: a refusal, a rejection
                status = "Not sent" if item.state == ReplyState.FAILED.value else "Not sent yet"
                st.warning(plain(f"{status}: {scrub(one_line(item.problem, 300))}"))
