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


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("1m30s", 90), ("1h 30m", 5400), ("5 minutes", 300), ("30 sec", 30),
    ("2 hours", 7200), ("1 day", 86400), ("500ms", 0.5), ("PT60S", 60), ("pt1h30m", 5400),
    ("P1D", 86400), (" 2M ", 120), ("1.5 mins", 90),
])
def test_durations_as_people_write_them(text: str, seconds: float) -> None:
    """A schedule is written by people: compound, spelled-out and ISO 8601 durations mean
    one thing each, so they are read rather than refused."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "m30", "5 fortnights", "1m30", "PT", "P", "P1DT",
                                  "1h-30m", "sixty seconds", "5 minutesx", "-5m"])
def test_what_is_not_a_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration like"):
        parse_duration(text)


def test_every_secret_field_is_in_the_one_list() -> None:
    """Each top-level `SecretStr` setting is in `Settings.secret_fields()`, the list the
    file check and the scrubbing share, so a new token cannot be forgotten in either."""
    from pydantic import SecretStr

    from carewatch.settings import Settings

    secret_typed = {name for name, field in Settings.model_fields.items()
                    if SecretStr in getattr(field.annotation, "__args__", ())}
    assert set(Settings.secret_fields()) == secret_typed
    assert {"x_bearer_token", "x_consumer_key", "x_consumer_secret", "x_access_token",
            "x_access_token_secret", "fb_page_token", "meta_app_secret",
            "meta_verify_token"} <= secret_typed


@pytest.mark.parametrize("name", [
    "x_bearer_token", "x_consumer_key", "x_consumer_secret", "x_access_token",
    "x_access_token_secret", "fb_page_token", "meta_app_secret", "meta_verify_token",
])
def test_a_secret_in_the_file_is_refused_naming_the_variable(tmp_path: Path, name: str) -> None:
    path = tmp_path / "carewatch.toml"
    path.write_text(f'{name} = "tok-in-file-123456"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert f"{path}: {name} may not be set in a configuration file" in message
    assert f"CAREWATCH_{name.upper()}" in message
    assert "tok-in-file-123456" not in message
    assert "\n" not in message


def test_secrets_from_the_environment_are_read(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "carewatch.toml"
    path.write_text('[brand]\nname = "Acme"\n')
    monkeypatch.setenv("CAREWATCH_X_BEARER_TOKEN", "tok-from-env")
    settings = load_settings(path)
    assert settings.x_bearer_token is not None
    assert settings.x_bearer_token.get_secret_value() == "tok-from-env"


_EMAIL = '[[notify]]\nkind = "email"\nsmtp_host = "mail.example"\nsender = "a@x.example"\n' \
         'to = ["b@x.example"]\n'


@pytest.mark.parametrize(("extra", "variable"), [
    ('smtp_tls = "starttls"\nsmtp_user = "u"\nsmtp_password = "pw-in-file"\n',
     "CAREWATCH_SMTP_PASSWORD"),
    ('smtp_tls = "starttls"\nsmtp_user = "u"\nsmtp_password_env = "MAIL_PW"\n'
     'smtp_password = "pw-in-file"\n', "MAIL_PW"),
])
def test_an_smtp_password_in_the_file_is_refused(tmp_path: Path, extra: str,
                                                 variable: str) -> None:
    path = tmp_path / "carewatch.toml"
    path.write_text(_EMAIL + extra)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert "notify[0].smtp_password may not be set in a configuration file" in message
    assert f"use the environment variable {variable}" in message
    assert "pw-in-file" not in message
    assert "\n" not in message


def test_smtp_password_comes_from_the_named_variable(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "carewatch.toml"
    path.write_text(_EMAIL + 'smtp_tls = "starttls"\nsmtp_user = "u"\n'
                    + _EMAIL + 'smtp_tls = "implicit"\nsmtp_user = "v"\n'
                    'smtp_password_env = "MAIL_PW"\n')
    monkeypatch.setenv("CAREWATCH_SMTP_PASSWORD", "default-pw")
    monkeypatch.setenv("MAIL_PW", "named-pw")
    first, second = load_settings(path).notify
    assert first.smtp_password is not None
    assert second.smtp_password is not None
    assert first.smtp_password.get_secret_value() == "default-pw"
    assert second.smtp_password.get_secret_value() == "named-pw"


@pytest.mark.parametrize(("extra", "tls", "port"), [
    ("", "none", 25),
    ("smtp_starttls = true\n", "starttls", 25),  # the older spelling keeps working
    ('smtp_tls = "starttls"\nsmtp_port = 587\n', "starttls", 587),
    ('smtp_tls = "implicit"\n', "implicit", 465),
])
def test_smtp_tls_modes_and_default_ports(tmp_path: Path, extra: str, tls: str,
                                          port: int) -> None:
    path = tmp_path / "carewatch.toml"
    path.write_text(_EMAIL + extra)
    target = load_settings(path).notify[0]
    assert (target.smtp_tls, target.smtp_port) == (tls, port)


@pytest.mark.parametrize(("extra", "expected"), [
    ('smtp_user = "u"\n', 'smtp_user needs smtp_tls = "starttls" or "implicit"'),
    ('smtp_tls = "none"\nsmtp_user = "u"\n', 'smtp_user needs smtp_tls'),
    ('smtp_starttls = true\nsmtp_tls = "implicit"\n', "contradicts"),
    ('smtp_tls = "ssl"\n', "notify[0].smtp_tls"),
    ('smtp_tls = "starttls"\nsmtp_ca_file = "/no/such/ca.pem"\n', "smtp_ca_file"),
])
def test_smtp_tls_mistakes_are_one_line(tmp_path: Path, extra: str, expected: str) -> None:
    path = tmp_path / "carewatch.toml"
    path.write_text(_EMAIL + extra)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_unreadable_config_file_is_one_line(tmp_path: Path) -> None:
    """Works as root too: /proc/self/mem cannot be read at offset 0 by anyone, and a path
    under a regular file cannot be opened at all (permission bits: tests/cli/
    test_bad_paths.py)."""
    for path, reason in ((Path("/proc/self/mem"), "Input/output error"),
                         (tmp_path / "file" / "carewatch.toml", "Not a directory")):
        (tmp_path / "file").write_text("")
        with pytest.raises(ConfigError) as info:
            load_settings(path)
        assert str(info.value) == f"{path}: cannot read the configuration file: {reason}"


def test_config_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(tmp_path)


def test_webhook_key_and_label_show_host_and_digest_only() -> None:
    from carewatch.settings import NotifyConfig

    url = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"
    target = NotifyConfig(kind="webhook", url=url)
    assert target.key == target.label
    assert target.key.startswith("webhook:hooks.slack.com:")
    assert "services" not in target.key
    assert "secret" not in target.key
    assert NotifyConfig(kind="webhook", url=url + "2").key != target.key


def test_platform_secrets_cover_every_secret_value(monkeypatch: pytest.MonkeyPatch) -> None:
    from carewatch.settings import NotifyConfig, Settings

    settings = Settings(
        x_bearer_token="tok-bearer", meta_app_secret="app-secret",
        database_url="postgresql+psycopg://u:p%40ssword@db.example/cw",
        notify=[NotifyConfig(kind="webhook", url="https://hooks.example/services/T1/B2/abcdef"),
                NotifyConfig(kind="email", smtp_host="h", sender="a@b", to=["c@d"],
                             smtp_tls="starttls", smtp_user="u", smtp_password="smtp-pw")])
    values = settings.platform_secrets()
    for expected in ("tok-bearer", "app-secret", "p@ssword", "p%40ssword", "smtp-pw",
                     "https://hooks.example/services/T1/B2/abcdef", "/services/T1/B2/abcdef"):
        assert expected in values
