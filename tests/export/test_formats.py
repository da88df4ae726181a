"""Every format read back with the tool an analyst would use: exact columns, one row per
mention, text exact (JSONL/Parquet) or spreadsheet-safe (CSV/XLSX), numbers numeric."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from carewatch.cli import export_flags as cli_flags
from carewatch.cli.common import UsageError
from storage import export as ex
from storage import export_files as files
from storage.db import Database
from tests.export.checks import export_and_check
from tests.export.conftest import EXPORTED, HOSTILE, expected_rows, read_csv, read_xlsx

FORMATS = ["csv", "jsonl", "xlsx", "parquet"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_full_export_round_trips(filled_db: Database, tmp_path: Path, fmt: str) -> None:
    export_and_check(filled_db, fmt, tmp_path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_filters_since_until_platform(filled_db: Database, tmp_path: Path, fmt: str) -> None:
    export_and_check(filled_db, fmt, tmp_path, since=datetime(2026, 11, 1, 12, tzinfo=UTC),
                     until=datetime(2026, 11, 1, 20, tzinfo=UTC), platform="facebook")


def test_since_inclusive_until_exclusive_with_offsets(filled_db: Database) -> None:
    # 13:00+02:00 is 11:00Z, the 3rd mention exactly (inclusive); until 14:00Z excludes #5.
    def since(text: str) -> datetime | None:
        return cli_flags.parse_time(text, "--since")

    rows = list(ex.iter_export_rows(filled_db, since=since("2026-11-01T13:00:00+02:00"),
                                    until=since("2026-11-01T14:00:00Z")))
    assert [r["text"] for r in rows] == [HOSTILE[2], HOSTILE[3], HOSTILE[4], HOSTILE[5]]
    naive = list(ex.iter_export_rows(filled_db, since=since("2026-11-01T11:00:00")))
    assert naive[0]["text"] == HOSTILE[2]
    assert list(ex.iter_export_rows(filled_db, since=since("2026-11-03"))) == []


def test_own_posts_never_exported(filled_db: Database) -> None:
    rows = list(ex.iter_export_rows(filled_db))
    assert len(rows) == len(EXPORTED)
    assert "x-own-1" not in {r["external_id"] for r in rows}
    assert all(r["author_handle"] != "acmeair" for r in rows)


def test_keyset_pages_exactly_once_across_ties(filled_db: Database) -> None:
    with filled_db.session() as session:
        for size in (1, 2, 3, 4, 100):
            pages = list(ex.iter_mention_pages(session, page_size=size))
            ids = [row[1] for page in pages for row in page]
            assert ids == [r["external_id"] for r in expected_rows()], size
            assert all(len(p) <= size for p in pages)


def test_extra_filters_for_dashboard(filled_db: Database) -> None:
    negative = list(ex.iter_export_rows(
        filled_db, filters=ex.ExportFilter(sentiment_labels=("negative",))))
    assert negative
    assert {r["sentiment_label"] for r in negative} == {"negative"}
    replied = list(ex.iter_export_rows(filled_db, filters=ex.ExportFilter(statuses=("replied",))))
    assert [r["external_id"] for r in replied] == ["x-1000"]
    assert replied[0]["first_response_at"] == datetime(2026, 11, 2, 8, 30, 15, tzinfo=UTC)
    urgent = list(ex.iter_export_rows(filled_db, filters=ex.ExportFilter(min_urgency=0.5)))
    assert urgent
    assert all(r["urgency"] >= 0.5 for r in urgent)
    found = list(ex.iter_export_rows(filled_db,
                                     filters=ex.ExportFilter(text_contains="50%_\\")))
    assert found == []


def test_export_bytes_and_frames(filled_db: Database) -> None:
    data = ex.export_bytes(filled_db, "csv", platform="x")
    assert data.startswith(b"platform,external_id,")
    assert data.count(b"\nx,") == len(expected_rows(platform="x"))
    parquet = ex.export_bytes(filled_db, "parquet")
    assert parquet[:4] == b"PAR1"
    with pytest.raises(ex.ExportTooLarge, match="narrow the filters"):
        ex.export_bytes(filled_db, "xlsx", max_rows=3)
    frames = list(ex.iter_export_frames(filled_db, page_size=5))
    assert sum(len(f) for f in frames) == len(EXPORTED)
    assert list(frames[0].columns) == list(ex.COLUMNS)
    assert str(frames[0]["created_at"].dtype).startswith("datetime64")


def test_empty_export_has_header_and_schema(filled_db: Database, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    for fmt in FORMATS:
        out = tmp_path / f"empty.{fmt}"
        assert ex.export_mentions(filled_db, fmt, out,
                                  since=datetime(2030, 1, 1, tzinfo=UTC)) == 0
    assert read_csv(tmp_path / "empty.csv") == (list(ex.COLUMNS), [])
    assert (tmp_path / "empty.jsonl").read_bytes() == b""
    assert read_xlsx(tmp_path / "empty.xlsx") == {"mentions": [tuple(ex.COLUMNS)]}
    table = pq.read_table(tmp_path / "empty.parquet")
    assert table.num_rows == 0
    assert table.schema == files.parquet_schema(ex.COLUMNS)


def test_xlsx_continues_on_a_new_sheet(filled_db: Database, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "XLSX_MAX_ROWS", 6)  # header + 5 rows per sheet
    out = tmp_path / "many.xlsx"
    ex.export_mentions(filled_db, "xlsx", out)
    sheets = read_xlsx(out)
    assert list(sheets) == ["mentions", "mentions_2", "mentions_3", "mentions_4"]
    assert all(rows[0] == tuple(ex.COLUMNS) for rows in sheets.values())
    texts = [row[7] for rows in sheets.values() for row in rows[1:]]
    assert len(texts) == len(EXPORTED)
    assert texts == [r["text"] for r in expected_rows()]  # exact, quote-prefixed instead


def test_failure_mid_export_leaves_nothing(filled_db: Database, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out.csv"
    out.write_text("previous export\n")

    def boom(self: object, rows: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(files._CsvWriter, "write", boom)
    with pytest.raises(RuntimeError):
        ex.export_mentions(filled_db, "csv", out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    assert out.read_text() == "previous export\n"  # the old file is untouched


def test_time_format_and_rounding() -> None:
    assert files.iso(datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)) == (
        "2026-11-23T12:00:00Z")
    assert cli_flags.parse_time("2026-11-01", "--since") == datetime(2026, 11, 1, tzinfo=UTC)
    assert cli_flags.parse_time("2026-11-01T10:00:00-05:00", "--since") == datetime(
        2026, 11, 1, 15, tzinfo=UTC)
    with pytest.raises(UsageError, match=r"^--until: 'soon' is not an ISO 8601"):
        cli_flags.parse_time("soon", "--until")
    # Beyond datetime's range once in UTC: was an OverflowError traceback, exit 1.
    for edge in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00"):
        with pytest.raises(UsageError, match=r"^--since: '.*' is out of range"):
            cli_flags.parse_time(edge, "--since")
    assert ex._number(-0.123456, -1, 1) == -0.1235
    assert ex._number(1.7, -1, 1) == 1.0
    assert ex._number(float("nan"), 0, 1) is None
    assert files.neutralise("-0.5") == "'-0.5"
    assert files.neutralise("a=b") == "a=b"
