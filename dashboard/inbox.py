"""Inbox page (agents, managers): the urgency-sorted queue and one mention worked end to end.

Layout, top to bottom, so the most urgent mention is on the first screen: a card with the
top mention, the queue table (refreshing itself every 15 s in a fragment), then the opened
mention: its thread with the post it answers, the customer across platforms, and the actions.
Mention text is only ever shown with `st.text` and dataframe cells.
"""

from __future__ import annotations

import hashlib
import uuid

import pandas as pd
import streamlit as st

from carewatch.domain import OPEN_STATUSES, Status
from carewatch.settings import Settings
from dashboard import actions, auth, context
from dashboard.components import (
    ago,
    flash,
    length_counter,
    platform_choices,
    platform_label,
    reason_chips,
    set_flash,
    stamp,
)
from dashboard.safe import cell, one_line, plain
from storage.canned import canned_replies
from storage.customers import customer_history, save_customer
from storage.db import Database
from storage.inbox import (
    LANG_UNSUPPORTED,
    SUPPORTED_LANGS,
    UNASSIGNED,
    InboxFilters,
    InboxRow,
    inbox,
    mention_row,
    recent_langs,
    thread,
)
from storage.mentions import mention_by_ref
from storage.users import assignees

REFRESH = "15s"
TABLE_KEY = "cw_inbox_table"
OPEN_KEY = "cw_open"
REFS_KEY = "cw_inbox_refs"
DEFAULT_PUBLIC_NOTE = "We've sent you a private message so we can look into this with you."


def _filters(db: Database, username: str) -> InboxFilters:
    with st.sidebar:
        st.subheader("Filters")
        platforms = st.multiselect("Platform", platform_choices(),
                                   format_func=platform_label,
                                   key="cw_f_platform")
        statuses = st.multiselect("Status", [s.value for s in Status],
                                  default=list(OPEN_STATUSES), key="cw_f_status")
        sentiments = st.multiselect("Sentiment", ["negative", "neutral", "positive"],
                                    key="cw_f_sentiment")
        min_urgency = st.slider("Minimum urgency", 0.0, 1.0, 0.0, 0.05, key="cw_f_urgency")
        with db.session() as session:
            people = assignees(session)
            langs = recent_langs(session)
        assignee = st.selectbox("Assignee", ["Anyone", "Me", UNASSIGNED, *people],
                                key="cw_f_assignee")
        lang_options = sorted(set(langs) | set(SUPPORTED_LANGS))
        chosen_langs = st.multiselect("Language", [*lang_options, LANG_UNSUPPORTED],
                                      key="cw_f_lang")
        search = st.text_input("Search text", key="cw_f_search")
    who: str | None = None
    if assignee == "Me":
        who = username
    elif assignee != "Anyone":
        who = assignee
    return InboxFilters(platforms=platforms, statuses=statuses or
                        [s.value for s in Status], sentiments=sentiments,
                        min_urgency=float(min_urgency), assignee=who,
                        langs=chosen_langs, search=search)


def _table(rows: list[InboxRow]) -> pd.DataFrame:
    return pd.DataFrame({
        "urgency": [round(r.urgency, 2) if r.urgency is not None else None for r in rows],
        "reasons": [cell(", ".join(r.urgency_reasons), 120) for r in rows],
        "platform": [platform_label(r.platform) for r in rows],
        "author": [cell("@" + r.author_handle if r.author_handle else r.author_name, 60)
                   for r in rows],
        "text": [cell(r.text, 300) for r in rows],
        "sentiment": [r.sentiment_label or "" for r in rows],
        "status": [r.status for r in rows],
        "assignee": [r.assignee or "" for r in rows],
        "waiting": [ago(r.created_at) for r in rows],
        "mention": [r.ref for r in rows],
    })


def _on_table_select() -> None:
    state = st.session_state.get(TABLE_KEY)
    selection = getattr(state, "selection", None) or (state or {}).get("selection", {})
    rows = getattr(selection, "rows", None)
    if rows is None and isinstance(selection, dict):
        rows = selection.get("rows", [])
    refs = st.session_state.get(REFS_KEY, [])
    if rows and rows[0] < len(refs):
        st.session_state[OPEN_KEY] = refs[rows[0]]
        st.session_state["cw_inbox_full_rerun"] = True


