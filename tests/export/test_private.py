"""Private messages in the export: left out unless asked for, and asking is audited.

Every format, with and without `include_private`; the echo is always a row and the brand's
own private answer never is; `--include-private` through the CLI on SQLite and PostgreSQL
writes an audit row before the file, which `export audit` then shows.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from storage import export as ex
from storage import export_files as files
from storage.db import Database
from storage.models import AuditEntry
from tests.export.checks import export_and_check
from tests.export.conftest import (
    ECHO_REF,
    EXPORTED,
    PRIVATE_REF,
    PRIVATE_TEXT,
    WITH_PRIVATE,
    filled_store,
    read_csv,
    read_jsonl,
)

FORMATS = ["csv", "jsonl", "xlsx", "parquet"]


@pytest.fixture
def fresh_db(database_url: str) -> Iterator[Database]:
    """A filled store of its own on each backend, for tests that add audit rows."""
    with filled_store(database_url) as db:
        yield db


def _url(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)


def _audit(db: Database) -> list[tuple[str, str | None, dict[str, Any]]]:
    """(actor, target, details) of every private-export audit row, oldest first."""
    with db.session() as session:
        rows = session.execute(select(AuditEntry).where(
            AuditEntry.action == ex.PRIVATE_EXPORT_ACTION).order_by(AuditEntry.id)).scalars()
        return [(r.actor, r.target, r.details) for r in rows]


def test_columns_end_with_visibility_and_topic() -> None:
    assert ex.COLUMNS[-2:] == ("visibility", "topic")
    assert len(ex.COLUMNS) == 20


@pytest.mark.parametrize("fmt", FORMATS)
def test_private_rows_left_out_by_default(filled_db: Database, tmp_path: Path,
                                          fmt: str) -> None:
    export_and_check(filled_db, fmt, tmp_path)
    data = (tmp_path / f"out.{fmt}").read_bytes()
    assert PRIVATE_REF[1].encode() not in data
    if fmt in ("csv", "jsonl"):  # the text itself is readable in these
        assert PRIVATE_TEXT.encode() not in data
    download = ex.export_bytes(filled_db, fmt)
    assert PRIVATE_REF[1].encode() not in download
    assert PRIVATE_TEXT.encode() not in download


@pytest.mark.parametrize("fmt", FORMATS)
def test_include_private_adds_them(filled_db: Database, tmp_path: Path, fmt: str) -> None:
    export_and_check(filled_db, fmt, tmp_path, include_private=True)


def test_echo_is_a_row_and_own_private_answer_never(filled_db: Database) -> None:
    rows = {(r["platform"], r["external_id"]): r for r in ex.iter_export_rows(
        filled_db, filters=ex.ExportFilter(include_private=True))}
    assert len(rows) == len(WITH_PRIVATE) == len(EXPORTED) + 1
    echo = rows[ECHO_REF]
    assert (echo["urgency_reasons"], echo["urgency"], echo["visibility"]) == ("echo", 0.0,
                                                                            "public")
    private = rows[PRIVATE_REF]
    assert (private["visibility"], private["text"], private["topic"]) == ("private",
                                                                        PRIVATE_TEXT, "")
    assert ("facebook", "m_own-1") not in rows
    with filled_db.session() as session:
        assert ex.count_mentions(session) == len(EXPORTED)
        assert ex.count_mentions(session, filters=ex.ExportFilter(
            include_private=True)) == len(WITH_PRIVATE)


def test_cli_without_flag_leaves_private_out_and_audits_nothing(
        cli: Any, fresh_db: Database, tmp_path: Path) -> None:
    out = tmp_path / "public.csv"
    code, err = cli(["export", "mentions", "--out", str(out)], _url(fresh_db))
    assert code == 0, err
    _header, rows = read_csv(out)
    assert {r["visibility"] for r in rows} == {"public"}
    assert PRIVATE_TEXT not in out.read_text(encoding="utf-8")
    assert _audit(fresh_db) == []


def test_cli_include_private_is_audited_and_shown_in_audit_export(
        cli: Any, fresh_db: Database, tmp_path: Path) -> None:
    out = tmp_path / "everything.jsonl"
    code, err = cli(["export", "mentions", "--out", str(out), "--include-private",
                     "--since", "2026-11-01", "--platform", "facebook", "--as", "dana"],
                    _url(fresh_db))
    assert code == 0, err
    rows = read_jsonl(out)
    assert [r["text"] for r in rows if r["visibility"] == "private"] == [PRIVATE_TEXT]
    assert _audit(fresh_db) == [("dana", "everything.jsonl", {
        "format": "jsonl", "since": "2026-11-01T00:00:00Z", "until": None,
        "platform": "facebook", "include_private": "yes", "via": "cli --as"})]

    code, err = cli(["export", "mentions", "--format", "csv", "--out",
                     str(tmp_path / "again.csv"), "--include-private"], _url(fresh_db))
    assert code == 0, err
    assert _audit(fresh_db)[-1][:2] == (getpass.getuser(), "again.csv")

    audit_out = tmp_path / "audit.csv"
    code, err = cli(["export", "audit", "--out", str(audit_out)], _url(fresh_db))
    assert code == 0, err
    _header, entries = read_csv(audit_out)
    private = [e for e in entries if e["action"] == "export.include_private"]
    assert [(e["actor"], e["target"]) for e in private] == [
        ("dana", "everything.jsonl"), (getpass.getuser(), "again.csv")]
    assert json.loads(private[0]["details"])["platform"] == "facebook"


def test_audit_row_is_written_before_the_file(cli: Any, fresh_db: Database, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def full(self: object, rows: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files._CsvWriter, "write", full)
    out = tmp_path / "failed.csv"
    code, _err = cli(["export", "mentions", "--out", str(out), "--include-private",
                      "--as", "eve"], _url(fresh_db))
    assert code == 1
    assert not out.exists()
    assert [(actor, target) for actor, target, _ in _audit(fresh_db)] == [("eve", "failed.csv")]
