"""`carewatch dashboard`: the exact Streamlit flags, the config passed on, bad input exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_streamlit_command_is_headless_local_and_private() -> None:
    from carewatch.cli.dashboard import APP_PATH, streamlit_command

    argv = streamlit_command(8765)
    flags = dict(zip(argv[5::2], argv[6::2], strict=False))
    assert argv[1:4] == ["-m", "streamlit", "run"]
    assert argv[4] == str(APP_PATH)
    assert APP_PATH.is_file()
    assert flags["--server.headless"] == "true"
    assert flags["--browser.gatherUsageStats"] == "false"
    assert flags["--server.address"] == "127.0.0.1"
    assert flags["--server.port"] == "8765"


def test_config_is_passed_on_as_absolute_path(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from carewatch.cli.dashboard import dashboard_env

    monkeypatch.chdir(tmp_path)
    env = dashboard_env("conf/carewatch.toml", {"CAREWATCH_DATABASE_URL": "sqlite:///x.db"})
    assert env["CAREWATCH_CONFIG"] == str(tmp_path / "conf" / "carewatch.toml")
    assert env["CAREWATCH_DATABASE_URL"] == "sqlite:///x.db"
    assert env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] == "false"


def test_store_without_schema_is_refused_in_one_line(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import carewatch.cli.dashboard  # noqa: F401 - registers the command
    from carewatch.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CAREWATCH_CONFIG", raising=False)
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["dashboard", "--port", "8766"]) == 2
    err = capsys.readouterr().err
    assert "carewatch init" in err
    assert "Traceback" not in err