def _top_card(top: InboxRow) -> None:
    with st.container(border=True, key="cw_top_card"):
        st.caption("Most urgent")
        author = "@" + top.author_handle if top.author_handle else (top.author_name or "?")
        st.text(f"{platform_label(top.platform)} · {one_line(author, 60)} · "
                f"urgency {top.urgency if top.urgency is not None else 0:.2f} · "
                f"{top.sentiment_label or 'unscored'} · {ago(top.created_at)} · {top.ref}")
        reason_chips(top.urgency_reasons)
        st.text(top.text)
        if top.assignee:
            st.caption(f"Assigned to {plain(top.assignee)}")


@st.fragment(run_every=REFRESH)
def _queue(filters: InboxFilters) -> None:
    """The queue itself; reruns alone every 15 s so new mentions appear without a click."""
    db = context.database()
    with db.session() as session:
        page = inbox(session, filters)
    if not page.rows:
        st.info("Nothing in the queue for these filters.")
        st.session_state[REFS_KEY] = []
        return
    _top_card(page.rows[0])
    total = f"{page.total:,}+" if page.total_capped else f"{page.total:,}"
    st.caption(f"{total} matching · showing the {len(page.rows)} most urgent · refreshes "
               f"every {REFRESH}")
    st.session_state[REFS_KEY] = [r.ref for r in page.rows]
    st.dataframe(
        _table(page.rows), key=TABLE_KEY, on_select=_on_table_select,
        selection_mode="single-row", hide_index=True, height=360,
        column_config={
            "urgency": st.column_config.ProgressColumn("urgency", min_value=0.0, max_value=1.0,
                                                       format="%.2f", width="small"),
            "text": st.column_config.TextColumn("text", width="large"),
        },
    )
    if st.session_state.pop("cw_inbox_full_rerun", False):
        st.rerun()


def _customer_panel(db: Database, customer_id: int | None, current_id: int, username: str
                    ) -> None:
    st.subheader("Customer")
    if customer_id is None:
        st.caption("No customer record for this author.")
        return
    with db.session() as session:
        view = customer_history(session, customer_id)
    if view is None:
        st.caption("No customer record for this author.")
        return
    st.text(one_line(view.display_name or "unnamed", 80))
    st.text("Accounts: " + ", ".join(f"{platform_label(p)} {one_line(h, 60)}"
                                      for p, h in view.accounts))
    earlier = [m for m in view.mentions if m.id != current_id]
    st.caption(f"Earlier mentions on every platform ({len(earlier)})")
    if earlier:
        st.dataframe(pd.DataFrame({
            "when": [stamp(m.created_at) for m in earlier],
            "platform": [platform_label(m.platform) for m in earlier],
            "text": [cell(m.text, 300) for m in earlier],
            "sentiment": [m.sentiment_label or "" for m in earlier],
            "status": [m.status for m in earlier],
        }), hide_index=True, height=180)
    st.caption(f"Replies from the team ({len(view.replies)})")
    if view.replies:
        st.dataframe(pd.DataFrame({
            "when": [stamp(r["at"]) for r in view.replies],
            "to": [r["to"] for r in view.replies],
            "kind": [r["kind"] for r in view.replies],
            "state": [r["state"] for r in view.replies],
            "agent": [r["agent"] or "" for r in view.replies],
            "text": [cell(r["text"], 300) for r in view.replies],
        }), hide_index=True, height=150)
    with st.form(f"cw_customer_{customer_id}"):
        notes = st.text_area("Notes", value=view.notes, key=f"cw_notes_{customer_id}")
        tags = st.multiselect("Tags", options=view.tags, default=view.tags,
                              accept_new_options=True, key=f"cw_tags_{customer_id}")
        if st.form_submit_button("Save notes and tags"):
            with db.write() as session:
                save_customer(session, customer_id, notes=notes, tags=tags,
                              actor=username)
            st.success("Customer notes saved.")


