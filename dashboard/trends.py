"""Trends page (analysts, managers): what people say about the brand, over time.

Volume by platform, by sentiment and by visibility, echo counts (hour/day/week) and the
negative share come from the `HourlyStat` pre-aggregates, so a month on a store of millions
costs a few hundred rows; every bucket of the range is drawn, empty ones as zeros. Top terms
and response times read a bounded sample of recent mentions. Private messages appear only as
counts: top terms read public texts only, and downloads (the data of `carewatch export
mentions`, generated only when clicked) never include private rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import auth, context, topics
from dashboard.components import platform_choices, platform_label
from storage.db import Database
from storage.export import DEFAULT_MAX_BYTES_ROWS, ExportFilter, export_bytes
from storage.export_files import MEDIA_TYPES
from storage.trends import hourly_volume, response_times, source_volume, top_negative_terms

GRAINS = {"hour": "h", "day": "D", "week": "7D"}  # a bucket's length
TICK_FORMATS = {"hour": "%b %d %H:%M", "day": "%b %d", "week": "%b %d"}
# Tick steps (in buckets) that land on readable boundaries: whole days for hours, weeks for
# days; the smallest that keeps at most MAX_TICKS labels is used.
TICK_STEPS = {"hour": (1, 2, 3, 6, 12, 24, 48, 168), "day": (1, 2, 7, 14, 28),
              "week": (1, 2, 4, 8, 13, 26, 52)}
MAX_TICKS = 12
SENTIMENTS = ("negative", "neutral", "positive")
VISIBILITIES = ("public", "private")
FORMATS = {"CSV": "csv", "XLSX": "xlsx", "Parquet": "parquet"}
SENTIMENT_COLORS = alt.Scale(domain=list(SENTIMENTS), range=["#d62728", "#9e9e9e", "#2ca02c"])
VISIBILITY_COLORS = alt.Scale(domain=list(VISIBILITIES), range=["#1f77b4", "#9467bd"])


def _range(start: date, end: date) -> tuple[datetime, datetime]:
    since = datetime.combine(start, time.min, tzinfo=UTC)
    until = datetime.combine(end, time.min, tzinfo=UTC) + timedelta(days=1)
    return since, until


def _period(moments: pd.Series, grain: str) -> pd.Series:
    """The start of the bucket each moment falls in (weeks start on Monday)."""
    if grain == "week":
        return moments.dt.tz_convert(None).dt.to_period("W-SUN").dt.start_time \
            .dt.tz_localize("UTC")
    return moments.dt.floor(GRAINS[grain])


def periods(since: datetime, until: datetime, grain: str, now: datetime) -> pd.DatetimeIndex:
    """Every bucket from `since` up to `until` (or now, if sooner): a bucket without mentions
    is charted as a zero, not bridged by a straight line."""
    first = _period(pd.Series([pd.Timestamp(since)]), grain).iloc[0]
    end = pd.Timestamp(min(until, now))
    return pd.date_range(first, end, freq=GRAINS[grain], inclusive="left", name="period")


def bucket_counts(hourly: list[dict[str, Any]], by: str, grain: str, buckets: pd.DatetimeIndex,
                  categories: Sequence[str]) -> pd.DataFrame:
    """`count` summed per bucket and `by` category: one row for every bucket and category,
    zero where nothing was counted (so stacked areas stack every category everywhere)."""
    full = pd.MultiIndex.from_product([buckets, list(categories)], names=["period", by])
    frame = pd.DataFrame(hourly, columns=["bucket", by, "count"])
    if frame.empty:
        return pd.DataFrame(0, index=full, columns=["count"]).reset_index()
    frame["period"] = _period(pd.to_datetime(frame["bucket"], utc=True), grain)
    summed = frame.groupby(["period", by])["count"].sum()
    return summed.reindex(full, fill_value=0).astype(int).reset_index()


def count_series(hourly: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pre-aggregated rows as three count series: `public` and `private` items (together
    every item) and `echoes` (the public items that re-share another post). Counts only: a
    private message's text never reaches the page."""
    out = []
    for row in hourly:
        bucket = row["bucket"]
        out.append({"bucket": bucket, "series": "public", "count": row["count"] - row["private"]})
        out.append({"bucket": bucket, "series": "private", "count": row["private"]})
        out.append({"bucket": bucket, "series": "echoes", "count": row["echoes"]})
    return out


def time_axis(buckets: pd.DatetimeIndex, grain: str) -> alt.X:
    """An x axis whose ticks sit on bucket starts, labelled at the bucket's own grain (no hour
    ticks on a daily chart), in UTC like the buckets."""
    step = next((n for n in TICK_STEPS[grain] if len(buckets) <= n * MAX_TICKS),
                TICK_STEPS[grain][-1])
    values = [int(moment.timestamp() * 1000) for moment in buckets[::step]]
    return alt.X("period:T", title=None, scale=alt.Scale(type="utc"),
                 axis=alt.Axis(values=values, format=TICK_FORMATS[grain], labelAngle=0,
                               labelOverlap=True))


