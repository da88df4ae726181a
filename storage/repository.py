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

from sqlalchemy import Row, bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload

from carewatch import domain
from storage.models import (
    Author,
    Customer,
    HourlyStat,
    JSONType,
    Mention,
    Source,
    Thread,
    UTCDateTime,
    utcnow,
)
from storage.queries import OPEN_STATUSES

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


def _link_customers(session: Session, new_authors: list[tuple[int, str, str | None,
                                                               str | None]]) -> None:
    """Give new authors a customer: the one behind the same handle (or the same full name) on
    another platform when exactly one matches, else a new customer each. Batched: a page of
    new authors costs a handful of statements, not a few per author."""
    if not new_authors:
        return
    handles = {h.lower() for _, _, h, _ in new_authors if h}
    names = {n for _, _, _, n in new_authors if n and len(n.split()) >= 2}
    by_handle: dict[tuple[str, str], set[int]] = {}
    by_name: dict[tuple[str, str], set[int]] = {}
    for chunk in _chunks(sorted(handles)):
        for platform, handle, customer_id in session.execute(
            select(Author.platform, func.lower(Author.handle), Author.customer_id).where(
                func.lower(Author.handle).in_(chunk), Author.customer_id.is_not(None))
        ):
            by_handle.setdefault((platform, handle), set()).add(customer_id)
    for chunk in _chunks(sorted(names)):
        for platform, name, customer_id in session.execute(
            select(Author.platform, Author.name, Author.customer_id).where(
                Author.name.in_(chunk), Author.customer_id.is_not(None))
        ):
            by_name.setdefault((platform, name), set()).add(customer_id)

    def others(index: dict[tuple[str, str], set[int]], platform: str, value: str) -> set[int]:
        found: set[int] = set()
        for (p, v), ids in index.items():
            if v == value and p != platform:
                found |= ids
        return found

    links: dict[int, int] = {}
    lonely: list[tuple[int, str | None, str | None]] = []
    for author_id, platform, handle, name in new_authors:
        candidates = others(by_handle, platform, handle.lower()) if handle else set()
        if not candidates and name and name in names:
            candidates = others(by_name, platform, name)
        if len(candidates) == 1:
            links[author_id] = next(iter(candidates))
        else:
            lonely.append((author_id, handle, name))
    if lonely:
        now = utcnow()
        created = session.execute(
            insert(Customer).returning(Customer.id, sort_by_parameter_order=True),
            [{"display_name": name or handle, "notes": "", "tags": [], "created_at": now}
             for _, handle, name in lonely],
        ).scalars().all()
        links.update({author_id: cid for (author_id, _, _), cid in zip(lonely, created,
                                                                        strict=True)})
    authors = Author.__table__
    session.execute(
        update(authors).where(authors.c.id == bindparam("b_id")).values(
            customer_id=bindparam("b_customer")),
        [{"b_id": a, "b_customer": c} for a, c in links.items()],
    )


def upsert_authors(session: Session, authors: Iterable[domain.Author],
                   brand_ids: set[tuple[str, str]] | None = None) -> dict[tuple[str, str], int]:
    """Insert or refresh authors; returns {(platform, external_id): author pk}.

    One read of the page's authors, then an insert of the new ones (ON CONFLICT DO NOTHING,
    so a concurrent writer storing the same new author is harmless) and an update of the
    ones whose handle, name or reach changed: a steady stream of known authors writes
    nothing."""
    latest: dict[tuple[str, str], domain.Author] = {}
    for author in authors:
        latest[(author.platform.value, author.external_id)] = author
    if not latest:
        return {}
    brand_ids = brand_ids or set()
    table = Author.__table__
    known: dict[tuple[str, str], Any] = {}
    for platform in {p for p, _ in latest}:
        ids = [e for p, e in latest if p == platform]
        for chunk in _chunks(ids):
            for row in session.execute(
                select(table.c.id, table.c.external_id, table.c.handle, table.c.name,
                       table.c.followers)
                .where(table.c.platform == platform, table.c.external_id.in_(chunk))
            ):
                known[(platform, row.external_id)] = row
    now = utcnow()
    out: dict[tuple[str, str], int] = {key: row.id for key, row in known.items()}
    fresh = [{"platform": p, "external_id": e, "handle": a.handle, "name": a.name,
              "followers": a.followers, "is_brand": (p, e) in brand_ids, "updated_at": now}
             for (p, e), a in latest.items() if (p, e) not in known]
    if fresh:
        inserted = session.execute(
            _insert(session, table).on_conflict_do_nothing(
                index_elements=["platform", "external_id"]
            ).returning(table.c.id, table.c.platform, table.c.external_id, table.c.handle,
                        table.c.name, table.c.is_brand),
            fresh,
        ).all()
        out.update({(r.platform, r.external_id): r.id for r in inserted})
        _link_customers(session, [(r.id, r.platform, r.handle, r.name) for r in inserted
                                  if not r.is_brand])
        raced = [(r["platform"], r["external_id"]) for r in fresh
                 if (r["platform"], r["external_id"]) not in out]
        for platform, external_id in raced:  # stored meanwhile by another writer
            out[(platform, external_id)] = session.execute(
                select(table.c.id).where(table.c.platform == platform,
                                         table.c.external_id == external_id)
            ).scalar_one()
    changed = [
        {"b_id": row.id, "b_handle": a.handle or row.handle, "b_name": a.name or row.name,
         "b_followers": a.followers if a.followers is not None else row.followers,
         "b_now": now}
        for key, row in known.items()
        for a in (latest[key],)
        if (a.handle and a.handle != row.handle) or (a.name and a.name != row.name)
        or (a.followers is not None and a.followers != row.followers)
    ]
    if changed:
        session.execute(
            update(table).where(table.c.id == bindparam("b_id")).values(
                handle=bindparam("b_handle"), name=bindparam("b_name"),
                followers=bindparam("b_followers"),
                updated_at=bindparam("b_now", type_=UTCDateTime)),
            changed,
        )
    return out


