"""Named queries that write and read mentions, authors, threads and sources.

The listener calls `upsert_mentions` and `save_cursor` inside one transaction per page, so a
cursor is never stored ahead of the data it follows. The upsert is keyed on
(platform, external_id): a replay after a crash is harmless and every mention exists once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carewatch import domain
from storage.models import Author, Customer, HourlyStat, Mention, Source, Thread, utcnow

# Keep a statement's bound parameters under SQLite's limit (32766) with room to spare.
_BATCH = 200


@dataclass(slots=True)
class UpsertResult:
    """What an upsert did: ids of mentions new to the store, and how many were seen again."""

    inserted_ids: list[int] = field(default_factory=list)
    inserted_refs: list[str] = field(default_factory=list)
    existing: int = 0


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _chunks(items: Sequence[Any], size: int = _BATCH) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _link_customer(session: Session, author: Author) -> None:
    """Give a new author a customer: the one behind the same handle (or full name) on another
    platform if there is exactly one, else a new customer."""
    if author.customer_id is not None:
        return
    candidates: set[int] = set()
    if author.handle:
        rows = session.execute(
            select(Author.customer_id).where(
                func.lower(Author.handle) == author.handle.lower(),
                Author.platform != author.platform,
                Author.customer_id.is_not(None),
            )
        ).scalars()
        candidates.update(r for r in rows if r is not None)
    if not candidates and author.name and len(author.name.split()) >= 2:
        rows = session.execute(
            select(Author.customer_id).where(
                Author.name == author.name,
                Author.platform != author.platform,
                Author.customer_id.is_not(None),
            )
        ).scalars()
        candidates.update(r for r in rows if r is not None)
    if len(candidates) == 1:
        author.customer_id = candidates.pop()
        return
    customer = Customer(display_name=author.name or author.handle, notes="", tags=[])
    session.add(customer)
    session.flush()
    author.customer_id = customer.id


def upsert_authors(session: Session, authors: Iterable[domain.Author],
                   brand_ids: set[tuple[str, str]] | None = None) -> dict[tuple[str, str], int]:
    """Insert or refresh authors; returns {(platform, external_id): author pk}."""
    latest: dict[tuple[str, str], domain.Author] = {}
    for author in authors:
        latest[(author.platform.value, author.external_id)] = author
    if not latest:
        return {}
    brand_ids = brand_ids or set()
    keys = list(latest)
    existing: dict[tuple[str, str], Author] = {}
    for chunk in _chunks(keys):
        for platform in {p for p, _ in chunk}:
            ids = [e for p, e in chunk if p == platform]
            for row in session.execute(
                select(Author).where(Author.platform == platform, Author.external_id.in_(ids))
            ).scalars():
                existing[(row.platform, row.external_id)] = row
    now = utcnow()
    for key, author in latest.items():
        row = existing.get(key)
        if row is None:
            row = Author(platform=key[0], external_id=key[1], handle=author.handle,
                         name=author.name, followers=author.followers,
                         is_brand=key in brand_ids, updated_at=now)
            session.add(row)
            session.flush()
            if not row.is_brand:
                _link_customer(session, row)
            existing[key] = row
        else:
            row.handle = author.handle or row.handle
            row.name = author.name or row.name
            if author.followers is not None:
                row.followers = author.followers
            row.updated_at = now
    session.flush()
    return {key: row.id for key, row in existing.items()}


def _upsert_threads(session: Session, mentions: Sequence[domain.Mention]) -> dict[tuple[str, str],
                                                                                    int]:
    keys = {(m.platform.value, m.thread_id) for m in mentions if m.thread_id}
    if not keys:
        return {}
    roots = {(m.platform.value, m.external_id): m for m in mentions
             if m.thread_id and m.thread_id == m.external_id}
    out: dict[tuple[str, str], int] = {}
    for platform in {p for p, _ in keys}:
        ids = sorted(t for p, t in keys if p == platform)
        for chunk in _chunks(ids):
            stmt = _insert(session, Thread).values(
                [{"platform": platform, "external_id": t, "created_at": utcnow(),
                  "root_is_own": False} for t in chunk]
            ).on_conflict_do_nothing(index_elements=["platform", "external_id"])
            session.execute(stmt)
            for row in session.execute(
                select(Thread).where(Thread.platform == platform, Thread.external_id.in_(chunk))
            ).scalars():
                out[(platform, row.external_id)] = row.id
                root = roots.get((platform, row.external_id))
                if root is not None and row.root_text is None:
                    row.root_text = root.text
                    row.root_author = root.author.handle or root.author.name
                    row.root_url = root.url
                    row.root_created_at = root.created_at
                    row.root_is_own = root.is_own
    return out


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _count_hourly(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Add newly stored mentions to the hourly pre-aggregates the trend pages read."""
    buckets: dict[tuple[datetime, str, str, str], list[float]] = {}
    for row in rows:
        if row["is_own"]:
            continue
        key = (_hour(row["created_at"]), row["platform"], row["sentiment_label"] or "neutral",
               row["source_key"] or "")
        acc = buckets.setdefault(key, [0, 0.0])
        acc[0] += 1
        acc[1] += row["sentiment"] or 0.0
    for (bucket, platform, label, source_key), (count, total) in buckets.items():
        stmt = _insert(session, HourlyStat).values(
            bucket=bucket, platform=platform, sentiment_label=label, source_key=source_key,
            count=count, sentiment_sum=total,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["bucket", "platform", "sentiment_label", "source_key"],
            set_={"count": HourlyStat.count + count,
                  "sentiment_sum": HourlyStat.sentiment_sum + total},
        )
        session.execute(stmt)


