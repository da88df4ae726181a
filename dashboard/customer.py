"""The customer panel beside an opened item: one person across platforms and channels, with
their earlier messages and the team's replies in full (never cut short), each labelled with
its channel and whether it was said in public or in private, and the team's notes and tags.

Private items are only rendered for roles that may read them (`conversation.readable`).
Texts are shown with `st.text`.

Accounts are one customer only on evidence (the platform's ids, or an agent's merge). The
panel offers likely matches (same handle on another platform, same full name), each with its
reason, for a one-click "Same person" merge; every merge it shows can be split again. Both
are callbacks that re-read the user (`auth.action`): agents and managers only, audited with
the agent's name. An author the platform did not identify has no customer at all.
"""

from __future__ import annotations

from collections.abc import Sized
from datetime import datetime
from typing import Literal

import streamlit as st

from carewatch.domain import Visibility
from dashboard import auth, context
from dashboard.components import (
    channel_label,
    platform_label,
    stamp,
    visibility_mark,
    write_then_flash,
)
from dashboard.conversation import readable
from dashboard.safe import one_line, plain
from storage.customer_links import (
    LikelyMatch,
    MergedRecord,
    likely_matches,
    merge_customers,
    split_merge,
)
from storage.customers import customer_history, save_customer
from storage.db import Database
from storage.inbox import PRIVATE_REPLY_KINDS

ROLES = auth.PAGE_ROLES["Inbox"]
UNKNOWN_AUTHOR = ("Author unknown: the platform did not say who wrote this, so it has no "
                  "customer record, no history and no notes.")


def _entry(when: datetime | None, platform: str, visibility: str, details: list[str],
           text: str) -> None:
    label = [stamp(when), visibility_mark(visibility), channel_label(platform, visibility),
             *[d for d in details if d]]
    st.caption(plain(" · ".join(label)))
    st.text(text)


def _scroll(entries: Sized, height: int) -> int | Literal["content"]:
    """A fixed, scrolling height only when the entries would not fit in it."""
    return height if len(entries) > 3 else "content"


def _accounts_text(accounts: list[tuple[str, str]]) -> str:
    # A person's public and private accounts on one platform often read the same.
    return ", ".join(dict.fromkeys(f"{platform_label(p)} {one_line(h, 60)}"
                                   for p, h in accounts))


@auth.action(ROLES)
def _do_merge(user: auth.CurrentUser, customer_id: int, other_id: int, reason: str) -> None:
    """"Same person": the other customer's accounts join this one (audited as the agent)."""
    write_then_flash(context.database(),
                     lambda session: merge_customers(
                         session, customer_id, other_id, actor=user.username,
                         reason=f"confirmed by {user.username}: {reason}"),
                     "Merged: the accounts are one customer now.")


@auth.action(ROLES)
def _do_split(user: auth.CurrentUser, customer_id: int, merge_id: int) -> None:
    """"Not the same person": undo a merge (audited as the agent)."""
    write_then_flash(context.database(),
                     lambda session: split_merge(session, customer_id, merge_id,
                                                 actor=user.username),
                     "Split: those accounts are a customer of their own again.")


def _merged(customer_id: int, records: list[MergedRecord]) -> None:
    for record in records:
        with st.container(border=True, key=f"cw_merged_{record.merge_id}"):
            st.caption(plain(f"Merged by {one_line(record.actor, 40)} · {stamp(record.merged_at)}"
                             f" · {one_line(record.reason, 200)}"))
            st.text(_accounts_text(record.accounts))
            if record.notes or record.tags:
                st.text(f"Their own notes: {one_line(record.notes, 300)}"
                        + (f" · tags: {', '.join(record.tags)}" if record.tags else ""))
            st.button("Not the same person (split)", key=f"cw_split_{record.merge_id}",
                      on_click=_do_split, args=(customer_id, record.merge_id))


def _matches(customer_id: int, matches: list[LikelyMatch]) -> None:
    st.caption("Likely the same person? Not linked until you confirm.")
    for match in matches:
        with st.container(border=True, key=f"cw_match_{match.customer_id}"):
            st.text(_accounts_text(match.accounts))
            st.caption(plain(match.reason))
            st.button("Same person", key=f"cw_merge_{customer_id}_{match.customer_id}",
                      on_click=_do_merge, args=(customer_id, match.customer_id, match.reason))


def customer_panel(db: Database, customer_id: int | None, current_id: int, username: str,
                   role: str) -> None:
    st.subheader("Customer")
    view = None
    matches: list[LikelyMatch] = []
    if customer_id is not None:
        with db.session() as session:
            view = customer_history(session, customer_id)
            matches = likely_matches(session, customer_id)
    if customer_id is None:
        st.caption(UNKNOWN_AUTHOR)
        return
    if view is None:
        st.caption("No customer record for this author.")
        return
    st.text(one_line(view.display_name or "unnamed", 80))
    st.text("Accounts: " + _accounts_text(view.accounts))
    _merged(customer_id, view.merged)
    if matches:
        _matches(customer_id, matches)
    earlier = [m for m in view.mentions
               if m.id != current_id and readable(m.visibility, role)]
    st.caption(f"Their other messages on every platform and channel ({len(earlier)})")
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