def _upsert_threads(session: Session, mentions: Sequence[domain.Mention]) -> dict[tuple[str, str],
                                                                                    int]:
    """Make sure every thread of the page exists; fill in its root post once it is seen.
    Returns {(platform, thread external id): thread pk}."""
    keys = sorted({(m.platform.value, m.thread_id) for m in mentions if m.thread_id})
    if not keys:
        return {}
    threads = Thread.__table__
    now = utcnow()
    root_of = {(m.platform.value, m.external_id): m for m in mentions
               if m.thread_id and m.thread_id == m.external_id}

    def row(platform: str, thread: str) -> dict[str, Any]:
        root = root_of.get((platform, thread))
        return {"platform": platform, "external_id": thread, "created_at": now,
                "root_text": root.text if root else None,
                "root_author": (root.author.handle or root.author.name) if root else None,
                "root_url": root.url if root else None,
                "root_created_at": root.created_at if root else None,
                "root_is_own": bool(root and root.is_own)}

    session.execute(
        _insert(session, threads).on_conflict_do_nothing(
            index_elements=["platform", "external_id"]),
        [row(p, t) for p, t in keys],
    )
    out: dict[tuple[str, str], int] = {}
    rootless: set[int] = set()
    for platform in {p for p, _ in keys}:
        ids = [t for p, t in keys if p == platform]
        for chunk in _chunks(ids):
            for pk, external_id, has_root in session.execute(
                select(threads.c.id, threads.c.external_id, threads.c.root_text.is_not(None))
                .where(threads.c.platform == platform, threads.c.external_id.in_(chunk))
            ):
                out[(platform, external_id)] = pk
                if not has_root:
                    rootless.add(pk)
    roots = [
        {"b_id": out[(m.platform.value, m.external_id)], "b_text": m.text,
         "b_author": m.author.handle or m.author.name, "b_url": m.url,
         "b_created": m.created_at, "b_own": m.is_own}
        for m in mentions
        if m.thread_id == m.external_id and out.get((m.platform.value, m.external_id)) in rootless
    ]
    if roots:
        session.execute(
            update(threads).where(threads.c.id == bindparam("b_id")).values(
                root_text=bindparam("b_text"), root_author=bindparam("b_author"),
                root_url=bindparam("b_url"),
                root_created_at=bindparam("b_created", type_=UTCDateTime),
                root_is_own=bindparam("b_own")),
            roots,
        )
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


