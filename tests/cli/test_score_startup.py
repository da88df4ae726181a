"""`carewatch score` starts without loading the settings when nothing is configured.

Why: importing `carewatch.settings` (pydantic-settings, the models) took ~0.2 s of CPU, two
thirds of the command's start-up, before its workers start. With no configuration file and
no `CAREWATCH_*` variable that sets a field, every setting is its default, so the command
uses `carewatch.config_source`'s defaults; these tests hold those defaults to `Settings()`,
and check that a configuration, when there is one, is still read and applied.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from carewatch.config_source import (
    DEFAULT_DATABASE_URL,
    DEFAULT_FIRST_RESPONSE_MINUTES,
    defaults_only,
)
from carewatch.settings import Settings, UrgencyConfig
from listener.scoring.scorer import Scorer

RUN = (
    "import sys\n"
    "from carewatch.cli import main\n"
    "code = main(['score', '--in', sys.argv[1], '--out', sys.argv[2]])\n"
    "print(code, 'carewatch.settings' in sys.modules)\n"
)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CAREWATCH_")}


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for key in list(os.environ):
        if key.startswith("CAREWATCH_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_defaults_are_the_settings_defaults(clean: Path) -> None:
    settings = Settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.alerts.first_response_minutes == DEFAULT_FIRST_RESPONSE_MINUTES
    assert settings.urgency == UrgencyConfig()


def test_scorer_without_urgency_config_builds_the_default_rules() -> None:
    plain, configured = Scorer().rules, Scorer(UrgencyConfig()).rules
    assert plain.weights == configured.weights
    assert plain.high_reach_followers == configured.high_reach_followers
    assert plain.first_response_minutes == configured.first_response_minutes
    for name in ("words", "prefixes", "phrases", "korean"):
        assert getattr(plain.matcher, name) == getattr(configured.matcher, name), name


def test_defaults_only_when_nothing_can_set_a_field(clean: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert defaults_only(None)
    monkeypatch.setenv("CAREWATCH_LOG_LEVEL", "DEBUG")  # not a setting
    monkeypatch.setenv("CAREWATCH_PURE_PYTHON", "1")
    monkeypatch.setenv("CAREWATCH_CONFIG", "")
    assert defaults_only(None)
    assert not defaults_only("other.toml")
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", "sqlite:///x.db")
    assert not defaults_only(None)
    monkeypatch.delenv("CAREWATCH_DATABASE_URL")
    monkeypatch.setenv("CAREWATCH_ALERTS__FIRST_RESPONSE_MINUTES", "5")
    assert not defaults_only(None)
    monkeypatch.delenv("CAREWATCH_ALERTS__FIRST_RESPONSE_MINUTES")
    (clean / "carewatch.toml").write_text("")
    assert not defaults_only(None)


def _score(tmp_path: Path, env: dict[str, str]) -> tuple[str, list[dict[str, str]]]:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("text\nmy flight is cancelled and nobody answers. terrible\n"
                   "thanks. lovely crew\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", RUN, str(src), str(dst)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120, check=True)
    assert dst.exists(), (result.stdout, result.stderr)
    with dst.open(newline="", encoding="utf-8") as fh:
        return result.stdout.strip(), list(csv.DictReader(fh))


def test_score_without_configuration_never_loads_the_settings(tmp_path: Path) -> None:
    out, rows = _score(tmp_path, _clean_env())
    assert out == "0 False"
    assert "negative" in rows[0]["urgency_reasons"].split(";")


def test_score_with_a_configuration_reads_and_applies_it(tmp_path: Path) -> None:
    (tmp_path / "carewatch.toml").write_text("[urgency]\nweights = { negative = 0.0 }\n")
    out, rows = _score(tmp_path, _clean_env())
    assert out == "0 True"
    assert "negative" not in rows[0]["urgency_reasons"].split(";")
    (tmp_path / "carewatch.toml").unlink()
    env = {**_clean_env(), "CAREWATCH_URGENCY__WEIGHTS": '{"negative": 0.0}'}
    out, rows = _score(tmp_path, env)
    assert out == "0 True"
    assert "negative" not in rows[0]["urgency_reasons"].split(";")


def test_score_with_a_bad_environment_value_is_exit_2(tmp_path: Path) -> None:
    env = {**_clean_env(), "CAREWATCH_ALERTS__FIRST_RESPONSE_MINUTES": "soon"}
    src = tmp_path / "in.csv"
    src.write_text("text\nhello\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "carewatch", "score", "--in", str(src),
                             "--out", str(tmp_path / "out.csv")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "first_response_minutes" in result.stderr.lower()
    assert not (tmp_path / "out.csv").exists()