def upsert_mentions(
    session: Session,
    mentions: Sequence[domain.Mention],
    *,
    source_key: str | None = None,
    brand_author_ids: set[tuple[str, str]] | None = None,
) -> UpsertResult:
    """Store a page of mentions exactly once.

    New (platform, external_id) pairs are inserted with their text as received and their
    scores; ones already stored get their counters, reach and raw payload refreshed, and keep
    their text, scores and workflow state. Duplicates inside the page collapse to the last.
    """
    result = UpsertResult()
    if not mentions:
        return result
    unique: dict[tuple[str, str], domain.Mention] = {}
    for mention in mentions:
        unique[(mention.platform.value, mention.external_id)] = mention
    items = list(unique.values())
    author_ids = upsert_authors(session, (m.author for m in items), brand_author_ids)
    thread_ids = _upsert_threads(session, items)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for m in items:
        score = m.score
        rows.append({
            "platform": m.platform.value,
            "external_id": m.external_id,
            "source_key": source_key,
            "thread_pk": thread_ids.get((m.platform.value, m.thread_id)) if m.thread_id else None,
            "thread_id": m.thread_id,
            "parent_id": m.parent_id,
            "author_pk": author_ids.get((m.platform.value, m.author.external_id)),
            "text": m.text,
            "created_at": m.created_at,
            "fetched_at": now,
            "lang": (score.lang if score and score.lang else m.lang),
            "url": m.url,
            "like_count": m.like_count,
            "reply_count": m.reply_count,
            "repost_count": m.repost_count,
            "is_own": m.is_own,
            "raw": m.raw,
            "sentiment": score.sentiment if score else None,
            "sentiment_label": score.sentiment_label.value if score else None,
            "urgency": score.urgency if score else None,
            "urgency_reasons": ";".join(score.urgency_reasons) if score else "",
            "status": domain.Status.CLOSED.value if m.is_own else domain.Status.NEW.value,
            "updated_at": now,
        })
    inserted_keys: set[tuple[str, str]] = set()
    for chunk in _chunks(rows, _BATCH // 2):
        stmt = (
            _insert(session, Mention)
            .values(list(chunk))
            .on_conflict_do_nothing(index_elements=["platform", "external_id"])
            .returning(Mention.id, Mention.platform, Mention.external_id)
        )
        for pk, platform, external_id in session.execute(stmt):
            result.inserted_ids.append(pk)
            result.inserted_refs.append(f"{platform}:{external_id}")
            inserted_keys.add((platform, external_id))
    _count_hourly(session, [r for r in rows if (r["platform"], r["external_id"]) in inserted_keys])
    for row in rows:
        if (row["platform"], row["external_id"]) in inserted_keys:
            continue
        result.existing += 1
        session.execute(
            update(Mention)
            .where(Mention.platform == row["platform"], Mention.external_id == row["external_id"])
            .values(like_count=row["like_count"], reply_count=row["reply_count"],
                    repost_count=row["repost_count"], raw=row["raw"], fetched_at=now)
        )
    return result


def ensure_source(session: Session, key: str, platform: str, kind: str) -> Source:
    source = session.get(Source, key)
    if source is None:
        source = Source(key=key, platform=platform, kind=kind, cursor={}, healthy=True,
                        token_state="ok", consecutive_failures=0, items_total=0)
        session.add(source)
        session.flush()
    return source


def get_cursor(session: Session, key: str) -> dict[str, Any]:
    source = session.get(Source, key)
    return dict(source.cursor or {}) if source else {}


def save_cursor(session: Session, key: str, platform: str, kind: str, cursor: dict[str, Any],
                *, new_items: int = 0, last_item_at: datetime | None = None) -> None:
    """Store the cursor that follows the page just upserted, in the same transaction."""
    source = ensure_source(session, key, platform, kind)
    source.cursor = dict(cursor)
    source.items_total = (source.items_total or 0) + new_items
    if last_item_at is not None and (source.last_item_at is None
                                     or last_item_at > source.last_item_at):
        source.last_item_at = last_item_at


def mark_source_polled(session: Session, key: str, platform: str, kind: str) -> None:
    """A poll finished without error: the source is healthy again."""
    source = ensure_source(session, key, platform, kind)
    now = utcnow()
    source.last_poll_at = now
    source.last_success_at = now
    source.healthy = True
    source.health_message = None
    source.token_state = "ok"
    source.consecutive_failures = 0


def mark_source_failed(session: Session, key: str, platform: str, kind: str, message: str,
                       *, token_state: str | None = None, healthy: bool = False) -> None:
    """A poll failed: keep the reason (never a token) and the next step for the user."""
    source = ensure_source(session, key, platform, kind)
    now = utcnow()
    source.last_poll_at = now
    source.last_error = message
    source.last_error_at = now
    source.healthy = healthy
    source.health_message = message
    source.consecutive_failures = (source.consecutive_failures or 0) + 1
    if token_state:
        source.token_state = token_state


def recent_contacts(session: Session, author_keys: Iterable[tuple[str, str]],
                    *, days: float = 7.0, now: datetime | None = None) -> dict[tuple[str, str],
                                                                               int]:
    """How many mentions each author's customer made on any platform in the last `days`:
    repeat contact is an urgency signal across channels."""
    keys = list(set(author_keys))
    if not keys:
        return {}
    since = (now or utcnow()) - timedelta(days=days)
    out: dict[tuple[str, str], int] = {}
    for chunk in _chunks(keys):
        for platform in {p for p, _ in chunk}:
            ids = [e for p, e in chunk if p == platform]
            authors = session.execute(
                select(Author.external_id, Author.customer_id)
                .where(Author.platform == platform, Author.external_id.in_(ids))
            ).all()
            customers = {c for _, c in authors if c is not None}
            if not customers:
                continue
            counts = dict(session.execute(
                select(Author.customer_id, func.count(Mention.id))
                .join(Mention, Mention.author_pk == Author.id)
                .where(Author.customer_id.in_(customers), Mention.created_at >= since,
                       Mention.is_own.is_(False))
                .group_by(Author.customer_id)
            ).all())
            for external_id, customer_id in authors:
                out[(platform, external_id)] = int(counts.get(customer_id, 0))
    return out


def mention_by_ref(session: Session, ref: domain.MentionRef) -> Mention | None:
    return session.execute(
        select(Mention).where(Mention.platform == ref.platform.value,
                              Mention.external_id == ref.external_id)
    ).scalar_one_or_none()


def count_mentions(session: Session, *, include_own: bool = False) -> int:
    stmt = select(func.count(Mention.id))
    if not include_own:
        stmt = stmt.where(Mention.is_own.is_(False))
    return int(session.execute(stmt).scalar_one())
