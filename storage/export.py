"""The analysts' export of mentions (and the audit log), read in keyset pages so memory stays
flat.

Why it looks the way it does:
- Rows come from the database in keyset pages (`(created_at, id) > (last) ORDER BY created_at,
  id LIMIT n`), never one big fetch, so millions of rows cost the memory of one page and every
  mention is written exactly once even while the listener keeps inserting.
- One snapshot serves a whole export, so its count and its pages agree.
- Private messages are rows only when the filter asks for them (`include_private`); the
  default, which every dashboard download uses, leaves them out. The brand's own items are
  never rows; echoes (retweets) are, flagged by their `urgency_reasons`.
- The files themselves are `storage.export_files`' job; arguments here are already typed
  (aware datetimes, a platform name, an `ExportFilter`): turning command-line text into them
  is the caller's.

The same functions serve the CLI (`export_mentions`, `export_audit`) and the dashboard
(`export_bytes`, `count_mentions`, `iter_export_rows`, `iter_export_frames`), so a download
shows the same data as the CLI.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, String, and_, func, literal, or_, select
from sqlalchemy.orm import Session

from carewatch.domain import Visibility
from carewatch.log import get_logger
from carewatch.platforms import all_specs
from storage.db import Database
from storage.export_files import ExportError, parquet_schema, write_pages
from storage.models import AuditEntry, Author, Mention

log = get_logger(__name__)

COLUMNS: tuple[str, ...] = (
    "platform", "external_id", "thread_id", "parent_id", "author_id", "author_handle",
    "author_followers", "text", "created_at", "lang", "url", "sentiment", "sentiment_label",
    "urgency", "urgency_reasons", "status", "assignee", "first_response_at", "visibility",
    "topic",
)
# The `topic` column's value: the item's best topic, empty when none is confident.
TOPIC: ColumnElement[str] = func.coalesce(Mention.topic, literal("", String())).label("topic")
PRIVATE_EXPORT_ACTION = "export.include_private"
AUDIT_COLUMNS: tuple[str, ...] = ("at", "actor", "action", "target", "details")
MENTION_FORMATS: tuple[str, ...] = ("csv", "jsonl", "xlsx", "parquet")
AUDIT_FORMATS: tuple[str, ...] = ("csv", "jsonl")
PLATFORMS: tuple[str, ...] = tuple(spec.platform.value for spec in all_specs())
PAGE_SIZE = 5000
DEFAULT_MAX_BYTES_ROWS = 200_000


class ExportTooLarge(ExportError):
    """`export_bytes` was asked for more rows than fit comfortably in memory."""


@dataclass(frozen=True, slots=True)
class ExportFilter:
    """Extra conditions beyond time and platform, so a dashboard page can download exactly the
    rows it shows. Empty tuples / None mean "no condition"."""

    platforms: tuple[str, ...] = ()
    sentiment_labels: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()
    source_keys: tuple[str, ...] = ()
    min_urgency: float | None = None
    max_urgency: float | None = None
    text_contains: str | None = None
    include_private: bool = False

    def conditions(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if not self.include_private:
            out.append(Mention.visibility == Visibility.PUBLIC.value)
        for column, values in (
            (Mention.platform, self.platforms), (Mention.sentiment_label, self.sentiment_labels),
            (Mention.status, self.statuses), (Mention.assignee, self.assignees),
            (Mention.lang, self.langs), (Mention.source_key, self.source_keys),
        ):
            if values:
                out.append(column.in_([str(v) for v in values]))
        if self.min_urgency is not None:
            out.append(Mention.urgency >= float(self.min_urgency))
        if self.max_urgency is not None:
            out.append(Mention.urgency <= float(self.max_urgency))
        if self.text_contains:
            out.append(Mention.text.contains(self.text_contains, autoescape=True))
        return out


def _number(value: float | None, low: float, high: float) -> float | None:
    if value is None:
        return None
    number = float(value)
    if math.isnan(number):
        return None
    return round(min(high, max(low, number)), 4)


def _in_range(column: Any, since: datetime | None,
              until: datetime | None) -> list[ColumnElement[bool]]:
    """`since <= column < until`, either end left open when None."""
    where: list[ColumnElement[bool]] = []
    if since is not None:
        where.append(column >= since)
    if until is not None:
        where.append(column < until)
    return where


def _mention_select(since: datetime | None, until: datetime | None, platform: str | None,
                    filters: ExportFilter | None) -> tuple[Any, list[ColumnElement[bool]]]:
    stmt = select(
        Mention.id, Mention.platform, Mention.external_id, Mention.thread_id,
        Mention.parent_id, Author.external_id, Author.handle, Author.name, Author.followers,
        Mention.text, Mention.created_at, Mention.lang, Mention.url, Mention.sentiment,
        Mention.sentiment_label, Mention.urgency, Mention.urgency_reasons, Mention.status,
        Mention.assignee, Mention.first_response_at, Mention.visibility, TOPIC,
    ).outerjoin(Author, Author.id == Mention.author_pk)
    where = [Mention.is_own.is_(False), *_in_range(Mention.created_at, since, until)]
    if platform:
        where.append(Mention.platform == platform)
    where.extend((filters or ExportFilter()).conditions())
    return stmt, where


def _after(created: Any, ident: Any, created_at: datetime, last_id: int) -> ColumnElement[bool]:
    # `created >= c AND (created > c OR id > i)`: the same as the row value
    # `(created, id) > (c, i)`, but the leading range is one both SQLite and PostgreSQL can
    # seek with the created_at index (a bare OR makes PostgreSQL scan from the start on
    # every page), and the timestamp is bound through UTCDateTime on both.
    return and_(created >= created_at, or_(created > created_at, ident > last_id))


def _shape(row: Sequence[Any]) -> tuple[Any, ...]:
    """A database row → the export columns, typed (datetimes aware, numbers rounded)."""
    (_id, platform, external_id, thread_id, parent_id, author_id, handle, name, followers,
     text, created_at, lang, url, sentiment, label, urgency, reasons, status, assignee,
     first_response_at, visibility, topic) = row
    return (
        platform, external_id, thread_id, parent_id, author_id, handle or name,
        int(followers) if followers is not None else None, text, created_at, lang, url,
        _number(sentiment, -1.0, 1.0), label, _number(urgency, 0.0, 1.0), reasons or "",
        status, assignee, first_response_at, visibility, topic or "",
    )


@contextmanager
def _snapshot(session_or_db: Database | Session) -> Iterator[Session]:
    """A read session that sees one snapshot for the whole export (count and pages agree)."""
    if isinstance(session_or_db, Session):
        yield session_or_db
        return
    db = session_or_db
    if db.dialect == "postgresql":
        with db.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with Session(bind=conn) as session, session.begin():
                session.connection().exec_driver_sql("SET TRANSACTION READ ONLY")
                yield session
        return
    with db.session() as session:  # SQLite WAL: a deferred read transaction is a snapshot
        yield session


def count_mentions(session: Session, *, since: datetime | None = None,
                   until: datetime | None = None, platform: str | None = None,
                   filters: ExportFilter | None = None) -> int:
    _stmt, where = _mention_select(since, until, platform, filters)
    return int(session.execute(select(func.count(Mention.id)).where(*where)).scalar_one())


def iter_mention_pages(session: Session, *, since: datetime | None = None,
                       until: datetime | None = None, platform: str | None = None,
                       filters: ExportFilter | None = None, page_size: int = PAGE_SIZE,
                       ) -> Iterator[list[tuple[Any, ...]]]:
    """Pages of export rows (tuples in `COLUMNS` order), by keyset, oldest first."""
    stmt, where = _mention_select(since, until, platform, filters)
    for rows in _keyset_pages(session, stmt, where, Mention.created_at, Mention.id,
                              time_index=10, id_index=0, page_size=page_size):
        yield [_shape(r) for r in rows]


def _keyset_pages(session: Session, stmt: Any, where: list[Any], time_col: Any, id_col: Any,
                  *, time_index: int, id_index: int, page_size: int) -> Iterator[Sequence[Any]]:
    """Rows of `stmt` in (time, id) order, one page at a time, each page starting after the
    last row of the one before: no OFFSET, so page N costs what page 1 does."""
    last: tuple[datetime, int] | None = None
    while True:
        conds = list(where)
        if last is not None:
            conds.append(_after(time_col, id_col, *last))
        rows = session.execute(
            stmt.where(*conds).order_by(time_col, id_col).limit(page_size)).all()
        if not rows:
            return
        last = (rows[-1][time_index], rows[-1][id_index])
        yield rows
        if len(rows) < page_size:
            return


def iter_export_rows(session_or_db: Database | Session, *, since: datetime | None = None,
                     until: datetime | None = None, platform: str | None = None,
                     filters: ExportFilter | None = None) -> Iterator[dict[str, Any]]:
    """Each exported mention as a dict keyed by `COLUMNS` (times aware datetimes)."""
    with _snapshot(session_or_db) as session:
        for page in iter_mention_pages(session, since=since, until=until, platform=platform,
                                       filters=filters):
            for row in page:
                yield dict(zip(COLUMNS, row, strict=True))


def iter_export_frames(session_or_db: Database | Session, *, since: datetime | None = None,
                       until: datetime | None = None, platform: str | None = None,
                       filters: ExportFilter | None = None,
                       page_size: int = PAGE_SIZE) -> Iterator[Any]:
    """Each page as a pandas DataFrame with the export columns and dtypes (for the dashboard)."""
    import pyarrow as pa

    with _snapshot(session_or_db) as session:
        for page in iter_mention_pages(session, since=since, until=until, platform=platform,
                                       filters=filters, page_size=page_size):
            yield pa.Table.from_pylist(
                [dict(zip(COLUMNS, r, strict=True)) for r in page],
                schema=parquet_schema(COLUMNS),
            ).to_pandas()


def _audit_pages(session: Session, since: datetime | None, until: datetime | None,
                 page_size: int = PAGE_SIZE) -> Iterator[list[tuple[Any, ...]]]:
    stmt = select(AuditEntry.id, AuditEntry.at, AuditEntry.actor, AuditEntry.action,
                  AuditEntry.target, AuditEntry.details)
    where = _in_range(AuditEntry.at, since, until)
    for rows in _keyset_pages(session, stmt, where, AuditEntry.at, AuditEntry.id,
                              time_index=1, id_index=0, page_size=page_size):
        yield [(at, actor, action, target,
                json.dumps(details if details is not None else {}, ensure_ascii=False,
                           sort_keys=True))
               for _id, at, actor, action, target, details in rows]


def count_audit(session: Session, *, since: datetime | None = None,
                until: datetime | None = None) -> int:
    """How many audit entries fall in [since, until)."""
    stmt = select(func.count(AuditEntry.id)).where(*_in_range(AuditEntry.at, since, until))
    return int(session.execute(stmt).scalar_one())


def _check_format(fmt: str, allowed: Sequence[str]) -> None:
    if fmt not in allowed:
        raise ExportError(f"unknown format {fmt!r} (one of {'|'.join(allowed)})")


def export_mentions(db: Database | Session, fmt: str, out_path: str | os.PathLike[str], *,
                    since: datetime | None = None, until: datetime | None = None,
                    platform: str | None = None, filters: ExportFilter | None = None,
                    on_total: Callable[[int], None] | None = None,
                    on_rows: Callable[[int], None] | None = None) -> int:
    """Write every matching mention (brand's own excluded; private messages only when
    `filters.include_private`) to `out_path`; returns the count.

    `on_total`, when given, hears the number of matching rows before anything is written
    (it may raise to refuse the export); `on_rows` hears each page's row count. A bad format
    raises `ExportError` before anything is read; any later error leaves no file behind.
    """
    _check_format(fmt, MENTION_FORMATS)
    path = Path(os.fspath(out_path))
    with _snapshot(db) as session:
        if on_total is not None:
            on_total(count_mentions(session, since=since, until=until, platform=platform,
                                    filters=filters))
        pages = iter_mention_pages(session, since=since, until=until, platform=platform,
                                   filters=filters)
        count = write_pages(pages, fmt, path, COLUMNS, on_rows=on_rows)
    log.debug("export_done", kind="mentions", format=fmt, rows=count, path=str(path))
    return count


def record_private_export(db: Database, *, actor: str, target: str,
                          details: dict[str, Any]) -> None:
    """Audit an export that includes private messages (`PRIVATE_EXPORT_ACTION`), committed
    before any file is written, so even an export that fails half-way is on record."""
    with db.write() as session:
        session.add(AuditEntry(actor=actor, action=PRIVATE_EXPORT_ACTION, target=target,
                               details=details))


def export_audit(db: Database | Session, fmt: str, out_path: str | os.PathLike[str], *,
                 since: datetime | None = None, until: datetime | None = None,
                 on_total: Callable[[int], None] | None = None,
                 on_rows: Callable[[int], None] | None = None) -> int:
    """Write the audit log (at, actor, action, target, details as JSON) to `out_path`; the
    callbacks are `export_mentions`'."""
    _check_format(fmt, AUDIT_FORMATS)
    path = Path(os.fspath(out_path))
    with _snapshot(db) as session:
        if on_total is not None:
            on_total(count_audit(session, since=since, until=until))
        count = write_pages(_audit_pages(session, since, until), fmt, path, AUDIT_COLUMNS,
                            on_rows=on_rows)
    log.debug("export_done", kind="audit", format=fmt, rows=count, path=str(path))
    return count


def export_bytes(db: Database | Session, fmt: str, *, since: datetime | None = None,
                 until: datetime | None = None, platform: str | None = None,
                 filters: ExportFilter | None = None,
                 max_rows: int = DEFAULT_MAX_BYTES_ROWS) -> bytes:
    """The export as bytes, for `st.download_button`. Refuses (ExportTooLarge) more than
    `max_rows` rows rather than silently cutting the data short."""
    _check_format(fmt, MENTION_FORMATS)
    with tempfile.TemporaryDirectory(prefix="carewatch-export-") as folder:
        out = Path(folder) / f"mentions.{fmt}"

        def guard(total: int) -> None:
            if total > max_rows:
                raise ExportTooLarge(
                    f"{total:,} mentions match, more than {max_rows:,} for a download: "
                    "narrow the filters or use 'carewatch export mentions'"
                )

        export_mentions(db, fmt, out, since=since, until=until, platform=platform,
                        filters=filters, on_total=guard)
        return out.read_bytes()
