"""Sources: each listened feed's cursor, health and lease, shared by every listener process.

Several `carewatch listen` processes may share one database. Each source row carries a
lease (holder and expiry), the time the source is next due and a cursor version, all
judged by the database's clock (`storage.db_clock`), never a node's:

- `claim_source` is one conditional UPDATE: it wins only when the lease is free, expired or
  already this holder's (and, for a scheduled run, the source is due), so one process polls
  a source at a time and at most once per interval across all of them;
- `save_cursor` is compare-and-set on the cursor version, so a cursor never moves back;
- counters are incremented in SQL (`items_total + n`), never read and written back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, literal, or_, select, update
from sqlalchemy.orm import Session

from storage.bulk import driver_cursor, is_postgres
from storage.db import COMMIT_RELAXED, relax_commit_durability
from storage.db_clock import db_now, read_db_now
from storage.models import Source, UTCDateTime, utcnow
from storage.statements import dialect_insert, rowcount

_sources = Source.__table__

#: A due time is set this share of the interval early (at most DUE_GRACE_MAX seconds), so a
#: process's next scheduled run, which fires a few milliseconds earlier or later than the
#: last one claimed, still finds the source due instead of skipping a whole interval.
DUE_GRACE_SHARE = 0.05
DUE_GRACE_MAX = 1.0


class CursorMoved(Exception):
    """The stored cursor is no longer the one this poll started from (or its lease passed to
    another process): the page is rolled back and the poll stops; the other goes on."""


@dataclass(slots=True)
class Claim:
    """A won lease: the cursor the poll starts from and its version (raised by each save)."""

    key: str
    holder: str
    cursor: dict[str, Any]
    version: int


def ensure_source(session: Session, key: str, platform: str, kind: str) -> None:
    """Create the source's row if no process has yet (concurrent creators are harmless)."""
    session.execute(
        dialect_insert(session, _sources)
        .values(key=key, platform=platform, kind=kind, cursor={}, healthy=True,
                connected_at=utcnow(), token_state="ok", consecutive_failures=0,
                items_total=0, cursor_version=0)
        .on_conflict_do_nothing(index_elements=["key"]))


def claim_source(session: Session, key: str, platform: str, kind: str, *, holder: str,
                 lease_seconds: float, every: float, due_only: bool) -> Claim | None:
    """Take the source's lease for `lease_seconds` if it is free, expired or already
    `holder`'s and, with `due_only`, the source is due; then it is next due `every` seconds
    on. Returns the cursor to start from, or None when another process has it (or it is not
    due)."""
    ensure_source(session, key, platform, kind)
    now = db_now(session)
    conditions = [_sources.c.key == key,
                  or_(_sources.c.lease_until.is_(None), _sources.c.lease_until < now,
                      _sources.c.lease_holder == holder)]
    if due_only:
        conditions.append(or_(_sources.c.next_due_at.is_(None), _sources.c.next_due_at <= now))
    grace = min(every * DUE_GRACE_SHARE, DUE_GRACE_MAX)
    won = rowcount(session.execute(
        update(_sources).where(*conditions)
        .values(lease_holder=holder, lease_until=db_now(session, lease_seconds),
                next_due_at=db_now(session, every - grace))))
    if not won:
        return None
    cursor, version = session.execute(
        select(_sources.c.cursor, _sources.c.cursor_version).where(_sources.c.key == key)).one()
    return Claim(key=key, holder=holder, cursor=dict(cursor or {}), version=version)


def renew_lease(session: Session, key: str, holder: str, lease_seconds: float) -> bool:
    """Extend `holder`'s lease by `lease_seconds` from now; False when it has lost it."""
    return bool(rowcount(session.execute(
        update(_sources).where(_sources.c.key == key, _sources.c.lease_holder == holder)
        .values(lease_until=db_now(session, lease_seconds)))))


def release_source(session: Session, key: str, holder: str) -> None:
    """Give the lease back (if `holder` still has it), so the next due run may start at
    once on any process."""
    session.execute(
        update(_sources).where(_sources.c.key == key, _sources.c.lease_holder == holder)
        .values(lease_holder=None, lease_until=None))


def lease_holder(session: Session, key: str) -> str | None:
    """Who holds the source's unexpired lease, by the database's clock."""
    return session.execute(
        select(_sources.c.lease_holder)
        .where(_sources.c.key == key, _sources.c.lease_until >= db_now(session))
    ).scalar_one_or_none()