def relax_commit_durability(session: Session) -> None:
    """For this transaction only, let PostgreSQL acknowledge the commit before it reaches the
    disk (SQLite in WAL mode with synchronous=NORMAL already does). A crash of the server
    then loses the last fraction of a second of pages *whole*, data and cursor together, and
    the next poll fetches them again: safe for listening, and several times faster. Never
    used for replies, whose record must be durable before anything else happens."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit = off"))


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
    mentions_table = Mention.__table__
    stmt = (
        _insert(session, mentions_table)
        .on_conflict_do_nothing(index_elements=["platform", "external_id"])
        .returning(mentions_table.c.id, mentions_table.c.platform,
                   mentions_table.c.external_id)
    )
    for pk, platform, external_id in session.execute(stmt, rows):
        result.inserted_ids.append(pk)
        result.inserted_refs.append(f"{platform}:{external_id}")
        inserted_keys.add((platform, external_id))
    _count_hourly(session, [r for r in rows if (r["platform"], r["external_id"]) in inserted_keys])
    seen_again = [
        {"b_platform": r["platform"], "b_external": r["external_id"],
         "b_likes": r["like_count"], "b_replies": r["reply_count"],
         "b_reposts": r["repost_count"], "b_raw": r["raw"], "b_now": now}
        for r in rows if (r["platform"], r["external_id"]) not in inserted_keys
    ]
    result.existing = len(seen_again)
    if seen_again:
        table = Mention.__table__
        session.execute(
            update(table)
            .where(table.c.platform == bindparam("b_platform"),
                   table.c.external_id == bindparam("b_external"))
            .values(like_count=bindparam("b_likes"), reply_count=bindparam("b_replies"),
                    repost_count=bindparam("b_reposts"), raw=bindparam("b_raw", type_=JSONType),
                    fetched_at=bindparam("b_now", type_=UTCDateTime)),
            seen_again,
        )
    return result


def ensure_source(session: Session, key: str, platform: str, kind: str) -> Source:
    source = session.get(Source, key)
    if source is None:
        source = Source(key=key, platform=platform, kind=kind, cursor={}, healthy=True,
                        connected_at=utcnow(),
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


def mention_by_ref(session: Session, ref: domain.MentionRef, *, with_author: bool = False,
                   lock: bool = False) -> Mention | None:
    """The stored mention behind `platform:external_id`, or None.

    `with_author` loads its author in the same statement (callers that build a reply target
    or fill in a canned reply always need it). `lock` is for queueing a reply: on PostgreSQL
    the mention row is locked (`FOR UPDATE OF mentions`, so the outer-joined author is not)
    until the transaction ends, so two agents cannot both pass the one-private-reply rule;
    SQLite's `BEGIN IMMEDIATE` already serialises writers, so nothing is added there.
    """
    stmt = select(Mention).where(Mention.platform == ref.platform.value,
                                 Mention.external_id == ref.external_id)
    if with_author:
        stmt = stmt.options(joinedload(Mention.author))
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=Mention)
    return session.execute(stmt).unique().scalar_one_or_none()


def open_mentions_for_rescore(session: Session, *, after_id: int, since: datetime,
                              limit: int) -> Sequence[Row[Any]]:
    """One batch (by ascending id, after `after_id`) of scored customer mentions still waiting
    (`new`/`assigned`, not the brand's own) created since `since`, with what urgency needs:
    the stored score, engagement counters and the author's key and reach.

    Keyset paging on the primary key keeps each batch an indexed range, however many rows
    the periodic re-score walks.
    """
    return session.execute(
        select(Mention.id, Mention.text, Mention.created_at,
               Mention.sentiment, Mention.sentiment_label, Mention.lang,
               Mention.urgency, Mention.urgency_reasons, Mention.like_count,
               Mention.reply_count, Mention.repost_count,
               Author.platform, Author.external_id, Author.followers)
        .outerjoin(Author, Author.id == Mention.author_pk)
        .where(Mention.id > after_id, Mention.is_own.is_(False),
               Mention.status.in_(OPEN_STATUSES), Mention.created_at >= since,
               Mention.sentiment.is_not(None))
        .order_by(Mention.id).limit(limit)
    ).all()


def set_open_urgency(session: Session, updates: Iterable[dict[str, Any]]) -> None:
    """Store re-scored urgency (`{"id", "urgency", "urgency_reasons"}` each) on mentions that
    are still open: an agent may have replied or closed one since it was read, and a closed
    mention must keep the urgency it had when it was handled."""
    for item in updates:
        session.execute(
            update(Mention)
            .where(Mention.id == item["id"], Mention.status.in_(OPEN_STATUSES))
            .values(urgency=item["urgency"], urgency_reasons=item["urgency_reasons"]))


def count_mentions(session: Session, *, include_own: bool = False) -> int:
    stmt = select(func.count(Mention.id))
    if not include_own:
        stmt = stmt.where(Mention.is_own.is_(False))
    return int(session.execute(stmt).scalar_one())


def stored_external_ids(session: Session, platform_ids: Iterable[tuple[str, str]]) -> set[
        tuple[str, str]]:
    """Which of these (platform, external_id) pairs are stored already (e.g. so that only new
    texts are scored)."""
    by_platform: dict[str, list[str]] = {}
    for platform, external_id in platform_ids:
        by_platform.setdefault(platform, []).append(external_id)
    found: set[tuple[str, str]] = set()
    for platform, ids in by_platform.items():
        for chunk in _chunks(ids, 500):
            found.update((platform, e) for e in session.execute(
                select(Mention.external_id).where(Mention.platform == platform,
                                                  Mention.external_id.in_(chunk))
            ).scalars())
    return found
