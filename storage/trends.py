"""Trends: the hourly pre-aggregates (written with each stored page) and the reads behind
the trend and SLA pages.

Trends read the `HourlyStat` pre-aggregates; everything that has to touch mention texts
(top terms, response times, waiting mentions) is bounded by a LIMIT on an indexed order.
Private messages reach the trend reads only as counts (`private_count`): no read here that
serves analysts selects a private text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carewatch.domain import OPEN_STATUSES, Visibility
from storage.bulk import insert_rows, utc_hour
from storage.inbox import INBOX_COLUMNS, UNASSIGNED, InboxRow, inbox_row
from storage.models import Author, HourlyStat, Mention, utcnow


def add_to_hourly(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Add newly stored mentions to the hourly pre-aggregates the trend pages read: every
    item but the brand's own, and of those how many are private messages and echoes."""
    buckets: dict[tuple[datetime, str, str, str], list[float]] = {}
    private = Visibility.PRIVATE.value  # an enum value is a property read: once, not per row
    for row in rows:
        if row["is_own"]:
            continue
        key = (utc_hour(row["created_at"]), row["platform"], row["sentiment_label"] or "neutral",
               row["source_key"] or "")
        acc = buckets.setdefault(key, [0, 0.0, 0, 0])
        acc[0] += 1
        acc[1] += row["sentiment"] or 0.0
        acc[2] += row["visibility"] == private
        acc[3] += bool(row["is_echo"])
    if not buckets:
        return
    # One statement for the page's buckets, in key order so two writers adding to the
    # same hours lock their rows in the same order.
    insert_rows(
        session, HourlyStat.__table__,
        [{"bucket": bucket, "platform": platform, "sentiment_label": label,
          "source_key": source_key, "count": count, "sentiment_sum": total,
          "private_count": private, "echo_count": echoes}
         for (bucket, platform, label, source_key), (count, total, private, echoes)
         in sorted(buckets.items())],
        conflict=("bucket", "platform", "sentiment_label", "source_key"),
        on_conflict="DO UPDATE SET " + ", ".join(
            f"{c} = hourly_stats.{c} + excluded.{c}"
            for c in ("count", "sentiment_sum", "private_count", "echo_count")))


