"""Bad paths and bad input through `carewatch.cli.main`, as a user runs it: one line on
stderr, exit 2, no traceback, and nothing written (no output file, no temporary file, no
audit row). Permission cases that root would pass are skipped as root, each next to a case
that fails the same way for root too (/proc, a path under a regular file, a FIFO)."""

from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path

import pytest

from carewatch.cli import main

# /proc refuses new files: by its mode for a user, by the write itself for root.
PROC_REFUSED = r"folder '/proc' is not writable|cannot write in folder '/proc'"


def _permission_bits_apply() -> bool:
    """False for root with CAP_DAC_OVERRIDE, which reads and writes whatever the mode says
    (run as root without it: `setpriv --inh-caps=-dac_override,-dac_read_search
    --bounding-set=-dac_override,-dac_read_search .venv/bin/python -m pytest ...`)."""
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe"
        probe.write_text("")
        probe.chmod(0)
        try:
            probe.read_text()
        except PermissionError:
            return True
        return False


NOT_AS_ROOT = pytest.mark.skipif(
    not _permission_bits_apply(), reason="running as root, which reads and writes whatever "
    "the permission bits say; the /proc, FIFO and file-as-folder cases check the same "
    "refusals as root")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("CAREWATCH_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def csv_in(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    path.write_text("id,text\n1,my flight was cancelled again\n", encoding="utf-8")
    return path


def _one_line_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize(("out", "expected"), [
    ("{tmp}", "is a folder, not a file"),
    ("{tmp}/no/such/folder/out.csv", "does not exist"),
    ("{tmp}/in.csv/out.csv", "is not a folder"),  # the parent is a file
    ("/proc/out.csv", PROC_REFUSED),  # unwritable, even for root
])
def test_score_out_refused_before_any_work(tmp_path: Path, csv_in: Path, out: str,
                                           expected: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    before = _files(tmp_path)
    err = _one_line_exit_2(["score", "--in", str(csv_in),
                            "--out", out.format(tmp=tmp_path)], capsys)
    assert err.startswith("carewatch: error: --out: ")
    assert re.search(expected, err)
    assert _files(tmp_path) == before


@NOT_AS_ROOT
def test_score_out_in_a_read_only_folder(tmp_path: Path, csv_in: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        err = _one_line_exit_2(["score", "--in", str(csv_in), "--out",
                                str(folder / "out.csv")], capsys)
    finally:
        folder.chmod(0o700)
    assert "is not writable" in err
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(("make", "expected"), [
    ("missing", "no such file"),
    ("folder", "is a directory"),
    ("fifo", "is not a regular file"),  # would block, and cannot be read twice
    ("proc", "cannot read it: Input/output error"),  # unreadable, even for root
    ("under_file", "cannot read it: Not a directory"),
])
def test_score_in_unusable(tmp_path: Path, csv_in: Path, make: str, expected: str,
                           capsys: pytest.CaptureFixture[str]) -> None:
    path = {"missing": tmp_path / "nope.csv", "folder": tmp_path / "dir",
            "fifo": tmp_path / "pipe", "proc": Path("/proc/self/mem"),
            "under_file": csv_in / "x.csv"}[make]
    if make == "folder":
        path.mkdir()
    elif make == "fifo":
        os.mkfifo(path)
    before = _files(tmp_path)
    err = _one_line_exit_2(["score", "--in", str(path), "--out",
                            str(tmp_path / "out.csv")], capsys)
    assert expected in err
    assert _files(tmp_path) == before


@NOT_AS_ROOT
def test_score_in_permission_denied(tmp_path: Path, csv_in: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    csv_in.chmod(0)
    err = _one_line_exit_2(["score", "--in", str(csv_in), "--out",
                            str(tmp_path / "out.csv")], capsys)
    assert "is not readable" in err  # typer's own check of --in, before the command runs
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize(("config", "expected"), [
    ("{tmp}", "is a directory, not a configuration file"),
    ("/proc/self/mem", "cannot read the configuration file: Input/output error"),
    ("{tmp}/in.csv/carewatch.toml", "cannot read the configuration file: Not a directory"),
    ("{tmp}/nope.toml", "configuration file not found"),
])
def test_config_path_unusable(tmp_path: Path, csv_in: Path, config: str, expected: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line_exit_2(["--config", config.format(tmp=tmp_path), "init"], capsys)
    assert expected in err
    assert not (tmp_path / "carewatch.db").exists()


@NOT_AS_ROOT
def test_config_permission_denied(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "carewatch.toml"
    path.write_text('[brand]\nname = "x"\n')
    path.chmod(0)
    err = _one_line_exit_2(["--config", str(path), "init"], capsys)
    assert "cannot read the configuration file: Permission denied" in err


def test_secret_in_config_file_is_refused(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "carewatch.toml").write_text('fb_page_token = "EAAB-page-token-123"\n')
    err = _one_line_exit_2(["init"], capsys)
    assert "fb_page_token may not be set in a configuration file" in err
    assert err.endswith("use the environment variable CAREWATCH_FB_PAGE_TOKEN")
    assert "EAAB" not in err
    assert not (tmp_path / "carewatch.db").exists()


def test_smtp_login_without_tls_is_refused(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "carewatch.toml").write_text(
        '[[notify]]\nkind = "email"\nsmtp_host = "mail.example"\nsender = "a@x.example"\n'
        'to = ["b@x.example"]\nsmtp_user = "carewatch"\n')
    err = _one_line_exit_2(["init"], capsys)
    assert 'notify[0]: smtp_user needs smtp_tls = "starttls" or "implicit"' in err


def test_users_add_with_empty_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init"]) == 0
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    err = _one_line_exit_2(["users", "add", "maria", "--role", "agent", "--password-stdin"],
                           capsys)
    assert "--password-stdin: the password is empty: stdin had nothing to read" in err
    assert main(["users", "list"]) == 0
    assert "maria" not in capsys.readouterr().out


def test_export_out_unwritable_writes_no_audit_row(database_url: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The folder is refused before the database is opened, so a private export that could
    not have been written leaves no `export.include_private` row behind."""
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", database_url)
    assert main(["init"]) == 0
    (tmp_path / "plain.txt").write_text("")
    for out, expected in (("/proc/out.csv", PROC_REFUSED),
                          (str(tmp_path), "is a folder, not a file"),
                          (str(tmp_path / "plain.txt" / "x.csv"), "is not a folder")):
        capsys.readouterr()
        err = _one_line_exit_2(["export", "mentions", "--format", "csv", "--out", out,
                                "--include-private", "--as", "ana"], capsys)
        assert re.search(expected, err)
    capsys.readouterr()
    audit = tmp_path / "audit.jsonl"
    assert main(["export", "audit", "--out", str(audit)]) == 0
    assert "export.include_private" not in audit.read_text()