def save_cursor(session: Session, claim: Claim, cursor: dict[str, Any], *,
                new_items: int = 0, last_item_at: datetime | None = None,
                pages: int = 1, relax_durability: bool = False) -> None:
    """Store the cursor that follows the page just upserted, in the same transaction, only
    if the stored cursor is still the one `claim` last saw and its lease is still held.
    Raises `CursorMoved` otherwise, which rolls the page back. (The caller raises
    `claim.version` by `pages` once the transaction has committed.)

    `pages`: how many pages the transaction stored (the cursor is the last one's, the
    counts their sums): the version moves on by one per page, as saving each page's
    cursor in turn would, in one statement.

    `relax_durability`: also `storage.db.relax_commit_durability` for this transaction
    (read only at its commit): on PostgreSQL sent with the update, in one round trip
    (`_save_cursor_pg`)."""
    if relax_durability and is_postgres(session):
        saved = _save_cursor_pg(session, claim, cursor, new_items=new_items,
                                last_item_at=last_item_at, pages=pages)
    else:
        if relax_durability:
            relax_commit_durability(session)
        saved = _save_cursor_core(session, claim, cursor, new_items=new_items,
                                  last_item_at=last_item_at, pages=pages)
    if not saved:
        raise CursorMoved(f"source {claim.key}: the cursor moved past version {claim.version} "
                          f"or the lease passed from {claim.holder}")


def _save_cursor_core(session: Session, claim: Claim, cursor: dict[str, Any], *,
                      new_items: int, last_item_at: datetime | None, pages: int) -> int:
    """`save_cursor`'s compare-and-set; how many rows it updated (0 or 1)."""
    newest = _sources.c.last_item_at
    values: dict[str, Any] = {"cursor": dict(cursor),
                              "cursor_version": _sources.c.cursor_version + pages,
                              "items_total": _sources.c.items_total + new_items}
    if last_item_at is not None:
        at = literal(last_item_at, UTCDateTime())
        values["last_item_at"] = case((or_(newest.is_(None), newest < at), at), else_=newest)
    return rowcount(session.execute(
        update(_sources)
        .where(_sources.c.key == claim.key, _sources.c.cursor_version == claim.version,
               _sources.c.lease_holder == claim.holder)
        .values(**values)))


def _save_cursor_pg(session: Session, claim: Claim, cursor: dict[str, Any], *,
                    new_items: int, last_item_at: datetime | None, pages: int) -> int:
    """`_save_cursor_core` on PostgreSQL's driver, pipelined with `SET LOCAL
    synchronous_commit = off`: one round trip for both (measured: a round trip costs the
    listener ~1.5-3 ms of wall time a page on the loaded two-core machine, beyond the
    server's work). The same values: the cursor as JSONB, `last_item_at` kept when later."""
    sql = ("UPDATE sources SET cursor = %s::jsonb, cursor_version = cursor_version + %s, "
           "items_total = items_total + %s, last_item_at = CASE WHEN %s::timestamptz IS NULL "
           "THEN last_item_at WHEN last_item_at IS NULL OR last_item_at < %s::timestamptz "
           "THEN %s::timestamptz ELSE last_item_at END "
           "WHERE key = %s AND cursor_version = %s AND lease_holder = %s")
    at = (last_item_at if last_item_at is None or last_item_at.tzinfo
          else last_item_at.replace(tzinfo=UTC))
    with driver_cursor(session) as driver:
        with driver.connection.pipeline():
            driver.execute(COMMIT_RELAXED)
            driver.execute(sql, (json.dumps(dict(cursor)), pages, new_items, at, at, at,
                                 claim.key, claim.version, claim.holder))
        return int(driver.rowcount)


def mark_source_polled(session: Session, key: str, platform: str, kind: str) -> None:
    """A poll finished without error: the source is healthy again."""
    ensure_source(session, key, platform, kind)
    now = db_now(session)
    session.execute(
        update(_sources).where(_sources.c.key == key)
        .values(last_poll_at=now, last_success_at=now, healthy=True, health_message=None,
                token_state="ok", consecutive_failures=0))


def mark_source_failed(session: Session, key: str, platform: str, kind: str, message: str,
                       *, token_state: str | None = None, healthy: bool = False) -> None:
    """A poll failed: keep the reason (never a token) and the next step for the user."""
    ensure_source(session, key, platform, kind)
    now = db_now(session)
    values: dict[str, Any] = {
        "last_poll_at": now, "last_error": message, "last_error_at": now,
        "healthy": healthy, "health_message": message,
        "consecutive_failures": _sources.c.consecutive_failures + 1}
    if token_state:
        values["token_state"] = token_state
    session.execute(update(_sources).where(_sources.c.key == key).values(**values))


def source_health(session: Session) -> list[dict[str, Any]]:
    """Every source's connection state and who polls it, for the health panels and
    `carewatch status` (one row per source; `lease_holder` only while the lease runs)."""
    now = read_db_now(session)
    out = []
    for s in session.execute(select(Source).order_by(Source.key)).scalars():
        leased = s.lease_until is not None and s.lease_until >= now
        out.append({"source": s.key, "platform": s.platform, "kind": s.kind,
                    "healthy": bool(s.healthy), "token_state": s.token_state,
                    "last_poll_at": s.last_poll_at, "last_success_at": s.last_success_at,
                    "last_item_at": s.last_item_at, "last_error": s.last_error or "",
                    "health_message": s.health_message or "",
                    "consecutive_failures": s.consecutive_failures or 0,
                    "items_total": s.items_total or 0,
                    "lease_holder": s.lease_holder if leased else None,
                    "lease_until": s.lease_until if leased else None,
                    "next_due_at": s.next_due_at})
    return out
