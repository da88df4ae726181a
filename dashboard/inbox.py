"""Inbox page (agents, managers): the urgency-sorted queue and one item worked end to end.

Layout, top to bottom, so the most urgent item is on the first screen: a card with the
top item, the queue table (refreshing itself every 15 s in a fragment), then the opened
item: the reply box for its channel, its conversation (public thread and private messages
of the case in one timeline), and the customer across platforms and channels. Private items
(direct messages) carry a lock mark and can be filtered on.
Mention text is only ever shown with `st.text` and dataframe cells.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from carewatch.domain import OPEN_STATUSES, Status, Visibility
from carewatch.settings import Settings
from dashboard import actions, auth, context, outage, reply_box, topics
from dashboard.approvals import approval_queue
from dashboard.components import (
    LOCK,
    ago,
    channel_label,
    flash,
    platform_choices,
    platform_label,
    reason_chips,
    set_flash,
    short_reasons,
    stamp,
    visibility_mark,
)
from dashboard.conversation import conversation_view, readable
from dashboard.customer import customer_panel
from dashboard.routing import routing_note
from dashboard.safe import cell, one_line, plain
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
)
from storage.mentions import mention_by_ref
from storage.users import assignees

# New items (a webhook stores one within tens of milliseconds) reach an open inbox within
# this; the queue query costs a few milliseconds even at a million mentions.
REFRESH = "4s"
TABLE_KEY = "cw_inbox_table"
OPEN_KEY = "cw_open"
REFS_KEY = "cw_inbox_refs"
ROLES = auth.PAGE_ROLES["Inbox"]
VISIBILITY_CHOICES = {"Both": None, "Public": Visibility.PUBLIC.value,
                      "Private": Visibility.PRIVATE.value}


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
        chosen_topics = topics.topic_filter(db)
        visibility = st.radio("Visibility", list(VISIBILITY_CHOICES), horizontal=True,
                              key="cw_f_visibility",
                              help="Private: direct messages, Messenger, Instagram Direct.")
        search = st.text_input("Search text", key="cw_f_search")
    who: str | None = None
    if assignee == "Me":
        who = username
    elif assignee != "Anyone":
        who = assignee
    return InboxFilters(platforms=platforms, statuses=statuses or
                        [s.value for s in Status], sentiments=sentiments,
                        min_urgency=float(min_urgency), assignee=who,
                        langs=chosen_langs, search=search,
                        visibility=VISIBILITY_CHOICES[visibility], topics=chosen_topics)


def _where(row: InboxRow) -> str:
    """The channel, with the lock mark on private items: "X", "🔒 Messenger"."""
    label = channel_label(row.platform, row.visibility)
    return f"{LOCK} {label}" if row.visibility == Visibility.PRIVATE.value else label


def _table(rows: list[InboxRow]) -> pd.DataFrame:
    return pd.DataFrame({
        "urgency": [round(r.urgency, 2) if r.urgency is not None else None for r in rows],
        "reasons": [short_reasons(r.urgency_reasons) for r in rows],
        "topic": topics.chips(rows),
        "channel": [_where(r) for r in rows],
        "author": [cell("@" + r.author_handle if r.author_handle else r.author_name, 40)
                   for r in rows],
        "text": [cell(r.text, 300) for r in rows],
        "status": [f"{r.status} · {one_line(r.assignee, 30)}" if r.assignee else r.status
                   for r in rows],
        "waiting": [ago(r.created_at) for r in rows],
        "mention": [r.ref for r in rows],
    })


# Few, narrow meta columns (pixels), so the text column gets the room: the reasons as chips
# of short codes (negative sentiment is `neg`), the assignee beside the status.
COLUMNS = {
    "urgency": st.column_config.ProgressColumn("urgency", min_value=0.0, max_value=1.0,
                                               format="%.2f", width=65),
    "reasons": st.column_config.ListColumn("reasons", width=105,
                                           help="Urgency reasons: neg = negative, q = "
                                                "question, sla = waiting past the SLA, "
                                                "reach = high reach, lang = unsupported "
                                                "language"),
    "topic": topics.COLUMN,
    "channel": st.column_config.TextColumn("channel", width=120),
    "author": st.column_config.TextColumn("author", width=90),
    "text": st.column_config.TextColumn("text", width=320),
    "status": st.column_config.TextColumn("status", width=100),
    "waiting": st.column_config.TextColumn("waiting", width=80),
    "mention": st.column_config.TextColumn("mention", width=65),
}


@auth.action(ROLES)
def _on_table_select(_user: auth.CurrentUser) -> None:
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
        st.text(f"{_where(top)} · {one_line(author, 60)} · "
                f"urgency {top.urgency if top.urgency is not None else 0:.2f} · "
                f"{top.sentiment_label or 'unscored'} · {ago(top.created_at)} · {top.ref}")
        reason_chips(top.urgency_reasons)
        st.text(top.text)
        if top.assignee:
            st.caption(f"Assigned to {plain(top.assignee)}")


@st.fragment(run_every=REFRESH)
def _queue(filters: InboxFilters) -> None:
    """The queue itself; reruns alone every 15 s so new mentions appear without a click.

    Each run re-checks the user (without extending the idle timer: a refresh is no user
    action); a refused one reruns the whole page, which shows the login or a refusal."""
    with outage.shown(whole_page=True):
        _queue_table(filters)


def _queue_table(filters: InboxFilters) -> None:
    if auth.check(ROLES, touch=False) is None:
        st.rerun()
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
        selection_mode="single-row", hide_index=True, height=360, column_config=COLUMNS,
    )
    if st.session_state.pop("cw_inbox_full_rerun", False):
        st.rerun()


@auth.action(ROLES)
def _do_assign(user: auth.CurrentUser, ref: str, agent_key: str | None = None) -> None:
    """Assign to the agent chosen in `agent_key`'s selectbox, or claim (no key)."""
    agent = st.session_state.get(agent_key) if agent_key else user.username
    outcome = actions.assign(context.database(), ref, agent, by=user.username, role=user.role)
    set_flash("success" if outcome.ok else "error", outcome.message)


