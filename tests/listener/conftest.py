"""Fixtures for the listener suite: a real sandbox in-process, the documented configuration,
the real CLI, real clients and a real database (SQLite, and PostgreSQL where marked)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
from storage.db import Database, open_database
from tests.listener.helpers import CONTRACT_TOML

CliRunner = Callable[..., tuple[int, str]]


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def control(sandbox: SandboxServer) -> SandboxControl:
    return SandboxControl(sandbox.base_url)


def carewatch_env(tmp_path: Path, base_url: str, database_url: str,
                  toml: str = CONTRACT_TOML) -> dict[str, str]:
    """Everything a carewatch process needs, configured only through the file and the
    variables a user sets."""
    config = tmp_path / "carewatch.toml"
    config.write_text(toml, encoding="utf-8")
    return {
        "CAREWATCH_CONFIG": str(config),
        "CAREWATCH_DATABASE_URL": database_url,
        "CAREWATCH_X_API_URL": base_url,
        "CAREWATCH_GRAPH_API_URL": base_url,
        "CAREWATCH_X_BEARER_TOKEN": "sandbox-bearer-token",
        "CAREWATCH_FB_PAGE_TOKEN": "sandbox-page-token",
        # Keep fault tests fast: few retries, short backoff (429s still wait for the reset).
        "CAREWATCH_MAX_RETRIES": "3",
        "CAREWATCH_MAX_BACKOFF_SECONDS": "0.3",
        "CAREWATCH_HTTP_TIMEOUT": "10",
        "CAREWATCH_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def make_env(tmp_path: Path, sandbox: SandboxServer,
             monkeypatch: pytest.MonkeyPatch) -> Callable[[str], dict[str, str]]:
    """Apply the carewatch environment for a given database URL (returns it too)."""

    def apply(database_url: str, toml: str = CONTRACT_TOML) -> dict[str, str]:
        for key in list(os.environ):
            if key.startswith("CAREWATCH_"):
                monkeypatch.delenv(key)
        env = carewatch_env(tmp_path, sandbox.base_url, database_url, toml)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return env

    return apply


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> CliRunner:
    """Run `carewatch ...` in-process; returns (exit code, stderr)."""
    from carewatch.cli import main

    def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(list(argv))
        return code, capsys.readouterr().err

    return run


@pytest.fixture
def open_db() -> Iterator[Callable[[str], Database]]:
    opened: list[Database] = []

    def opener(url: str) -> Database:
        db = open_database(url)
        opened.append(db)
        return db

    yield opener
    for db in opened:
        db.dispose()
