"""The export's files: CSV, JSONL, Parquet and XLSX writers fed one page of rows at a time.

Why it looks the way it does:
- Each format has a small writer that takes one page at a time (CSV/JSONL row by row, Parquet
  one row group per few pages, XLSX in XlsxWriter's constant-memory mode), so memory stays
  flat however many rows the pages bring.
- The file is written next to its destination under a temporary name and moved into place with
  `os.replace` at the end: a failed export never leaves a half-written file behind.
- CSV and XLSX are opened by spreadsheets. A CSV cell that a spreadsheet would run as a
  formula gets a leading `'` (OWASP CSV-injection guidance: CSV has no other way to say
  "text"). An XLSX cell keeps the text exact: it is stored as a string (never a formula), and
  one that starts like a formula also carries Excel's quote-prefix style, so editing it in
  the sheet keeps it text. JSONL and Parquet keep text exact.
- Every time is written in one shape (`iso`), every number as a number.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from carewatch.log import get_logger

log = get_logger(__name__)

NUMERIC_COLUMNS = frozenset({"author_followers", "sentiment", "urgency"})
TIME_COLUMNS = frozenset({"created_at", "first_response_at", "at"})
PARQUET_ROW_GROUP = 50_000
XLSX_MAX_ROWS = 1_048_576  # rows per sheet, header included
XLSX_MAX_CELL = 32_767  # characters per cell; longer text cannot be stored in XLSX
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
MEDIA_TYPES = {
    "csv": "text/csv", "jsonl": "application/x-ndjson",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
}


class ExportError(ValueError):
    """An export that cannot be done as asked (unknown format, a file that cannot be created,
    too many rows for memory); the message is one line."""


class DestinationError(ExportError):
    """The output file cannot be created in the folder it was asked for."""


def iso(moment: datetime | None) -> str | None:
    """One format for every time in CSV/JSONL/XLSX: `2026-11-23T12:00:00Z` (UTC, whole
    seconds). Platforms send whole seconds; a fixed shape parses with any ISO reader."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def neutralise(value: str) -> str:
    """A text cell a spreadsheet will show as text: formula triggers get a leading `'`."""
    if value and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


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


def parquet_schema(columns: Sequence[str]) -> Any:
    """Explicit types, so an empty export and a full one have the same schema."""
    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    types = {"author_followers": pa.int64(), "sentiment": pa.float64(),
             "urgency": pa.float64()}
    return pa.schema([pa.field(c, ts if c in TIME_COLUMNS else types.get(c, pa.string()),
                               nullable=c != "text")
                      for c in columns])


class _ParquetWriter(_Writer):
    """Each page becomes an Arrow record batch at once (compact, unlike Python tuples); a row
    group is written every PARQUET_ROW_GROUP rows, which bounds memory whatever the total."""

    binary = True

    def start(self) -> None:
        import pyarrow.parquet as pq

        self.schema = parquet_schema(self.columns)
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
        # Excel's own "this is text" mark (the `'` a user types shows in no cell value).
        self.as_text = self.book.add_format({"quote_prefix": True})
        self.sheets = 0
        self._new_sheet()

    def _new_sheet(self) -> None:
        self.sheets += 1
        name = "mentions" if self.sheets == 1 else f"mentions_{self.sheets}"
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
                text = str(value)
                if len(text) > XLSX_MAX_CELL:
                    self.truncated += 1
                if text.startswith(FORMULA_TRIGGERS):
                    sheet.write_string(r, col, text, self.as_text)
                else:
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
        raise DestinationError(f"cannot write in {str(path.parent)!r}: {exc.strerror}") from None
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


def write_pages(pages: Iterable[Sequence[tuple[Any, ...]]], fmt: str, path: Path,
                columns: Sequence[str], *,
                on_rows: Callable[[int], None] | None = None) -> int:
    """Write `pages` of rows (tuples in `columns` order) to `path` as `fmt` (a key of
    `WRITERS`), atomically; returns the row count. `on_rows` hears how many rows each page
    added (a progress bar)."""
    writer_cls = WRITERS[fmt]
    count = 0
    with _atomic(path, writer_cls.binary) as handle:
        writer = writer_cls(handle, columns)
        writer.start()
        for page in pages:
            writer.write(page)
            count += len(page)
            if on_rows is not None:
                on_rows(len(page))
        writer.finish()
    if writer.truncated:
        log.warning("export_xlsx_truncated", cells=writer.truncated, limit=XLSX_MAX_CELL,
                    hint="use csv, jsonl or parquet for the full text")
    return count