@auth.action(ROLES)
def _do_status(user: auth.CurrentUser, ref: str, status_key: str) -> None:
    status = st.session_state.get(status_key) or Status.CLOSED.value
    outcome = actions.set_status(context.database(), ref, status, by=user.username,
                                 role=user.role)
    set_flash("success" if outcome.ok else "error", outcome.message)


@auth.action(ROLES)
def _do_close(user: auth.CurrentUser, ref: str) -> None:
    outcome = actions.set_status(context.database(), ref, Status.CLOSED.value,
                                 by=user.username, role=user.role)
    set_flash("success" if outcome.ok else "error", outcome.message)


def _actions(db: Database, settings: Settings, row: InboxRow,
             user: auth.CurrentUser) -> None:
    mid = row.id
    if row.visibility == Visibility.PRIVATE.value:
        message_tab, team_tab = st.tabs(["Message in the conversation", "Assign & status"])
        with message_tab:
            reply_box.private_message(db, settings, row, user)
    else:
        reply_tab, private_tab, team_tab = st.tabs(["Reply", "Move to private",
                                                    "Assign & status"])
        with reply_tab:
            reply_box.public_reply(db, settings, row, user)
        with private_tab:
            reply_box.move_private(row, user)
    with team_tab:
        with db.session() as session:
            people = assignees(session)
        col_claim, col_close = st.columns(2)
        with col_claim:
            st.button("Claim", key=f"cw_claim_{mid}", on_click=_do_assign, args=(row.ref,),
                      disabled=row.assignee == user.username)
        with col_close:
            st.button("Close", key=f"cw_close_{mid}", on_click=_do_close, args=(row.ref,),
                      disabled=row.status == Status.CLOSED.value)
        if user.role == "manager" or row.assignee in (None, user.username):
            assign_key = f"cw_assign_to_{mid}"
            choices = [p for p in people] or [user.username]
            index = choices.index(row.assignee) if row.assignee in choices else 0
            st.selectbox("Assign to", choices, index=index, key=assign_key)
            st.button("Assign", key=f"cw_assign_{mid}", on_click=_do_assign,
                      args=(row.ref, assign_key))
        status_key = f"cw_status_{mid}"
        statuses = [s.value for s in Status]
        st.selectbox("Status", statuses, index=statuses.index(row.status)
                     if row.status in statuses else 0, key=status_key)
        st.button("Set status", key=f"cw_set_status_{mid}", on_click=_do_status,
                  args=(row.ref, status_key))


def _detail(db: Database, settings: Settings, ref: str, user: auth.CurrentUser) -> None:
    with db.session() as session:
        mention = mention_by_ref(session, ref)
        row = mention_row(session, mention.id) if mention is not None else None
    if row is None:
        st.warning("That mention is no longer in the store.")
        return
    if not readable(row.visibility, user.role):
        st.warning("That item is private.")
        return
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.subheader("Private message" if row.visibility == Visibility.PRIVATE.value
                     else "Mention")
        if row.assignee and row.assignee != user.username:
            st.warning(f"Assigned to {plain(row.assignee)}: they are working on it.")
        elif row.assignee == user.username:
            st.caption("Assigned to you.")
        author = "@" + row.author_handle if row.author_handle else (row.author_name or "?")
        followers = f" · {row.followers:,} followers" if row.followers else ""
        st.text(f"{visibility_mark(row.visibility)} · "
                f"{channel_label(row.platform, row.visibility)} · {one_line(author, 60)}"
                f"{followers} · {stamp(row.created_at)} ({ago(row.created_at)}) · {row.ref}")
        st.text(f"urgency {row.urgency if row.urgency is not None else 0:.2f} · sentiment "
                f"{row.sentiment_label or 'unscored'}"
                f"{f' ({row.sentiment:+.2f})' if row.sentiment is not None else ''} · "
                f"language {row.lang or '?'} · status {row.status}")
        reason_chips(row.urgency_reasons)
        routing_note(db, row.id)  # rules (issue 11)
        with st.container(border=True):
            st.text(row.text)
        topics.topic_editor(db, row)
        _actions(db, settings, row, user)
        conversation_view(db, row.id, settings.brand.name, user.role)
    with right:
        customer_panel(db, row.customer_id, row.id, user.username, user.role)


def inbox_page() -> None:
    user, db = auth.require(ROLES)
    settings = context.settings()
    st.title("Inbox")
    flash()
    approval_queue(db, user)  # managers (issue 11)
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
