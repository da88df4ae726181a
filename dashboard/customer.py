"""The customer panel beside an opened item: one person across platforms and channels, with
their earlier messages and the team's replies in full (never cut short), each labelled with
its channel and whether it was said in public or in private, and the team's notes and tags.

Private items are only rendered for roles that may read them (`conversation.readable`).
Texts are shown with `st.text`.
"""

from __future__ import annotations

from collections.abc import Sized
from datetime import datetime
from typing import Literal

import streamlit as st

from carewatch.domain import Visibility
from dashboard.components import channel_label, platform_label, stamp, visibility_mark
from dashboard.conversation import readable
from dashboard.safe import one_line, plain
from storage.customers import customer_history, save_customer
from storage.db import Database
from storage.inbox import PRIVATE_REPLY_KINDS


def _entry(when: datetime | None, platform: str, visibility: str, details: list[str],
           text: str) -> None:
    label = [stamp(when), visibility_mark(visibility), channel_label(platform, visibility),
             *[d for d in details if d]]
    st.caption(plain(" · ".join(label)))
    st.text(text)


def _scroll(entries: Sized, height: int) -> int | Literal["content"]:
    """A fixed, scrolling height only when the entries would not fit in it."""
    return height if len(entries) > 3 else "content"


def customer_panel(db: Database, customer_id: int | None, current_id: int, username: str,
                   role: str) -> None:
    st.subheader("Customer")
    view = None
    if customer_id is not None:
        with db.session() as session:
            view = customer_history(session, customer_id)
    if view is None or customer_id is None:
        st.caption("No customer record for this author.")
        return
    st.text(one_line(view.display_name or "unnamed", 80))
    # A person's public and private accounts on one platform often read the same.
    st.text("Accounts: " + ", ".join(dict.fromkeys(f"{platform_label(p)} {one_line(h, 60)}"
                                                   for p, h in view.accounts)))
    earlier = [m for m in view.mentions
               if m.id != current_id and readable(m.visibility, role)]
    st.caption(f"Earlier messages on every platform and channel ({len(earlier)})")
    if earlier:
        with st.container(height=_scroll(earlier, 320), key="cw_customer_history"):
            for m in earlier:
                _entry(m.created_at, m.platform, m.visibility,
                       [m.sentiment_label or "", m.status, m.ref], m.text)
    replies = [(r, Visibility.PRIVATE.value if r["kind"] in PRIVATE_REPLY_KINDS
                else Visibility.PUBLIC.value) for r in view.replies]
    replies = [(r, visibility) for r, visibility in replies if readable(visibility, role)]
    st.caption(f"Replies from the team ({len(replies)})")
    if replies:
        with st.container(height=_scroll(replies, 240), key="cw_customer_replies"):
            for r, visibility in replies:
                _entry(r["at"], r["to"].split(":", 1)[0], visibility,
                       [f"{r['kind']} {r['state']}", r["agent"] or "", f"to {r['to']}"],
                       r["text"])
    with st.form(f"cw_customer_{customer_id}"):
        notes = st.text_area("Notes", value=view.notes, key=f"cw_notes_{customer_id}")
        tags = st.multiselect("Tags", options=view.tags, default=view.tags,
                              accept_new_options=True, key=f"cw_tags_{customer_id}")
        if st.form_submit_button("Save notes and tags"):
            with db.write() as session:
                save_customer(session, customer_id, notes=notes, tags=tags,
                              actor=username)
            st.success("Customer notes saved.")
