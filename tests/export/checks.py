"""Format-by-format checks of one export against the expected rows; shared by the SQLite and
PostgreSQL tests so both backends are held to exactly the same standard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from storage.export import COLUMNS, ExportFilter, export_mentions
from tests.export.conftest import (
    assert_columns,
    expected_rows,
    iso,
    read_csv,
    read_jsonl,
    read_parquet,
    read_xlsx,
    spreadsheet_safe,
)

NUMERIC = ("author_followers", "sentiment", "urgency")
TIMES = ("created_at", "first_response_at")


def _flat_text(row: dict[str, Any], key: str) -> str:
    value = row[key]
    if key in TIMES:
        return iso(value)
    return "" if value is None else str(value)


def check_csv(path: Path, expected: list[dict[str, Any]]) -> None:
    import pandas as pd

    header, rows = read_csv(path)
    assert_columns(header)
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected, strict=True):
        for key in COLUMNS:
            if key in NUMERIC:
                if want[key] is None:
                    assert got[key] == ""
                else:  # a number, never a '-prefixed text, and the rounded value
                    assert float(got[key]) == want[key], key
            else:
                assert got[key] == (spreadsheet_safe(_flat_text(want, key)) or ""), key
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(frame.columns) == list(COLUMNS)
    assert frame["text"].tolist() == [spreadsheet_safe(w["text"]) for w in expected]
    numbers = pd.read_csv(path, usecols=["sentiment", "urgency"])
    assert numbers["sentiment"].dtype.kind == "f"
    assert numbers["urgency"].dtype.kind == "f"


def check_jsonl(path: Path, expected: list[dict[str, Any]]) -> None:
    rows = read_jsonl(path)
    assert len(rows) == len(expected)
    raw = path.read_bytes()
    for got, want in zip(rows, expected, strict=True):
        assert list(got) == list(COLUMNS)
        assert got["text"] == want["text"]  # exact, no spreadsheet prefix
        assert json.dumps(want["text"], ensure_ascii=False).encode("utf-8") in raw
        for key in COLUMNS:
            if key in TIMES:
                assert got[key] == (iso(want[key]) or None), key
            else:
                assert got[key] == want[key], key


def check_xlsx(path: Path, expected: list[dict[str, Any]]) -> None:
    sheets = read_xlsx(path)
    assert list(sheets) == ["mentions"]
    rows = sheets["mentions"]
    assert_columns(rows[0])
    assert len(rows) - 1 == len(expected)
    for got_row, want in zip(rows[1:], expected, strict=True):
        got = dict(zip(COLUMNS, got_row, strict=True))
        for key in COLUMNS:
            if key in NUMERIC:
                assert got[key] == want[key], key  # real numbers (or empty)
                assert want[key] is None or isinstance(got[key], int | float)
            else:  # exact: no `'` added to the value (CSV's way, which XLSX does not need)
                assert (got[key] or "") == (_flat_text(want, key) or ""), key
    check_xlsx_text_cells(path)


def check_xlsx_text_cells(path: Path) -> None:
    """Every cell that starts like a formula is a string cell (never a formula) marked with
    Excel's quote prefix, so a spreadsheet shows it, and keeps it on editing, as text."""
    import openpyxl

    from storage.export_files import FORMULA_TRIGGERS

    book = openpyxl.load_workbook(path)
    for sheet in book.worksheets:
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith(FORMULA_TRIGGERS):
                    assert cell.data_type == "s", cell.coordinate
                    assert cell.quotePrefix, cell.coordinate
    book.close()


def check_parquet(path: Path, expected: list[dict[str, Any]]) -> None:
    import pyarrow as pa

    table = read_parquet(path)
    assert table.column_names == list(COLUMNS)
    assert table.schema.field("author_followers").type == pa.int64()
    assert table.schema.field("sentiment").type == pa.float64()
    assert table.schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("text").type == pa.string()
    rows = table.to_pylist()
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected, strict=True):
        for key in COLUMNS:  # exact values: text byte for byte, aware UTC datetimes
            assert got[key] == want[key], key


CHECKS = {"csv": check_csv, "jsonl": check_jsonl, "xlsx": check_xlsx, "parquet": check_parquet}


def export_and_check(db: Any, fmt: str, folder: Path, *, include_private: bool = False,
                     **flags: Any) -> None:
    out = folder / f"out.{fmt}"
    count = export_mentions(db, fmt, out, filters=ExportFilter(include_private=include_private),
                            **flags)
    since = flags.get("since")
    until = flags.get("until")
    expected = expected_rows(since=since, until=until, platform=flags.get("platform"),
                             include_private=include_private)
    assert count == len(expected)
    CHECKS[fmt](out, expected)
    assert [p.name for p in folder.iterdir()] == [out.name], "no temp file left behind"
