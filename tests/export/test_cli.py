"""`carewatch export mentions|audit` through `carewatch.cli.main`, as a user runs it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from storage.db import Database
from tests.export.checks import check_csv, check_parquet
from tests.export.conftest import EXPORTED, expected_rows, read_csv, read_jsonl


def _url(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)


def test_cli_csv_with_filters(cli: Any, filled_db: Database, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    code, err = cli(["export", "mentions", "--format", "csv", "--out", str(out),
                     "--since", "2026-11-01T12:00:00Z", "--until", "2026-11-02",
                     "--platform", "X"], _url(filled_db))
    assert code == 0, err
    want = expected_rows(since=_dt("2026-11-01T12:00:00+00:00"),
                         until=_dt("2026-11-02T00:00:00+00:00"), platform="x")
    check_csv(out, want)
    assert err.strip().splitlines() == [f"exported {len(want)} mentions to {out}"]


def test_cli_parquet_and_format_from_suffix(cli: Any, filled_db: Database,
                                            tmp_path: Path) -> None:
    out = tmp_path / "all.parquet"
    code, err = cli(["export", "mentions", "--out", str(out)], _url(filled_db))
    assert code == 0, err
    check_parquet(out, expected_rows())
    assert err.strip() == f"exported {len(expected_rows())} mentions to {out}"


def _dt(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "pdf"], "--format: unknown format 'pdf' (one of csv|jsonl|xlsx|parquet)"),
    (["--format", "csv", "--since", "yesterday"], "--since: 'yesterday' is not an ISO 8601"),
    (["--format", "csv", "--until", "2026-13-01"], "--until: '2026-13-01' is not an ISO 8601"),
    (["--format", "csv", "--since", "2026-11-02", "--until", "2026-11-01"],
     "--since (2026-11-02T00:00:00Z) must be before --until"),
    (["--format", "csv", "--platform", "myspace"], "--platform: unknown platform 'myspace'"),
    (["--format", "csv", "--out", "{tmp}/missing/out.csv"], "--out: folder "),
    (["--format", "csv", "--out", "{tmp}"], "is a folder, not a file"),
    (["--format", "csv", "--out", ""], "--out is required"),
    (["--out", "{tmp}/x.txt"], "--format is required (one of csv|jsonl|xlsx|parquet)"),
])
def test_cli_bad_flags_exit_2_one_line_nothing_written(
        cli: Any, tmp_path: Path, args: list[str], message: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    db_file = tmp_path / "never.db"
    argv = [a.replace("{tmp}", str(work)) for a in args]
    if "--out" not in argv:
        argv += ["--out", str(work / "out.csv")]
    code, err = cli(["export", "mentions", *argv], f"sqlite:///{db_file}")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("carewatch: error: "), err
    assert message in lines[0]
    assert list(work.iterdir()) == []
    assert not db_file.exists()


def test_cli_unwritable_folder(cli: Any, filled_db: Database, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests may run as root, who can write anywhere: refuse through the access check itself.
    from carewatch.cli import export_flags

    real_access = os.access
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(export_flags.os, "access",
                        lambda p, m: False if Path(p) == locked else real_access(p, m))
    code, err = cli(["export", "mentions", "--format", "csv", "--out", str(locked / "o.csv")],
                    _url(filled_db))
    assert code == 2
    assert f"--out: folder {str(locked)!r} is not writable" in err
    assert list(locked.iterdir()) == []


def test_cli_temp_file_refused_is_usage_error(cli: Any, filled_db: Database, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from storage import export_files

    def refuse(**_kw: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(export_files.tempfile, "mkstemp", refuse)
    code, err = cli(["export", "mentions", "--format", "csv", "--out", str(tmp_path / "o.csv")],
                    _url(filled_db))
    assert code == 2
    assert "--out: cannot write in" in err
    assert "Permission denied" in err
    assert not (tmp_path / "o.csv").exists()


def test_progress_bar_path_runs(filled_db: Database, tmp_path: Path) -> None:
    from carewatch.cli.export import ExportProgress
    from storage import export as ex

    with ExportProgress(True, "exporting mentions") as bar:
        assert ex.export_mentions(filled_db, "jsonl", tmp_path / "p.jsonl",
                                  **bar.callbacks()) == len(EXPORTED)
    with ExportProgress(True, "exporting audit log") as bar:
        assert ex.export_audit(filled_db, "csv", tmp_path / "a.csv", **bar.callbacks()) == 3


def test_cli_missing_schema_is_usage_error(cli: Any, tmp_path: Path) -> None:
    code, err = cli(["export", "mentions", "--format", "csv", "--out",
                     str(tmp_path / "o.csv")], f"sqlite:///{tmp_path / 'empty.db'}")
    assert code == 2
    assert "carewatch init" in err
    assert not (tmp_path / "o.csv").exists()


def test_cli_audit_csv_and_jsonl(cli: Any, filled_db: Database, tmp_path: Path) -> None:
    out = tmp_path / "audit.csv"
    code, err = cli(["export", "audit", "--format", "csv", "--out", str(out)], _url(filled_db))
    assert code == 0, err
    header, rows = read_csv(out)
    assert header == ["at", "actor", "action", "target", "details"]
    assert [r["actor"] for r in rows] == ["alice", "'=bob", "carol"]
    assert rows[0]["at"] == "2026-11-01T09:00:00Z"
    assert json.loads(rows[1]["details"]) == {"to": "carol", "note": "línea\r\nnueva"}
    assert json.loads(rows[0]["details"]) == {"ref": "x:x-1000", "text": "=1+1"}
    assert err.strip() == f"exported 3 audit entries to {out}"

    out = tmp_path / "audit.jsonl"
    code, err = cli(["export", "audit", "--out", str(out)], _url(filled_db))
    assert code == 0, err
    rows = read_jsonl(out)
    assert [r["actor"] for r in rows] == ["alice", "=bob", "carol"]
    assert list(rows[0]) == ["at", "actor", "action", "target", "details"]
    assert json.loads(rows[1]["details"])["note"] == "línea\r\nnueva"

    code, err = cli(["export", "audit", "--format", "xlsx", "--out", str(tmp_path / "a.xlsx")],
                    _url(filled_db))
    assert code == 2
    assert "--format: unknown format 'xlsx' (one of csv|jsonl)" in err


def test_cli_disk_failure_is_exit_1_and_leaves_nothing(cli: Any, filled_db: Database,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from storage import export_files

    def full(self: object, rows: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_files._JsonlWriter, "write", full)
    out = tmp_path / "o.jsonl"
    code, err = cli(["export", "mentions", "--format", "jsonl", "--out", str(out)],
                    _url(filled_db))
    assert code == 1
    assert err.strip() == f"carewatch: failed: could not write {out}: No space left on device"
    assert list(tmp_path.iterdir()) == []