def _thread(db: Database, mention_id: int, brand: str) -> None:
    with db.session() as session:
        view = thread(session, mention_id, brand=brand)
    if view is None:
        return
    st.subheader("Thread")
    with st.container(border=True):
        if view.root_text is not None:
            st.caption(f"Post · {plain(view.root_author or 'unknown')}")
            st.text(view.root_text)
        else:
            st.caption("The post this belongs to has not been fetched.")
    for item in view.items:
        with st.container(border=item.is_selected):
            label = item.author + (" · this mention" if item.is_selected else "")
            if item.kind == "reply":
                label += f" · reply {item.state}"
            st.caption(f"{plain(label)} · {stamp(item.created_at)}")
            st.text(item.text)


def _canned_options(db: Database, settings: Settings) -> dict[str, str]:
    with db.session() as session:
        stored = {row.name: row.text for row in canned_replies(session)}
    for canned in settings.canned_replies:
        stored.setdefault(canned.name, canned.text)
    return stored


def _use_canned(text_key: str, choice_key: str, options: dict[str, str], ref: str,
                user: auth.CurrentUser) -> None:
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


def _do_reply(ref: str, text_key: str, user: auth.CurrentUser) -> None:
    text = st.session_state.get(text_key, "") or ""
    if not text.strip():
        set_flash("error", "Write a reply first.")
        return
    current = context.settings()
    outcome = actions.queue_reply(context.database(current), current, ref, text,
                                  agent=user.username, role=user.role,
                                  client_key=_client_key(text_key, text))
    set_flash("success" if outcome.ok else "error", outcome.message)
    if outcome.ok:
        st.session_state[text_key] = ""
        st.session_state.pop(f"{text_key}_nonce", None)


def _do_private(ref: str, text_key: str, note_key: str, user: auth.CurrentUser) -> None:
    text = st.session_state.get(text_key, "") or ""
    if not text.strip():
        set_flash("error", "Write the private message first.")
        return
    current = context.settings()
    note = st.session_state.get(note_key, "") or ""
    outcome = actions.move_private(context.database(current), current, ref, text,
                                   public_note=note, agent=user.username, role=user.role,
                                   client_key=_client_key(text_key, text, note))
    set_flash("success" if outcome.ok else "error", outcome.message)
    if outcome.ok:
        st.session_state[text_key] = ""
        st.session_state.pop(f"{text_key}_nonce", None)


def _do_assign(ref: str, agent: str | None, user: auth.CurrentUser) -> None:
    outcome = actions.assign(context.database(), ref, agent, by=user.username, role=user.role)
    set_flash("success" if outcome.ok else "error", outcome.message)


def _do_status(ref: str, status_key: str, user: auth.CurrentUser) -> None:
    status = st.session_state.get(status_key) or Status.CLOSED.value
    outcome = actions.set_status(context.database(), ref, status, by=user.username,
                                 role=user.role)
    set_flash("success" if outcome.ok else "error", outcome.message)


def _do_close(ref: str, user: auth.CurrentUser) -> None:
    outcome = actions.set_status(context.database(), ref, Status.CLOSED.value,
                                 by=user.username, role=user.role)
    set_flash("success" if outcome.ok else "error", outcome.message)


