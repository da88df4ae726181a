"""The analysts' export of mentions (and the audit log), streamed so memory stays flat.

Why it looks the way it does:
- Rows come from the database in keyset pages (`(created_at, id) > (last) ORDER BY created_at,
  id LIMIT n`), never one big fetch, so millions of rows cost the memory of one page and every
  mention is written exactly once even while the listener keeps inserting.
- Each format has a small writer that takes one page at a time (CSV/JSONL row by row, Parquet
  one row group per few pages, XLSX in XlsxWriter's constant-memory mode).
- The file is written next to its destination under a temporary name and moved into place with
  `os.replace` at the end: a failed export never leaves a half-written file behind.
- CSV and XLSX are opened by spreadsheets, so text cells that a spreadsheet would run as a
  formula get a leading `'` (OWASP CSV-injection guidance). JSONL and Parquet keep text exact.

The same functions serve the CLI (`export_mentions`) and the dashboard (`export_bytes`,
`iter_export_rows`, `iter_export_frames`), so a download shows the same data as the CLI.
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from datetime import UTC, datetime, time
from pathlib import Path
from typing import IO, Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from carewatch.log import get_logger
from carewatch.platforms import all_specs
from storage.db import Database
from storage.models import AuditEntry, Author, Mention

log = get_logger(__name__)

COLUMNS: tuple[str, ...] = (
    "platform", "external_id", "thread_id", "parent_id", "author_id", "author_handle",
    "author_followers", "text", "created_at", "lang", "url", "sentiment", "sentiment_label",
    "urgency", "urgency_reasons", "status", "assignee", "first_response_at",
)
AUDIT_COLUMNS: tuple[str, ...] = ("at", "actor", "action", "target", "details")
MENTION_FORMATS: tuple[str, ...] = ("csv", "jsonl", "xlsx", "parquet")
AUDIT_FORMATS: tuple[str, ...] = ("csv", "jsonl")
PLATFORMS: tuple[str, ...] = tuple(spec.platform.value for spec in all_specs())
NUMERIC_COLUMNS = frozenset({"author_followers", "sentiment", "urgency"})
TIME_COLUMNS = frozenset({"created_at", "first_response_at", "at"})

PAGE_SIZE = 5000
PARQUET_ROW_GROUP = 50_000
XLSX_MAX_ROWS = 1_048_576  # rows per sheet, header included
XLSX_MAX_CELL = 32_767  # characters per cell; longer text cannot be stored in XLSX
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
DEFAULT_MAX_BYTES_ROWS = 200_000


class ExportError(ValueError):
    """Bad export input (flag value, output path); the message is one line naming the flag."""


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

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ExportFilter:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ExportError(f"unknown export filter {sorted(unknown)[0]!r}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if value is None:
                continue
            if key in ("min_urgency", "max_urgency", "text_contains"):
                values[key] = value
            else:
                values[key] = (value,) if isinstance(value, str) else tuple(value)
        return cls(**values)

    def conditions(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
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


FilterLike = ExportFilter | Mapping[str, Any] | None


# ---------------------------------------------------------------- input parsing


def parse_time(value: str | datetime | None, flag: str) -> datetime | None:
    """`2026-11-01`, `2026-11-01T10:00:00Z`, `...+02:00` → aware UTC datetime; naive = UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        text = value.strip()
        try:
            if len(text) == 10:
                moment = datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time())
            else:
                moment = datetime.fromisoformat(text.replace(" ", "T", 1))
        except ValueError:
            raise ExportError(
                f"{flag}: {value!r} is not an ISO 8601 date or time "
                "(e.g. 2026-11-01 or 2026-11-01T10:00:00Z)"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_platform(value: str | None, flag: str = "--platform") -> str | None:
    if value is None or value == "":
        return None
    name = value.strip().lower()
    if name not in PLATFORMS:
        raise ExportError(f"{flag}: unknown platform {value!r} (one of {', '.join(PLATFORMS)})")
    return name


def parse_format(value: str | None, out_path: str | os.PathLike[str] | None,
                 allowed: Sequence[str] = MENTION_FORMATS, flag: str = "--format") -> str:
    """The format named by `--format`, or else the one the output file's suffix implies."""
    if value:
        fmt = value.strip().lower()
        if fmt not in allowed:
            raise ExportError(f"{flag}: unknown format {value!r} (one of {'|'.join(allowed)})")
        return fmt
    suffix = Path(os.fspath(out_path)).suffix.lower().lstrip(".") if out_path else ""
    if suffix in allowed:
        return suffix
    raise ExportError(f"{flag} is required (one of {'|'.join(allowed)})")


def check_range(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since >= until:
        raise ExportError(
            f"--since ({iso(since)}) must be before --until ({iso(until)}); until is exclusive"
        )


def check_out_path(out_path: str | os.PathLike[str] | None, flag: str = "--out") -> Path:
    """The output path, refused early when it cannot be written (so nothing is half-done)."""
    if out_path is None or os.fspath(out_path) == "":
        raise ExportError(f"{flag} is required (the file to write)")
    path = Path(os.fspath(out_path)).expanduser()
    if path.is_dir():
        raise ExportError(f"{flag}: {str(path)!r} is a folder, not a file")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ExportError(f"{flag}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ExportError(f"{flag}: folder {str(folder)!r} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise ExportError(f"{flag}: {str(path)!r} exists and is not writable")
    return path


def _as_filter(filters: FilterLike) -> ExportFilter | None:
    if filters is None or isinstance(filters, ExportFilter):
        return filters
    return ExportFilter.from_mapping(filters)


# ---------------------------------------------------------------- values


def iso(moment: datetime | None) -> str | None:
    """One format for every time in CSV/JSONL/XLSX: `2026-11-23T12:00:00Z` (UTC, whole
    seconds). Platforms send whole seconds; a fixed shape parses with any ISO reader."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: float | None, low: float, high: float) -> float | None:
    if value is None:
        return None
    number = float(value)
    if math.isnan(number):
        return None
    return round(min(high, max(low, number)), 4)


def neutralise(value: str) -> str:
    """A text cell a spreadsheet will show as text: formula triggers get a leading `'`."""
    if value and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


# ---------------------------------------------------------------- reading


def _mention_select(since: datetime | None, until: datetime | None, platform: str | None,
                    filters: ExportFilter | None) -> tuple[Any, list[ColumnElement[bool]]]:
    stmt = select(
        Mention.id, Mention.platform, Mention.external_id, Mention.thread_id,
        Mention.parent_id, Author.external_id, Author.handle, Author.name, Author.followers,
        Mention.text, Mention.created_at, Mention.lang, Mention.url, Mention.sentiment,
        Mention.sentiment_label, Mention.urgency, Mention.urgency_reasons, Mention.status,
        Mention.assignee, Mention.first_response_at,
    ).outerjoin(Author, Author.id == Mention.author_pk)
    where: list[ColumnElement[bool]] = [Mention.is_own.is_(False)]
    if since is not None:
        where.append(Mention.created_at >= since)
    if until is not None:
        where.append(Mention.created_at < until)
    if platform:
        where.append(Mention.platform == platform)
    if filters is not None:
        where.extend(filters.conditions())
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
     first_response_at) = row
    return (
        platform, external_id, thread_id, parent_id, author_id, handle or name,
        int(followers) if followers is not None else None, text, created_at, lang, url,
        _number(sentiment, -1.0, 1.0), label, _number(urgency, 0.0, 1.0), reasons or "",
        status, assignee, first_response_at,
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
                   filters: FilterLike = None) -> int:
    _stmt, where = _mention_select(since, until, platform, _as_filter(filters))
    return int(session.execute(select(func.count(Mention.id)).where(*where)).scalar_one())


def iter_mention_pages(session: Session, *, since: datetime | None = None,
                       until: datetime | None = None, platform: str | None = None,
                       filters: FilterLike = None, page_size: int = PAGE_SIZE,
                       ) -> Iterator[list[tuple[Any, ...]]]:
    """Pages of export rows (tuples in `COLUMNS` order), by keyset, oldest first."""
    stmt, where = _mention_select(since, until, platform, _as_filter(filters))
    for rows in _keyset_pages(session, stmt, where, Mention.created_at, Mention.id,
                              time_index=10, id_index=0, page_size=page_size):
        yield [_shape(r) for r in rows]


def _keyset_pages(session: Session, stmt: Any, where: list[Any], time_col: Any, id_col: Any,
                  *, time_index: int, id_index: int, page_size: int) -> Iterator[list[Any]]:
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


def iter_export_rows(session_or_db: Database | Session, *, since: str | datetime | None = None,
                     until: str | datetime | None = None, platform: str | None = None,
                     filters: FilterLike = None) -> Iterator[dict[str, Any]]:
    """Each exported mention as a dict keyed by `COLUMNS` (times aware datetimes)."""
    start, end = parse_time(since, "--since"), parse_time(until, "--until")
    plat = parse_platform(platform)
    with _snapshot(session_or_db) as session:
        for page in iter_mention_pages(session, since=start, until=end, platform=plat,
                                       filters=filters):
            for row in page:
                yield dict(zip(COLUMNS, row, strict=True))


def iter_export_frames(session_or_db: Database | Session, *, since: str | datetime | None = None,
                       until: str | datetime | None = None, platform: str | None = None,
                       filters: FilterLike = None, page_size: int = PAGE_SIZE) -> Iterator[Any]:
    """Each page as a pandas DataFrame with the export columns and dtypes (for the dashboard)."""
    import pyarrow as pa

    start, end = parse_time(since, "--since"), parse_time(until, "--until")
    plat = parse_platform(platform)
    with _snapshot(session_or_db) as session:
        for page in iter_mention_pages(session, since=start, until=end, platform=plat,
                                       filters=filters, page_size=page_size):
            yield pa.Table.from_pylist(
                [dict(zip(COLUMNS, r, strict=True)) for r in page], schema=parquet_schema()
            ).to_pandas()


def _audit_pages(session: Session, since: datetime | None, until: datetime | None,
                 page_size: int = PAGE_SIZE) -> Iterator[list[tuple[Any, ...]]]:
    stmt = select(AuditEntry.id, AuditEntry.at, AuditEntry.actor, AuditEntry.action,
                  AuditEntry.target, AuditEntry.details)
    where: list[ColumnElement[bool]] = []
    if since is not None:
        where.append(AuditEntry.at >= since)
    if until is not None:
        where.append(AuditEntry.at < until)
    for rows in _keyset_pages(session, stmt, where, AuditEntry.at, AuditEntry.id,
                              time_index=1, id_index=0, page_size=page_size):
        yield [(at, actor, action, target,
                json.dumps(details if details is not None else {}, ensure_ascii=False,
                           sort_keys=True))
               for _id, at, actor, action, target, details in rows]


# ---------------------------------------------------------------- writers


class _Writer:
    """Writes pages of typed rows (tuples in `columns` order) to one open file."""

    binary = False

    def __init__(self, handle: IO[Any], columns: Sequence[str]) -> None:
        self.handle = handle
        self.columns = tuple(columns)
        self.text_index = [i for i, c in enumerate(self.columns)
                           if c not in NUMERIC_COLUMNS and c not in TIME_COLUMNS]
        self.time_index = [i for i, c in enumerate(self.columns) if c in TIME_COLUMNS]
        self.truncated = 0

    def start(self) -> None: ...

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def finish(self) -> None: ...

    def _flat(self, row: tuple[Any, ...]) -> list[Any]:
        out = list(row)
        for i in self.time_index:
            out[i] = iso(out[i])
        return out


class _CsvWriter(_Writer):
    def start(self) -> None:
        # RFC 4180 CRLF row ends: QUOTE_MINIMAL quotes a field holding any character of the
        # line terminator, so with CRLF a lone CR inside a text is quoted too (with a bare LF
        # terminator it would not be, and readers would split the row there).
        self.csv = csv.writer(self.handle, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        self.csv.writerow(self.columns)

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        text_index = self.text_index
        for row in rows:
            out = self._flat(row)
            for i in text_index:
                value = out[i]
                if value and value[0] in "=+-@\t\r":
                    out[i] = "'" + value
            self.csv.writerow(["" if v is None else v for v in out])


class _JsonlWriter(_Writer):
    def start(self) -> None:
        self.dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        columns, write, dumps = self.columns, self.handle.write, self.dumps
        for row in rows:
            write(dumps(dict(zip(columns, self._flat(row), strict=True))))
            write("\n")


def parquet_schema() -> Any:
    """Explicit types, so an empty export and a full one have the same schema."""
    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    types = {"author_followers": pa.int64(), "sentiment": pa.float64(),
             "urgency": pa.float64(), "created_at": ts, "first_response_at": ts}
    return pa.schema([pa.field(c, types.get(c, pa.string()), nullable=c != "text")
                      for c in COLUMNS])


class _ParquetWriter(_Writer):
    """Each page becomes an Arrow record batch at once (compact, unlike Python tuples); a row
    group is written every PARQUET_ROW_GROUP rows, which bounds memory whatever the total."""

    binary = True

    def start(self) -> None:
        import pyarrow.parquet as pq

        self.schema = parquet_schema()
        self.writer = pq.ParquetWriter(self.handle, self.schema, compression="zstd")
        self.batches: list[Any] = []
        self.buffered = 0

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        import pyarrow as pa

        if not rows:
            return
        columns = zip(*rows, strict=True)
        self.batches.append(pa.RecordBatch.from_arrays(
            [pa.array(col, type=field.type) for col, field in zip(columns, self.schema,
                                                                   strict=True)],
            schema=self.schema,
        ))
        self.buffered += len(rows)
        if self.buffered >= PARQUET_ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self.batches:
            self.writer.write_table(pa.Table.from_batches(self.batches, schema=self.schema),
                                    row_group_size=max(self.buffered, 1))
        self.batches, self.buffered = [], 0

    def finish(self) -> None:
        self._flush()
        self.writer.close()


class _XlsxWriter(_Writer):
    binary = True

    def start(self) -> None:
        import xlsxwriter

        self.book = xlsxwriter.Workbook(self.handle, {
            "constant_memory": True,  # rows are flushed as written; ours come in order
            "strings_to_formulas": False, "strings_to_urls": False,
            "strings_to_numbers": False,
        })
        self.sheets = 0
        self._new_sheet()

    def _new_sheet(self) -> None:
        self.sheets += 1
        name = "mentions" if self.sheets == 1 else f"mentions_{self.sheets}"
        if self.columns == AUDIT_COLUMNS:
            name = name.replace("mentions", "audit")
        self.sheet = self.book.add_worksheet(name)
        for col, title in enumerate(self.columns):
            self.sheet.write_string(0, col, title)
        self.row = 1

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        numeric = {i for i, c in enumerate(self.columns) if c in NUMERIC_COLUMNS}
        for row in rows:
            if self.row >= XLSX_MAX_ROWS:
                self._new_sheet()
            sheet, r = self.sheet, self.row
            for col, value in enumerate(self._flat(row)):
                if value is None:
                    continue
                if col in numeric:
                    sheet.write_number(r, col, value)
                    continue
                text = neutralise(str(value))
                if len(text) > XLSX_MAX_CELL:
                    self.truncated += 1
                sheet.write_string(r, col, text)
            self.row += 1

    def finish(self) -> None:
        self.book.close()


WRITERS: dict[str, type[_Writer]] = {
    "csv": _CsvWriter, "jsonl": _JsonlWriter, "parquet": _ParquetWriter, "xlsx": _XlsxWriter,
}


@contextmanager
def _atomic(path: Path, binary: bool) -> Iterator[IO[Any]]:
    """A temp file beside `path`, moved over it only when the block finishes without error."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise ExportError(f"--out: cannot write in {str(path.parent)!r}: {exc.strerror}") from None
    try:
        mode = "wb" if binary else "w"
        kwargs: dict[str, Any] = {} if binary else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would surprise whoever shares the file
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


class _Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool, total: int, label: str) -> None:
        self.bar: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TimeRemainingColumn(),
                                console=Console(stderr=True), transient=True)
            self.task = self.bar.add_task(label, total=total)

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def __exit__(self, *_exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()


def _write_pages(pages: Iterator[list[tuple[Any, ...]]], fmt: str, path: Path,
                 columns: Sequence[str], progress: _Progress) -> int:
    writer_cls = WRITERS[fmt]
    count = 0
    with _atomic(path, writer_cls.binary) as handle:
        writer = writer_cls(handle, columns)
        writer.start()
        for page in pages:
            writer.write(page)
            count += len(page)
            progress.advance(len(page))
        writer.finish()
    if writer.truncated:
        log.warning("export_xlsx_truncated", cells=writer.truncated, limit=XLSX_MAX_CELL,
                    hint="use csv, jsonl or parquet for the full text")
    return count


# ---------------------------------------------------------------- public API


def export_mentions(db: Database | Session, fmt: str, out_path: str | os.PathLike[str], *,
                    since: str | datetime | None = None, until: str | datetime | None = None,
                    platform: str | None = None, filters: FilterLike = None,
                    progress: bool = False, on_total: Callable[[int], None] | None = None,
                    ) -> int:
    """Write every matching mention (brand's own excluded) to `out_path`; returns the count.

    Raises `ExportError` (bad value or path, one line naming the flag) before touching
    anything; any later error leaves no file behind.
    """
    fmt = parse_format(fmt, out_path)
    start, end = parse_time(since, "--since"), parse_time(until, "--until")
    check_range(start, end)
    plat = parse_platform(platform)
    flt = _as_filter(filters)
    path = check_out_path(out_path)
    with _snapshot(db) as session:
        total = count_mentions(session, since=start, until=end, platform=plat, filters=flt) \
            if (progress or on_total) else 0
        if on_total:
            on_total(total)
        pages = iter_mention_pages(session, since=start, until=end, platform=plat, filters=flt)
        with _Progress(progress, total, "exporting mentions") as bar:
            count = _write_pages(pages, fmt, path, COLUMNS, bar)
    log.debug("export_done", kind="mentions", format=fmt, rows=count, path=str(path))
    return count


def export_audit(db: Database | Session, fmt: str, out_path: str | os.PathLike[str], *,
                 since: str | datetime | None = None, until: str | datetime | None = None,
                 progress: bool = False) -> int:
    """Write the audit log (at, actor, action, target, details as JSON) to `out_path`."""
    fmt = parse_format(fmt, out_path, AUDIT_FORMATS)
    start, end = parse_time(since, "--since"), parse_time(until, "--until")
    check_range(start, end)
    path = check_out_path(out_path)
    with _snapshot(db) as session:
        total = 0
        if progress:
            stmt = select(func.count(AuditEntry.id))
            if start is not None:
                stmt = stmt.where(AuditEntry.at >= start)
            if end is not None:
                stmt = stmt.where(AuditEntry.at < end)
            total = int(session.execute(stmt).scalar_one())
        with _Progress(progress, total, "exporting audit log") as bar:
            count = _write_pages(_audit_pages(session, start, end), fmt, path,
                                 AUDIT_COLUMNS, bar)
    log.debug("export_done", kind="audit", format=fmt, rows=count, path=str(path))
    return count


def export_bytes(db: Database | Session, fmt: str, *, since: str | datetime | None = None,
                 until: str | datetime | None = None, platform: str | None = None,
                 filters: FilterLike = None, max_rows: int = DEFAULT_MAX_BYTES_ROWS) -> bytes:
    """The export as bytes, for `st.download_button`. Refuses (ExportTooLarge) more than
    `max_rows` rows rather than silently cutting the data short."""
    fmt = parse_format(fmt, None)
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


MEDIA_TYPES = {
    "csv": "text/csv", "jsonl": "application/x-ndjson",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
}
