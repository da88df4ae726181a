"""Topics in the dashboard: the inbox's topic filter, chip and correction, and the Trends
topic series (volume and negative share per topic).

A correction is an agent's word on one item: stored in `topic_corrections`, audited, shown
at once, counted in the hourly series, and used as a training example at the next
`carewatch topics learn` or `rebuild`. The Trends series reads the per-hour per-topic
pre-aggregate, never the mentions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import auth, context
from dashboard.components import write_then_flash
from dashboard.safe import plain
from storage.db import Database
from storage.inbox import NO_TOPIC, InboxRow
from storage.topics import correct_topic, topic_labels, topic_series

ROLES = auth.PAGE_ROLES["Inbox"]
TOP_TOPICS = 8  # the Trends charts draw the busiest topics; the rest are summed as "other"
OTHER = "(other topics)"

# The queue's topic column: a chip with the topic's name, empty when there is none.
COLUMN = st.column_config.ListColumn(
    "topic", width=110, help="The item's topic (none when no topic is confident); agents "
    "correct it on the opened item.")


def labels(db: Database) -> list[str]:
    with db.session() as session:
        return topic_labels(session)


def topic_filter(db: Database) -> list[str]:
    """The sidebar's topic filter (call inside the sidebar)."""
    return st.multiselect("Topic", [*labels(db), NO_TOPIC], key="cw_f_topic")


def chips(rows: list[InboxRow]) -> list[list[str]]:
    return [[r.topic] if r.topic else [] for r in rows]


def describe(row: InboxRow) -> str:
    if not row.topic:
        return "topic: none"
    if row.topic_confidence is None or row.topic_confidence >= 1.0:
        return f"topic: {row.topic}"
    return f"topic: {row.topic} ({row.topic_confidence:.0%})"


@auth.action(ROLES)
def _do_correct(user: auth.CurrentUser, mention_id: int, choice_key: str) -> None:
    choice = st.session_state.get(choice_key)
    topic = None if choice in (None, NO_TOPIC) else str(choice)
    write_then_flash(context.database(),
                     lambda session: correct_topic(session, mention_id, topic,
                                                   actor=user.username),
                     f"Topic set to {topic}." if topic else "Topic cleared.")


def topic_editor(db: Database, row: InboxRow) -> None:
    """The opened item's topic and the control to correct it."""
    options = labels(db)
    if row.topic and row.topic not in options:
        options = [row.topic, *options]
    options.append(NO_TOPIC)
    current = row.topic or NO_TOPIC
    key = f"cw_topic_{row.id}"
    label = plain(describe(row))
    label = label[:1].upper() + label[1:]  # not str.capitalize: it lowercases the topic
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    with left:
        st.selectbox(label, options,
                     index=options.index(current), key=key,
                     help="Correct the topic: the correction is audited and teaches the "
                          "topic model at the next learn or rebuild.")
    with right:
        st.button("Set topic", key=f"cw_topic_set_{row.id}", on_click=_do_correct,
                  args=(row.id, key))


def series_frame(rows: list[dict[str, Any]], buckets: pd.DatetimeIndex,
                 period: Any) -> pd.DataFrame:
    """Per bucket and topic (the busiest TOP_TOPICS, the rest as OTHER): volume and negative
    share, every bucket present (empty ones as zeros)."""
    frame = pd.DataFrame(rows, columns=["bucket", "topic", "count", "negative"])
    if frame.empty:
        return pd.DataFrame(columns=["period", "topic", "count", "negative", "negative_share"])
    busiest = frame.groupby("topic")["count"].sum().sort_values(ascending=False)
    keep = list(busiest.index[:TOP_TOPICS])
    frame.loc[~frame["topic"].isin(keep), "topic"] = OTHER
    topics = keep + ([OTHER] if len(busiest) > TOP_TOPICS else [])
    frame["period"] = period(pd.to_datetime(frame["bucket"], utc=True))
    summed = frame.groupby(["period", "topic"])[["count", "negative"]].sum()
    full = pd.MultiIndex.from_product([buckets, topics], names=["period", "topic"])
    out = summed.reindex(full, fill_value=0).astype(int).reset_index()
    out["negative_share"] = out["negative"] / out["count"].clip(lower=1)
    return out


def topic_trends(db: Database, since: datetime, until: datetime, grain: str,
                 buckets: pd.DatetimeIndex, period: Any, x: alt.X) -> None:
    """Volume and negative share per topic (all platforms), from the hourly pre-aggregate."""
    st.subheader("Topics")
    with db.session() as session:
        rows = topic_series(session, since, until)
    if not rows:
        st.info("No topics in this range (configure [[topics]] or run "
                "'carewatch topics learn').")
        return
    frame = series_frame(rows, buckets, period)
    totals = frame.groupby("topic")[["count", "negative"]].sum().reset_index()
    totals["negative_share"] = totals["negative"] / totals["count"].clip(lower=1)
    left, right = st.columns(2, gap="large")
    with left:
        st.caption(f"Items per {grain}, by topic (all platforms)")
        st.altair_chart(alt.Chart(frame).mark_line(point=True).encode(
            x=x, y=alt.Y("count:Q", title="items"), color=alt.Color("topic:N"),
            tooltip=["period:T", "topic:N", "count:Q"],
        ).properties(height=260), width="stretch")
    with right:
        st.caption(f"Negative share per {grain}, by topic")
        st.altair_chart(alt.Chart(frame[frame["count"] > 0]).mark_line(point=True).encode(
            x=x, y=alt.Y("negative_share:Q", axis=alt.Axis(format="%"),
                         title="negative share"),
            color=alt.Color("topic:N"),
            tooltip=["period:T", "topic:N", "count:Q",
                     alt.Tooltip("negative_share:Q", format=".1%")],
        ).properties(height=260), width="stretch")
    st.dataframe(totals.rename(columns={"count": "items"}), hide_index=True,
                 key="cw_t_topics", column_config={"negative_share": st.column_config
                                                   .NumberColumn(format="percent")})