def _actions(db: Database, settings: Settings, row: InboxRow,
             user: auth.CurrentUser) -> None:
    mid = row.id
    reply_tab, private_tab, team_tab = st.tabs(["Reply", "Move to private", "Assign & status"])
    with reply_tab:
        options = _canned_options(db, settings)
        text_key = f"cw_reply_{mid}"
        if options:
            choice_key = f"cw_canned_{mid}"
            col_choice, col_use = st.columns([3, 1], vertical_alignment="bottom")
            with col_choice:
                st.selectbox("Canned reply", list(options), key=choice_key)
            with col_use:
                st.button("Use canned reply", key=f"cw_use_canned_{mid}", on_click=_use_canned,
                          args=(text_key, choice_key, options, row.ref, user))
        st.text_area("Reply", key=text_key, height=110,
                     placeholder="Public reply in the thread")
        fits = length_counter(row.platform, st.session_state.get(text_key, "") or "")
        st.button("Queue reply", key=f"cw_send_{mid}", type="primary", disabled=not fits,
                  on_click=_do_reply, args=(row.ref, text_key, user))
    with private_tab:
        text_key = f"cw_private_{mid}"
        note_key = f"cw_note_{mid}"
        st.text_area("Private message", key=text_key, height=110,
                     placeholder="Sent as a direct / private message to the author")
        if note_key not in st.session_state:
            st.session_state[note_key] = DEFAULT_PUBLIC_NOTE
        st.text_input("Public note", key=note_key,
                      help="Left in the public thread so others see the case is handled; "
                           "empty for none.")
        length_counter(row.platform, st.session_state.get(text_key, "") or "", "private")
        length_counter(row.platform, st.session_state.get(note_key, "") or "")
        st.button("Move to private", key=f"cw_move_{mid}", type="primary",
                  on_click=_do_private, args=(row.ref, text_key, note_key, user))
    with team_tab:
        with db.session() as session:
            people = assignees(session)
        col_claim, col_close = st.columns(2)
        with col_claim:
            st.button("Claim", key=f"cw_claim_{mid}", on_click=_do_assign,
                      args=(row.ref, user.username, user),
                      disabled=row.assignee == user.username)
        with col_close:
            st.button("Close", key=f"cw_close_{mid}", on_click=_do_close, args=(row.ref, user),
                      disabled=row.status == Status.CLOSED.value)
        if user.role == "manager" or row.assignee in (None, user.username):
            assign_key = f"cw_assign_to_{mid}"
            choices = [p for p in people] or [user.username]
            index = choices.index(row.assignee) if row.assignee in choices else 0
            st.selectbox("Assign to", choices, index=index, key=assign_key)
            st.button("Assign", key=f"cw_assign_{mid}", on_click=lambda: _do_assign(
                row.ref, st.session_state.get(assign_key), user))
        status_key = f"cw_status_{mid}"
        statuses = [s.value for s in Status]
        st.selectbox("Status", statuses, index=statuses.index(row.status)
                     if row.status in statuses else 0, key=status_key)
        st.button("Set status", key=f"cw_set_status_{mid}", on_click=_do_status,
                  args=(row.ref, status_key, user))


def _detail(db: Database, settings: Settings, ref: str, user: auth.CurrentUser) -> None:
    with db.session() as session:
        mention = mention_by_ref(session, ref)
        row = mention_row(session, mention.id) if mention is not None else None
    if row is None:
        st.warning("That mention is no longer in the store.")
        return
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.subheader("Mention")
        if row.assignee and row.assignee != user.username:
            st.warning(f"Assigned to {plain(row.assignee)}: they are working on it.")
        elif row.assignee == user.username:
            st.caption("Assigned to you.")
        author = "@" + row.author_handle if row.author_handle else (row.author_name or "?")
        followers = f" · {row.followers:,} followers" if row.followers else ""
        st.text(f"{platform_label(row.platform)} · {one_line(author, 60)}"
                f"{followers} · {stamp(row.created_at)} ({ago(row.created_at)}) · {row.ref}")
        st.text(f"urgency {row.urgency if row.urgency is not None else 0:.2f} · sentiment "
                f"{row.sentiment_label or 'unscored'}"
                f"{f' ({row.sentiment:+.2f})' if row.sentiment is not None else ''} · "
                f"language {row.lang or '?'} · status {row.status}")
        reason_chips(row.urgency_reasons)
        with st.container(border=True):
            st.text(row.text)
        _actions(db, settings, row, user)
        _thread(db, row.id, settings.brand.name)
    with right:
        _customer_panel(db, row.customer_id, row.id, user.username)


def inbox_page() -> None:
    user, db = auth.require(auth.PAGE_ROLES["Inbox"])
    settings = context.settings()
    st.title("Inbox")
    flash()
    filters = _filters(db, user.username)
    _queue(filters)
    refs: list[str] = list(st.session_state.get(REFS_KEY, []))
    opened = st.session_state.get(OPEN_KEY)
    if opened and opened not in refs:
        refs = [opened, *refs]
    if not refs:
        return
    st.divider()
    if OPEN_KEY not in st.session_state:
        st.session_state[OPEN_KEY] = refs[0]
    ref = st.selectbox("Open mention", refs, key=OPEN_KEY,
                       help="Or select a row in the queue above.")
    if ref:
        _detail(db, settings, ref, user)
