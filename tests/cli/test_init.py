"""`carewatch init` and the CLI's error discipline: one line, exit 2, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from carewatch.cli import main


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("CAREWATCH_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_init_is_idempotent(database_url: str, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", database_url)
    assert main(["init"]) == 0
    assert "ready" in capsys.readouterr().err
    assert main(["init"]) == 0
    assert "up to date" in capsys.readouterr().err


def test_default_database_is_sqlite_file_in_cwd(tmp_path: Path) -> None:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["init"]) == 0
    assert (tmp_path / "carewatch.db").exists()
    # SQLAlchemy's "Skipped unsupported reflection of expression-based index" put two
    # lines of noise on a fresh SQLite `carewatch init`
    from sqlalchemy.exc import SAWarning

    assert [str(w.message) for w in caught if issubclass(w.category, SAWarning)] == []


def test_unknown_log_level_flag_is_exit_2(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--log-level", "verbose", "init"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("carewatch: error: --log-level: 'verbose' is not a log level (one of "
                   "DEBUG, INFO, WARNING, ERROR)")
    assert not (tmp_path / "carewatch.db").exists()
    assert main(["--log-level", "warning", "init"]) == 0


@pytest.mark.parametrize(
    ("config", "env", "expected"),
    [
        ("[brand\n", {}, "not valid TOML"),
        ('[[sources]]\nplatform = "myspace"\n', {}, "sources[0].platform"),
        ("", {"CAREWATCH_DATABASE_URL": "nosuchdb://x"}, "unsupported database"),
        ("", {"CAREWATCH_DATABASE_URL": "postgresql+psycopg://postgres:hunter2@127.0.0.1:1/x"},
         "cannot reach the database"),
        ("", {"CAREWATCH_DATABASE_URL": "sqlite:////no/such/folder/x.db"}, "does not exist"),
        # a list or table from the environment is JSON: not JSON was a traceback, exit 1
        ("", {"CAREWATCH_BRAND": "{oops"}, "environment: CAREWATCH_BRAND: not valid JSON"),
        ("", {"CAREWATCH_BRAND__HANDLES": "acme"},
         "environment: CAREWATCH_BRAND__HANDLES: not valid JSON"),
        # numbers out of range were taken as given
        ("", {"CAREWATCH_MAX_RETRIES": "-1"}, "CAREWATCH_MAX_RETRIES: Input should be greater"),
        ("[alerts]\nfirst_response_minutes = -5\n", {},
         "alerts.first_response_minutes: Input should be greater than 0"),
        ('[[sources]]\nplatform = "facebook"\npage_id = "1"\nbackfill_days = -1\n', {},
         "sources[0].backfill_days"),
        # a nested variable's mistake was blamed on the file
        ("[alerts]\nfirst_response_minutes = 30\n",
         {"CAREWATCH_ALERTS__FIRST_RESPONSE_MINUTES": "-3"},
         "environment: CAREWATCH_ALERTS__FIRST_RESPONSE_MINUTES: Input should be greater"),
        ("", {"CAREWATCH_ALERTS__BOGUS": "1"}, "environment: CAREWATCH_ALERTS__BOGUS: unknown key"),
        ("", {"CAREWATCH_ALERTS": '{"quiet_factor": -1}'},
         "environment: CAREWATCH_ALERTS: quiet_factor: Input should be greater than 0"),
        # an unknown log level was a silent INFO
        ("", {"CAREWATCH_LOG_LEVEL": "LOUD"}, "CAREWATCH_LOG_LEVEL: 'LOUD' is not a log level"),
        # a canned reply's unknown placeholder was a traceback, exit 1, after the schema
        ('[[canned_replies]]\nname = "ok"\ntext = "Hi {first_name}"\n'
         '[[canned_replies]]\nname = "Bag"\ntext = "Hi {name}, ^{agent}"\n', {},
         "carewatch.toml: canned_replies[1].text: unknown placeholder {name}"),
        ('[[canned_replies]]\nname = "Bag"\ntext = "Hi {first_name"\n', {},
         "canned_replies[0].text: canned reply has a broken placeholder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str], config: str,
                                          env: dict[str, str], expected: str) -> None:
    (tmp_path / "carewatch.toml").write_text(config)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["init"]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err
    assert len(err.splitlines()) == 1
    assert "hunter2" not in err
    assert not (tmp_path / "carewatch.db").exists()


@pytest.mark.parametrize("argv", [
    ["alerts", "--json"], ["reply", "x:1", "--text", "hi"], ["respond", "--once"],
    ["export", "mentions", "--format", "csv", "--out", "out.csv"], ["suggest", "x:1"],
])
def test_commands_need_init_first(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  argv: list[str]) -> None:
    assert main(argv) == 2
    assert "carewatch init" in capsys.readouterr().err
    # Nothing written: opening the default SQLite URL used to leave an empty carewatch.db.
    assert list(tmp_path.iterdir()) == []


def test_console_script_has_every_contract_command(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("carewatch")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    for command in ("init", "listen", "respond", "reply", "move-private", "score", "export",
                    "alerts", "users", "dashboard", "sandbox", "demo"):
        assert command in out, command


def test_unknown_flag_is_exit_2_without_traceback(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("carewatch")
    result = subprocess.run([str(exe), "init", "--bogus"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--bogus" in result.stderr


@pytest.mark.parametrize("argv", [[], ["export"], ["topics"], ["users"]])
def test_group_without_its_command_says_so(argv: list[str],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Was `carewatch: error:  (see ...)`, an empty message."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    command = " ".join(["carewatch", *argv])
    assert err == f"carewatch: error: missing command (see '{command} --help')"


def test_config_and_log_level_after_the_command(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`carewatch init --config PATH` was "No such option: --config", exit 2."""
    config = tmp_path / "elsewhere.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "named.db"}"\n')
    assert main(["init", "--config", str(config), "--log-level", "WARNING"]) == 0
    assert (tmp_path / "named.db").exists()
    assert not (tmp_path / "carewatch.db").exists()
    assert main(["alerts", "--json", f"--config={config}"]) == 0
    assert main(["alerts", "--config"]) == 2
    assert capsys.readouterr().err.strip().endswith("carewatch: error: --config needs a value")


def test_hoisting_leaves_other_options_values_alone() -> None:
    from carewatch.cli import _register, hoist_global_options

    _register(None)
    assert hoist_global_options(["reply", "x:1", "--text", "--config", "--config", "a.toml"]) == [
        "--config", "a.toml", "reply", "x:1", "--text", "--config"]
    assert hoist_global_options(["-c", "b.toml", "listen", "--once"]) == [
        "-c", "b.toml", "listen", "--once"]
    assert hoist_global_options(["score", "--in", "a", "--", "--config"]) == [
        "score", "--in", "a", "--", "--config"]