def _volume(hourly: list[dict[str, Any]], grain: str, buckets: pd.DatetimeIndex) -> None:
    platforms = sorted({row["platform"] for row in hourly})
    by_platform = bucket_counts(hourly, "platform", grain, buckets, platforms)
    by_platform["platform"] = by_platform["platform"].map(platform_label)
    by_sentiment = bucket_counts(hourly, "sentiment_label", grain, buckets, SENTIMENTS)
    x = time_axis(buckets, grain)
    left, right = st.columns(2, gap="large")
    with left:
        st.caption(f"Mentions per {grain}, by platform")
        st.altair_chart(alt.Chart(by_platform).mark_bar().encode(
            x=x, y=alt.Y("count:Q", title="mentions"),
            color=alt.Color("platform:N"), tooltip=["period:T", "platform:N", "count:Q"],
        ).properties(height=260), width="stretch")
    with right:
        st.caption(f"Mentions per {grain}, by sentiment")
        st.altair_chart(alt.Chart(by_sentiment).mark_area(opacity=0.8).encode(
            x=x, y=alt.Y("count:Q", stack="zero", title="mentions"),
            color=alt.Color("sentiment_label:N", scale=SENTIMENT_COLORS, title="sentiment"),
            order=alt.Order("sentiment_label:N"),
            tooltip=["period:T", "sentiment_label:N", "count:Q"],
        ).properties(height=260), width="stretch")
    totals = by_sentiment.pivot_table(index="period", columns="sentiment_label", values="count",
                                      aggfunc="sum", fill_value=0)
    totals["mentions"] = totals.sum(axis=1)
    neg = totals["negative"]
    totals["negative_share"] = neg / totals["mentions"].clip(lower=1)
    share = totals.reset_index()[["period", "mentions", "negative_share"]]
    all_mentions = int(share["mentions"].sum())
    all_negative = int(neg.sum())
    c1, c2, c3 = st.columns(3)
    c1.metric("Mentions", f"{all_mentions:,}")
    c2.metric("Negative", f"{all_negative:,}")
    c3.metric("Negative share", f"{(all_negative / all_mentions if all_mentions else 0):.1%}")
    st.caption(f"Share of negative mentions per {grain}")
    st.altair_chart(alt.Chart(share).mark_line(point=True, color="#d62728").encode(
        x=x, y=alt.Y("negative_share:Q", axis=alt.Axis(format="%"), title="negative share"),
        tooltip=["period:T", "mentions:Q", alt.Tooltip("negative_share:Q", format=".1%")],
    ).properties(height=200), width="stretch")
    _private_and_echoes(hourly, grain, buckets, x)


def _private_and_echoes(hourly: list[dict[str, Any]], grain: str, buckets: pd.DatetimeIndex,
                        x: alt.X) -> None:
    """Private messages and echoes as counts only: no text of a private message is read."""
    rows = count_series(hourly)
    by_visibility = bucket_counts(rows, "series", grain, buckets, VISIBILITIES)
    echoes = bucket_counts(rows, "series", grain, buckets, ["echoes"])
    private_total = int(by_visibility.loc[by_visibility["series"] == "private", "count"].sum())
    left, right = st.columns(2, gap="large")
    with left:
        st.caption(f"Public and private per {grain} · private messages in range: "
                   f"{private_total:,} (counts only)")
        st.altair_chart(alt.Chart(by_visibility).mark_bar().encode(
            x=x, y=alt.Y("count:Q", stack="zero", title="items"),
            color=alt.Color("series:N", scale=VISIBILITY_COLORS, title="visibility"),
            tooltip=["period:T", "series:N", "count:Q"],
        ).properties(height=220), width="stretch")
    with right:
        st.caption(f"Echoes (retweets and other re-shares) per {grain} · in range: "
                   f"{int(echoes['count'].sum()):,}")
        st.altair_chart(alt.Chart(echoes).mark_bar(color="#ff7f0e").encode(
            x=x, y=alt.Y("count:Q", title="echoes"), tooltip=["period:T", "count:Q"],
        ).properties(height=220), width="stretch")


def _terms(db: Database, since: datetime, until: datetime, platforms: list[str],
           handles: list[str]) -> None:
    with db.session() as session:
        terms = top_negative_terms(session, since, until, platforms,
                                   extra_stopwords=handles)
    st.caption("Top terms in negative mentions (newest 2,000 in range)")
    if not terms:
        st.caption("No negative mentions in range.")
        return
    frame = pd.DataFrame(terms, columns=["term", "mentions"])
    st.altair_chart(alt.Chart(frame).mark_bar(color="#d62728").encode(
        x=alt.X("mentions:Q"), y=alt.Y("term:N", sort="-x", title=None),
        tooltip=["term:N", "mentions:Q"],
    ).properties(height=max(160, 18 * len(frame))), width="stretch")


