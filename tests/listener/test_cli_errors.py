"""`carewatch listen` refuses bad set-ups with one clear line and exit 2, writing nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.listener.conftest import CliRunner
from tests.listener.helpers import CONTRACT_TOML


def test_no_sources_configured(sqlite_url: str, make_env: Callable[..., dict],
                               cli: CliRunner) -> None:
    make_env(sqlite_url, toml='[brand]\nname = "Acme Air"\n')
    assert cli("init")[0] == 0
    code, err = cli("listen", "--once")
    assert code == 2
    assert "no sources configured in carewatch.toml" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("variable", ["CAREWATCH_X_BEARER_TOKEN", "CAREWATCH_FB_PAGE_TOKEN"])
def test_missing_token_names_the_variable(variable: str, sqlite_url: str,
                                          make_env: Callable[..., dict], cli: CliRunner,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    make_env(sqlite_url, toml=CONTRACT_TOML)
    assert cli("init")[0] == 0
    monkeypatch.delenv(variable)
    code, err = cli("listen", "--once")
    assert code == 2
    assert variable in err
    assert len(err.strip().splitlines()) == 1


def test_schema_missing_says_run_init(sqlite_url: str, make_env: Callable[..., dict],
                                      cli: CliRunner) -> None:
    make_env(sqlite_url)
    code, err = cli("listen", "--once")
    assert code == 2
    assert "carewatch init" in err