def hourly_volume(session: Session, since: datetime, until: datetime,
                  platforms: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Per hour, platform and sentiment label: counts and sentiment sums (pre-aggregated),
    and how many of the counted items are private messages and echoes."""
    stmt = (
        select(HourlyStat.bucket, HourlyStat.platform, HourlyStat.sentiment_label,
               func.sum(HourlyStat.count), func.sum(HourlyStat.sentiment_sum),
               func.sum(HourlyStat.private_count), func.sum(HourlyStat.echo_count))
        .where(HourlyStat.bucket >= since, HourlyStat.bucket < until)
        .group_by(HourlyStat.bucket, HourlyStat.platform, HourlyStat.sentiment_label)
        .order_by(HourlyStat.bucket)
    )
    if platforms:
        stmt = stmt.where(HourlyStat.platform.in_(list(platforms)))
    return [{"bucket": r[0], "platform": r[1], "sentiment_label": r[2], "count": int(r[3] or 0),
             "sentiment_sum": float(r[4] or 0.0), "private": int(r[5] or 0),
             "echoes": int(r[6] or 0)} for r in session.execute(stmt).all()]


def source_volume(session: Session, since: datetime, until: datetime,
                  platforms: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Totals per source over the range: count, negative count, mean sentiment."""
    negative = func.sum(HourlyStat.count).filter(HourlyStat.sentiment_label == "negative")
    stmt = (
        select(HourlyStat.source_key, HourlyStat.platform, func.sum(HourlyStat.count), negative,
               func.sum(HourlyStat.sentiment_sum))
        .where(HourlyStat.bucket >= since, HourlyStat.bucket < until)
        .group_by(HourlyStat.source_key, HourlyStat.platform)
        .order_by(func.sum(HourlyStat.count).desc())
    )
    if platforms:
        stmt = stmt.where(HourlyStat.platform.in_(list(platforms)))
    out = []
    for key, platform, count, neg, total in session.execute(stmt).all():
        count = int(count or 0)
        out.append({"source": key or "(unknown)", "platform": platform, "mentions": count,
                    "negative": int(neg or 0),
                    "negative_share": (int(neg or 0) / count) if count else 0.0,
                    "mean_sentiment": (float(total or 0) / count) if count else 0.0})
    return out


_TOKEN = re.compile(r"[^\W\d_][\w'’-]{2,}", re.UNICODE)
STOPWORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't dont down during each few for from further get got had hadn't has hasn't
    have haven't having he her here hers herself him himself his how i i'm im if in into is isn't
    it it's its itself just let's me more most mustn't my myself no nor not now of off on once
    only or other ought our ours ourselves out over own same she should shouldn't so some such
    than that that's the their theirs them themselves then there there's these they they're this
    those through to too under until up very was wasn't we we're were weren't what what's when
    where which while who whom why will with won't would wouldn't you you're your yours yourself
    yourselves still again really even also via amp http https www com get got one just
    like""".split()
)


def top_negative_terms(session: Session, since: datetime, until: datetime,
                       platforms: Sequence[str] = (), *, sample: int = 2000, top: int = 25,
                       extra_stopwords: Iterable[str] = ()) -> list[tuple[str, int]]:
    """Most frequent words in the newest `sample` negative public mentions of the range
    (private texts are never read: analysts see this list).

    Bounded on purpose: a trend page needs the shape of the complaints, not an exact count
    over millions of texts."""
    stmt = (
        select(Mention.text)
        .where(Mention.created_at >= since, Mention.created_at < until,
               Mention.is_own.is_(False), Mention.sentiment_label == "negative",
               Mention.visibility == Visibility.PUBLIC.value)
        .order_by(Mention.created_at.desc()).limit(sample)
    )
    if platforms:
        stmt = stmt.where(Mention.platform.in_(list(platforms)))
    stop = STOPWORDS | {w.lower().lstrip("@") for w in extra_stopwords}
    counts: Counter[str] = Counter()
    for text in session.execute(stmt).scalars():
        words = {w.lower().strip("'’-") for w in _TOKEN.findall(text or "")}
        counts.update(w for w in words if w and w not in stop and not w.startswith("http"))
    return counts.most_common(top)


def response_times(session: Session, since: datetime, until: datetime,
                   platforms: Sequence[str] = (), *, sample: int = 5000) -> list[dict[str, Any]]:
    """First-response delays (minutes) of mentions created in the range, newest `sample`."""
    stmt = (
        select(Mention.platform, Mention.assignee, Mention.created_at, Mention.first_response_at)
        .where(Mention.created_at >= since, Mention.created_at < until,
               Mention.is_own.is_(False), Mention.first_response_at.is_not(None))
        .order_by(Mention.created_at.desc()).limit(sample)
    )
    if platforms:
        stmt = stmt.where(Mention.platform.in_(list(platforms)))
    out = []
    for platform, assignee, created, first in session.execute(stmt).all():
        assert first is not None  # the WHERE keeps only answered mentions
        minutes = max(0.0, (first - created).total_seconds() / 60.0)
        out.append({"platform": platform, "agent": assignee or UNASSIGNED,
                    "minutes": round(minutes, 1)})
    return out


# --- SLA -------------------------------------------------------------------------------------


def sla_waiting(session: Session, *, min_urgency: float = 0.6, now: datetime | None = None,
                limit: int = 50) -> list[dict[str, Any]]:
    """Urgent mentions nobody has answered yet, longest waiting first."""
    now = now or utcnow()
    rows: list[InboxRow] = []
    for status in OPEN_STATUSES:
        found = session.execute(
            select(*INBOX_COLUMNS).outerjoin(Author, Author.id == Mention.author_pk)
            .where(Mention.is_own.is_(False), Mention.status == status,
                   Mention.urgency >= min_urgency, Mention.first_response_at.is_(None))
            .order_by(Mention.urgency.desc()).limit(500)
        ).all()
        rows.extend(inbox_row(r) for r in found)
    rows.sort(key=lambda r: r.created_at)
    return [{"mention": r.ref, "urgency": round(r.urgency or 0.0, 2), "status": r.status,
             "assignee": r.assignee or UNASSIGNED,
             "waiting_minutes": round((now - r.created_at).total_seconds() / 60.0, 1),
             "text": r.text} for r in rows[:limit]]


def agent_response_stats(session: Session, *, days: float = 7.0, now: datetime | None = None,
                         sample: int = 5000) -> list[dict[str, Any]]:
    """Per agent: how many first responses in the last `days`, median and p90 minutes."""
    now = now or utcnow()
    delays = response_times(session, now - timedelta(days=days), now + timedelta(minutes=1),
                            sample=sample)
    per: dict[str, list[float]] = {}
    for row in delays:
        per.setdefault(row["agent"], []).append(row["minutes"])
    out = []
    for agent, values in sorted(per.items()):
        values.sort()
        out.append({"agent": agent, "responses": len(values),
                    "median_minutes": values[len(values) // 2],
                    "p90_minutes": values[min(len(values) - 1, int(len(values) * 0.9))]})
    return out