def _platform_rows(rows: list[dict[str, Any]], title: str, empty: str) -> pd.DataFrame | None:
    """The rows of a per-platform query under their caption, platforms by label; None (and
    `empty` said) when there are none."""
    st.caption(title)
    if not rows:
        st.caption(empty)
        return None
    frame = pd.DataFrame(rows)
    frame["platform"] = frame["platform"].map(platform_label)
    return frame


def _response_times(db: Database, since: datetime, until: datetime,
                    platforms: list[str]) -> None:
    with db.session() as session:
        delays = response_times(session, since, until, platforms)
    frame = _platform_rows(delays, "Time to first response (minutes, newest 5,000 answered "
                           "in range)", "No answered mentions in range.")
    if frame is None:
        return
    st.altair_chart(alt.Chart(frame).mark_bar().encode(
        x=alt.X("minutes:Q", bin=alt.Bin(maxbins=30), title="minutes to first response"),
        y=alt.Y("count():Q", title="mentions"), color="platform:N",
    ).properties(height=220), width="stretch")
    st.caption(f"median {frame['minutes'].median():.0f} min · p90 "
               f"{frame['minutes'].quantile(0.9):.0f} min · {len(frame):,} responses")


def _sources(db: Database, since: datetime, until: datetime, platforms: list[str]) -> None:
    with db.session() as session:
        rows = source_volume(session, since, until, platforms)
    frame = _platform_rows(rows, "Per source", "No data in range.")
    if frame is None:
        return
    st.dataframe(frame, hide_index=True, column_config={
        "negative_share": st.column_config.NumberColumn(format="percent"),
        "mean_sentiment": st.column_config.NumberColumn(format="%.2f")})


def _downloads(db: Database, since: datetime, until: datetime, platforms: list[str],
               hourly: list[dict[str, Any]]) -> None:
    st.subheader("Download")
    # Private messages are never part of a download from this page, whatever the role.
    filters = ExportFilter(platforms=tuple(platforms), include_private=False)
    # The range is whole days, so the hourly counts give exactly the rows a download holds
    # (no scan of the mentions on every render); `export_bytes` counts again when clicked.
    total = sum(row["count"] - row["private"] for row in hourly)
    st.caption(f"{total:,} public mentions in range (private messages are counted above, "
               "never downloaded): the columns of 'carewatch export mentions', "
               "spreadsheet-safe.")
    if total > DEFAULT_MAX_BYTES_ROWS:
        st.warning(f"Too many rows for a browser download (over {DEFAULT_MAX_BYTES_ROWS:,}); "
                   "narrow the range or use 'carewatch export mentions'.")
        return
    stamp = f"{since:%Y%m%d}-{(until - timedelta(days=1)):%Y%m%d}"
    with st.container(horizontal=True, gap="small"):
        for label, fmt in FORMATS.items():
            st.download_button(
                f"Download {label}",
                data=lambda fmt=fmt: export_bytes(db, fmt, since=since, until=until,
                                                  filters=filters),
                file_name=f"carewatch-mentions-{stamp}.{fmt}", mime=MEDIA_TYPES[fmt],
                key=f"cw_download_{fmt}", on_click="ignore",
            )


def trends_page() -> None:
    _user, db = auth.require(auth.PAGE_ROLES["Trends"])
    settings = context.settings()
    st.title("Trends")
    today = datetime.now(UTC).date()
    c1, c2, c3 = st.columns([2, 2, 1])
    with c1:
        picked = st.date_input("Date range", value=(today - timedelta(days=6), today),
                               max_value=today, key="cw_t_range")
    with c2:
        platforms = st.multiselect("Platform", platform_choices(),
                                   format_func=platform_label,
                                   key="cw_t_platform")
    with c3:
        grain = st.radio("Per", list(GRAINS), index=1, horizontal=True, key="cw_t_grain")
    if isinstance(picked, tuple | list):
        start = picked[0] if picked else today
        end = picked[1] if len(picked) > 1 else start
    else:
        start = end = picked
    since, until = _range(start, end)
    with db.session() as session:
        hourly = hourly_volume(session, since, until, platforms)
    if not hourly:
        st.info("No mentions in this range.")
    else:
        buckets = periods(since, until, str(grain), datetime.now(UTC))
        _volume(hourly, str(grain), buckets)
        topics.topic_trends(db, since, until, str(grain), buckets,
                            lambda moments: _period(moments, str(grain)),
                            time_axis(buckets, str(grain)))
    left, right = st.columns(2, gap="large")
    with left:
        _terms(db, since, until, platforms, settings.brand.handles)
    with right:
        _response_times(db, since, until, platforms)
    _sources(db, since, until, platforms)
    _downloads(db, since, until, platforms, hourly)
