"""Configuration: the file, the environment over it, and one clear line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from carewatch.settings import ConfigError, load_settings, parse_duration


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("CAREWATCH_"):
            monkeypatch.delenv(key)


def test_config_env_variable_and_default_file(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text('[brand]\nname = "Other"\n')
    monkeypatch.setenv("CAREWATCH_CONFIG", str(path))
    assert load_settings().brand.name == "Other"
    monkeypatch.delenv("CAREWATCH_CONFIG")
    monkeypatch.chdir(tmp_path)
    assert load_settings().brand.name == "Acme Air"  # no ./carewatch.toml: defaults


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[brand\nname=1", "not valid TOML"),
        ('[[sources]]\nplatform = "myspace"\n', "sources[0].platform"),
        ('[[sources]]\nplatform = "x"\nkind = "search"\n', "needs 'query'"),
        ('[[sources]]\nplatform = "facebook"\nevery = "soon"\npage_id = "1"\n',
         "sources[0].every"),
        ('[alerts]\nfirst_response_minutes = "an hour"\n', "alerts.first_response_minutes"),
        ('[brand]\nnmae = "typo"\n', "brand.nmae: unknown key"),
        ('[[notify]]\nkind = "webhook"\n', "needs 'url'"),
        ('[urgency]\nweights = { bogus = 1.0 }\n', "urgency.weights: unknown reason 'bogus'"),
        ('[urgency]\nweights = { safety = 2.0 }\n', "between 0 and 1"),
        ('[urgency]\nkeywords = { nope = ["x"] }\n', "urgency.keywords: unknown reason"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "carewatch.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert str(path) in message


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREWATCH_HTTP_TIMEOUT", "forever")
    with pytest.raises(ConfigError, match="CAREWATCH_HTTP_TIMEOUT"):
        load_settings()


def test_missing_file_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_durations() -> None:
    assert parse_duration("60s") == 60
    assert parse_duration("2m") == 120
    assert parse_duration("1.5h") == 5400
    assert parse_duration(30) == 30
    with pytest.raises(ValueError, match="longer than zero"):
        parse_duration("0s")
