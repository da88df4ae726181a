"""Configuration: one pydantic-settings model read from `carewatch.toml` and `CAREWATCH_*`.

Precedence (highest first): environment variables, the TOML file, defaults. The file is
`--config PATH`, else `$CAREWATCH_CONFIG`, else `./carewatch.toml` if it exists. Every
validation problem is turned into one line that names the key, so the CLI can print it and
exit 2 without a traceback.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from carewatch.config_source import (
    DEFAULT_DATABASE_URL,
    DEFAULT_FIRST_RESPONSE_MINUTES,
    resolve_config_path,
)
from carewatch.domain import URGENCY_REASONS, Platform
from carewatch.platforms import all_specs, spec_for
from carewatch.platforms.base import quoted_list, secret

#: One part of a duration: a number and its unit, short or spelled out ("90s", "2 min",
#: "1.5 hours"); parts may follow each other ("1m30s", "1h 30m").
_DURATION_PART = re.compile(
    r"(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?)"
    r"(?![a-z])\s*")
_BARE_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
#: ISO 8601 durations of days and time ("PT60S", "PT1H30M", "P1D").
_ISO_DURATION = re.compile(
    r"^p(?:(\d+(?:\.\d+)?)d)?(?:t(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?)?$")
# A webhook path this long is treated as a secret of its own (Slack's is ~60 characters);
# shorter ones such as `/hook` carry none, and masking them would garble unrelated log text.
_SECRET_PATH_MIN = 12
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_UNIT_ALIASES = {"milli": "ms", "se": "s", "mi": "m", "hr": "h", "ho": "h", "da": "d"}


class ConfigError(Exception):
    """A configuration problem, already phrased as one line for the user."""


def _unit(name: str) -> str:
    """The short unit of a spelled-out one ("minutes" -> "m", "sec" -> "s")."""
    if name in _UNIT_SECONDS:
        return name
    for prefix, unit in _UNIT_ALIASES.items():
        if name.startswith(prefix):
            return unit
    raise ValueError(name)  # unreachable: _DURATION_PART admits only these names


def _text_seconds(text: str) -> float | None:
    """Seconds of a duration written as text, or None when it is not one. Why so many forms:
    a schedule is written by people, and "1m30s", "5 minutes" or ISO's "PT60S" mean one
    thing each; refusing them only made the user guess the accepted spelling."""
    text = text.strip().lower()
    if _BARE_NUMBER.match(text):
        return float(text)
    iso = _ISO_DURATION.match(text)
    if iso and text not in ("p", "pt") and not text.endswith("t"):
        days, hours, minutes, seconds = (float(g) if g else 0.0 for g in iso.groups())
        return days * 86400 + hours * 3600 + minutes * 60 + seconds
    total, at = 0.0, 0
    while at < len(text):
        part = _DURATION_PART.match(text, at)
        if part is None:
            return None
        total += float(part.group(1)) * _UNIT_SECONDS[_unit(part.group(2))]
        at = part.end()
    return total if text else None


def parse_duration(value: Any) -> float:
    """`"60s"`, `"2m"`, `"1h"`, `"1m30s"`, `"5 minutes"`, `"PT60S"`, `90` → seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        parsed = _text_seconds(str(value))
        if parsed is None:
            raise ValueError(f"{value!r} is not a duration like '60s', '2m', '1h' or '1m30s'")
        seconds = parsed
    if seconds <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    return seconds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BrandConfig(_Strict):
    name: str = "Acme Air"
    handles: list[str] = Field(default_factory=lambda: ["acmeair"])

    @field_validator("handles")
    @classmethod
    def _strip_at(cls, handles: list[str]) -> list[str]:
        return [h.lstrip("@").strip() for h in handles if h.strip()]


class SourceConfig(_Strict):
    """One thing to poll. `kind` is one of the platform's source kinds (X `search` or
    `mentions`); without it the platform's default kind applies."""

    platform: Platform
    kind: str | None = None
    name: str | None = None
    query: str | None = None
    user_id: str | None = None
    page_id: str | None = None
    ig_user_id: str | None = None
    every: float = 60.0
    include_retweets: bool = False
    backfill_days: float = Field(default=7.0, ge=0.0)
    human_agent: bool = False

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str | None) -> str | None:
        kinds = list(dict.fromkeys(k.name for spec in all_specs() for k in spec.sources))
        if value is not None and value not in kinds:
            raise ValueError(f"Input should be {quoted_list(kinds)}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> SourceConfig:
        self.kind = spec_for(self.platform).complete_source(self)
        return self

    @property
    def target(self) -> str:
        return spec_for(self.platform).source_kind(self.kind or "").target(self)

    @property
    def key(self) -> str:
        """Stable identity of the source: where its cursor and health are stored."""
        return self.name or f"{self.platform.value}:{self.kind}:{self.target}"


class AlertsConfig(_Strict):
    first_response_minutes: float = Field(default=DEFAULT_FIRST_RESPONSE_MINUTES, gt=0.0)
    spike_min_count: int = Field(default=8, ge=1)
    spike_sigma: float = Field(default=3.0, ge=0.0)
    spike_window_minutes: float = Field(default=15.0, gt=0.0)
    high_reach_followers: int = Field(default=10_000, ge=0)
    cooldown_minutes: float = Field(default=60.0, ge=0.0)
    quiet_factor: float = Field(default=6.0, gt=0.0)


class UrgencyConfig(_Strict):
    """Weights and keyword lists for urgency; empty lists keep the built-in ones."""

    weights: dict[str, float] = Field(default_factory=dict)
    keywords: dict[str, list[str]] = Field(default_factory=dict)
    high_reach_followers: int = 10_000

    @field_validator("weights", "keywords")
    @classmethod
    def _known_reasons(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(URGENCY_REASONS))
        if unknown:
            raise ValueError(f"unknown reason {unknown[0]!r} (one of {', '.join(URGENCY_REASONS)})")
        return value

    @field_validator("weights")
    @classmethod
    def _weights_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for key, weight in value.items():
            # Each reason takes away a share w·s of what is left below 1, so w is a share.
            if not 0.0 <= weight <= 1.0:
                raise ValueError(f"weight for {key!r} must be between 0 and 1, not {weight}")
        return value


def webhook_label(url: str | None) -> str:
    """A webhook URL as it may be shown or logged: its host and a digest of the whole URL.
    Slack and most chat tools keep the secret in the path, so no part of the path is shown;
    the digest still tells two hooks on one host apart."""
    digest = hashlib.sha256((url or "").encode()).hexdigest()[:12]
    return f"{urlsplit(url or '').hostname}:{digest}"


SMTP_DEFAULT_PORTS = {"starttls": 25, "implicit": 465, "none": 25}
DEFAULT_SMTP_PASSWORD_ENV = "CAREWATCH_SMTP_PASSWORD"


class NotifyConfig(_Strict):
    """One notification target. An email target's password is never in the file: it is read
    from the environment variable `smtp_password_env` names (default
    `CAREWATCH_SMTP_PASSWORD`), and a login is only ever sent over TLS."""

    kind: Literal["email", "webhook"]
    name: str | None = None
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_password_env: str = DEFAULT_SMTP_PASSWORD_ENV
    smtp_tls: Literal["starttls", "implicit", "none"] | None = None
    smtp_starttls: bool = False  # the older spelling of smtp_tls = "starttls"
    smtp_ca_file: Path | None = None
    sender: str | None = None
    to: list[str] = Field(default_factory=list)
    url: str | None = Field(default=None, repr=False)  # often holds a secret in its path
    min_severity: Literal["low", "medium", "high", "critical"] = "low"

    @model_validator(mode="after")
    def _complete(self) -> NotifyConfig:
        if self.kind == "email" and not (self.smtp_host and self.sender and self.to):
            raise ValueError("an email target needs 'smtp_host', 'sender' and 'to'")
        if self.kind == "webhook" and not self.url:
            raise ValueError("a webhook target needs 'url'")
        if self.smtp_starttls and self.smtp_tls not in (None, "starttls"):
            raise ValueError(f"smtp_starttls = true contradicts smtp_tls = {self.smtp_tls!r};"
                             " keep only smtp_tls")
        self.smtp_tls = self.smtp_tls or ("starttls" if self.smtp_starttls else "none")
        self.smtp_starttls = self.smtp_tls == "starttls"
        if self.smtp_port is None:
            self.smtp_port = SMTP_DEFAULT_PORTS[self.smtp_tls]
        if self.smtp_ca_file is not None and not self.smtp_ca_file.is_file():
            raise ValueError(f"smtp_ca_file {str(self.smtp_ca_file)!r} is not a readable file")
        if self.kind == "email" and self.smtp_user:
            if self.smtp_tls == "none":
                raise ValueError('smtp_user needs smtp_tls = "starttls" or "implicit": a '
                                 "password is never sent unencrypted")
            if self.smtp_password is None and os.environ.get(self.smtp_password_env):
                self.smtp_password = SecretStr(os.environ[self.smtp_password_env])
        return self

    @property
    def key(self) -> str:
        """Stable identity of the target; a webhook URL (which often embeds a secret) is
        reduced to its host and a digest."""
        if self.name:
            return self.name
        if self.kind == "email":
            return f"email:{','.join(self.to)}"
        return f"webhook:{webhook_label(self.url)}"

    @property
    def label(self) -> str:
        """The target as logs name it: never a webhook's path or an SMTP password."""
        if self.kind == "email" and not self.name:
            return f"email:{self.smtp_host}:{self.smtp_port}"
        return self.key


class CannedReplyConfig(_Strict):
    """A named reply text with placeholders; `topics` lets suggestions offer it for items of
    those topics, `lang` (empty: any) for items in that language."""

    name: str
    text: str
    topics: list[str] = Field(default_factory=list)
    lang: str = ""


class TopicConfig(_Strict):
    """A configured topic: keywords (`*` at the end of a word matches any ending) and example
    texts, both of which the topic model learns from alongside any labelled examples."""

    name: str = Field(min_length=1, max_length=100)
    keywords: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a topic needs a name")
        return value.strip()


class KnowledgeConfig(_Strict):
    """Markdown articles (glob patterns, relative to the config file's folder) that
    suggestions may quote and link."""

    paths: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------- rules (issue 11)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PRIORITIES = ("low", "normal", "high", "urgent")
SENTIMENT_LABELS = ("negative", "neutral", "positive")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _clock_minutes(value: str) -> int:
    match = _CLOCK.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a time like '09:00' (24 h, HH:MM)")
    return int(match.group(1)) * 60 + int(match.group(2))


def _as_list(value: Any) -> Any:
    """A single string where a list is expected is a list of one."""
    return [value] if isinstance(value, str) else value


class HoursConfig(_Strict):
    """Business hours: `days` in `timezone` (an IANA name, DST handled by zoneinfo) from
    `start` up to, not including, `end`."""

    timezone: str = "UTC"
    days: list[str] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    start: str = "09:00"
    end: str = "17:00"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as "
                             "'Europe/London')") from None
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        days = [d.strip().lower()[:3] for d in value]
        unknown = [d for d in days if d not in WEEKDAYS]
        if unknown:
            raise ValueError(f"unknown day {unknown[0]!r} (use {', '.join(WEEKDAYS)})")
        return days

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        _clock_minutes(value)
        return value.strip()

    @model_validator(mode="after")
    def _order(self) -> HoursConfig:
        if _clock_minutes(self.end) <= _clock_minutes(self.start):
            raise ValueError(f"end {self.end!r} must be after start {self.start!r}")
        return self

    @property
    def start_minute(self) -> int:
        return _clock_minutes(self.start)

    @property
    def end_minute(self) -> int:
        return _clock_minutes(self.end)


class TeamConfig(_Strict):
    """A team a rule can assign to: its new items go round robin to its available members."""

    name: str = Field(min_length=1, max_length=100)
    members: list[str] = Field(min_length=1)


class RuleWhen(_Strict):
    """A rule's conditions; all given ones must hold (an empty `when` matches every item)."""

    platform: list[Platform] | None = None
    visibility: Literal["public", "private"] | None = None
    topics: list[str] | None = None
    sentiment: list[Literal["negative", "neutral", "positive"]] | None = None
    urgency_below: float | None = Field(default=None, ge=0.0, le=1.0)
    urgency_at_least: float | None = Field(default=None, ge=0.0, le=1.0)
    lang: list[str] | None = None
    keywords: list[str] | None = None
    followers_min: int | None = Field(default=None, ge=0)
    followers_max: int | None = Field(default=None, ge=0)
    in_hours: bool | None = None

    @field_validator("platform", "topics", "sentiment", "lang", "keywords", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)


class RuleThen(_Strict):
    """A rule's actions. `assign` names a user or a team; `reply_canned` queues that canned
    reply, for approval unless `approval = false`; `acknowledge` + `move_private` queue a
    public acknowledgement and a private message (canned replies), for approval unless
    `approval = false`. A negative or high-urgency item's automatic reply always waits."""

    assign: str | None = None
    tag: list[str] | None = None
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    reply_canned: str | None = None
    acknowledge: str | None = None
    move_private: str | None = None
    approval: bool = True

    @field_validator("tag", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        return _as_list(value)

    @model_validator(mode="after")
    def _some_action(self) -> RuleThen:
        if self.acknowledge and not self.move_private:
            raise ValueError("'acknowledge' needs 'move_private' (the private message the "
                             "public acknowledgement announces)")
        if not (self.assign or self.tag or self.priority or self.reply_canned
                or self.move_private):
            raise ValueError("a rule needs at least one action (assign, tag, priority, "
                             "reply_canned, move_private)")
        return self


class RuleConfig(_Strict):
    """`[[rules]]`: applied in order to each new item, once."""

    name: str = Field(min_length=1, max_length=80)
    when: RuleWhen = Field(default_factory=RuleWhen)
    then: RuleThen


class Settings(BaseSettings):
    """Everything carewatch can be told. Environment variables use the `CAREWATCH_` prefix."""

    model_config = SettingsConfigDict(
        env_prefix="CAREWATCH_", extra="forbid", env_nested_delimiter="__"
    )

    database_url: str = DEFAULT_DATABASE_URL
    x_api_url: str = "https://api.twitter.com"
    graph_api_url: str = "https://graph.facebook.com"
    graph_api_version: str = "v21.0"
    x_bearer_token: SecretStr | None = None
    x_consumer_key: SecretStr | None = None
    x_consumer_secret: SecretStr | None = None
    x_access_token: SecretStr | None = None
    x_access_token_secret: SecretStr | None = None
    fb_page_token: SecretStr | None = None
    meta_app_secret: SecretStr | None = None
    meta_verify_token: SecretStr | None = None
    http_timeout: float = Field(default=20.0, gt=0.0)
    max_retries: int = Field(default=6, ge=0)
    max_backoff_seconds: float = Field(default=60.0, ge=0.0)
    max_rate_limit_wait_seconds: float = Field(default=900.0, ge=0.0)
    # How long a listener's claim on a source lasts without renewal: a process killed
    # mid-poll holds its sources this long at most (a live one renews a third of the way).
    lease_seconds: float = Field(default=60.0, ge=1.0)

    brand: BrandConfig = Field(default_factory=BrandConfig)
    sources: list[SourceConfig] = Field(default_factory=list)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    urgency: UrgencyConfig = Field(default_factory=UrgencyConfig)
    notify: list[NotifyConfig] = Field(default_factory=list)
    canned_replies: list[CannedReplyConfig] = Field(default_factory=list)
    topics: list[TopicConfig] = Field(default_factory=list)
    knowledge: KnowledgeConfig = Field(default_factory=KnowledgeConfig)
    hours: HoursConfig = Field(default_factory=HoursConfig)
    teams: list[TeamConfig] = Field(default_factory=list)
    rules: list[RuleConfig] = Field(default_factory=list)

    @field_validator("x_api_url", "graph_api_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("graph_api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        value = value if value.startswith("v") else f"v{value}"
        if not re.match(r"^v\d+\.\d+$", value):
            raise ValueError(f"{value!r} is not a Graph API version like 'v21.0'")
        return value

    @model_validator(mode="after")
    def _unique_sources(self) -> Settings:
        seen: set[str] = set()
        for source in self.sources:
            if source.key in seen:
                raise ValueError(f"two sources share the key {source.key!r}; give one a 'name'")
            seen.add(source.key)
        return self

    @model_validator(mode="after")
    def _unique_topics(self) -> Settings:
        names = [topic.name.casefold() for topic in self.topics]
        if len(names) != len(set(names)):
            raise ValueError("two [[topics]] share a name")
        return self

    @model_validator(mode="after")
    def _rules_refer_to_known(self) -> Settings:
        """Rule names are unique, and team names too. Whether the users, team members and
        canned replies they name exist is checked against the database at start
        (`responders.automation.check_rule_references`): they may be added there."""
        for kind, names in (("rules", [r.name for r in self.rules]),
                            ("teams", [t.name for t in self.teams])):
            if len(names) != len(set(names)):
                raise ValueError(f"two [[{kind}]] share a name")
        return self

    @classmethod
    def secret_fields(cls) -> tuple[str, ...]:
        """The settings that hold a platform token or a webhook secret: each platform spec's
        `secrets`, then the Meta webhook ones. They are read from the environment only."""
        names = dict.fromkeys(name for spec in all_specs() for name in spec.secrets)
        names.update(dict.fromkeys(("meta_app_secret", "meta_verify_token")))
        return tuple(names)

    def platform_secrets(self) -> list[str]:
        """Every secret value that is set, for the scrubbing of logs and messages: the
        platform tokens and webhook secrets, the SMTP passwords, the webhook URLs of
        notification targets (with their paths, where chat tools keep the secret) and the
        database password."""
        values = [secret(self, name) for name in self.secret_fields()]
        for target in self.notify:
            if target.smtp_password is not None:
                values.append(target.smtp_password.get_secret_value())
            if target.url:
                parts = urlsplit(target.url)
                path = parts.path + (f"?{parts.query}" if parts.query else "")
                values += [target.url, path if len(path) >= _SECRET_PATH_MIN else None]
        password = urlsplit(self.database_url).password
        if password:
            values += [password, unquote(password)]
        return [value for value in values if value]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first so it overrides the file, which arrives as init kwargs.
        return (env_settings, init_settings)


def _format_location(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif item in ("function-after[_complete(), SourceConfig]",):
            continue
        elif isinstance(item, str) and ("[" in item or "(" in item):
            continue  # pydantic's internal validator labels
        else:
            parts.append(str(item))
    return ".".join(parts) or "configuration"


def describe_validation_error(error: ValidationError, origin: str) -> str:
    """The first problem in one line: `origin: key: what is wrong`."""
    first = error.errors()[0]
    key = _format_location(tuple(first.get("loc", ())))
    message = str(first.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    if first.get("type") == "extra_forbidden":
        message = "unknown key"
    return f"{origin}: {key}: {message}"


def _refuse_file_secrets(data: dict[str, Any], origin: str) -> None:
    """Tokens and passwords come from the environment only: a configuration file gets
    copied, committed and backed up, so a secret found in one is a configuration error
    that names the variable to use instead."""
    for name in Settings.secret_fields():
        if name in data:
            raise ConfigError(f"{origin}: {name} may not be set in a configuration file "
                              f"(it is read from the environment only); use the environment "
                              f"variable CAREWATCH_{name.upper()}")
    targets = data.get("notify")
    for index, target in enumerate(targets if isinstance(targets, list) else []):
        if isinstance(target, dict) and "smtp_password" in target:
            variable = target.get("smtp_password_env") or DEFAULT_SMTP_PASSWORD_ENV
            raise ConfigError(f"{origin}: notify[{index}].smtp_password may not be set in a "
                              "configuration file (it is read from the environment only); use "
                              f"the environment variable {variable} (smtp_password_env names "
                              "another)")


def _describe_env_parse_error(error: SettingsError, env_keys: set[str]) -> str:
    """pydantic-settings could not parse a variable for a list or a table (it reads them as
    JSON): one line naming the variable, never a traceback."""
    match = re.search(r'field "([^"]+)"', str(error))
    field = match.group(1) if match else ""
    prefix = f"CAREWATCH_{field.upper()}"
    names = sorted(k for k in env_keys if k.upper() == prefix or k.upper().startswith(
        f"{prefix}__"))
    key = names[0] if names else (prefix if field else "CAREWATCH_*")
    return (f"environment: {key}: not valid JSON (a list or table set from the environment is "
            'written as JSON, e.g. ["a", "b"] or {"name": "x"})')


def load_settings(config: str | os.PathLike[str] | None = None) -> Settings:
    """Read and validate the configuration, or raise ConfigError with one clear line."""
    path = resolve_config_path(config)
    data: dict[str, Any] = {}
    origin = "configuration"
    if path is not None:
        origin = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: configuration file not found") from None
        except IsADirectoryError:
            raise ConfigError(f"{path}: is a directory, not a configuration file") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except OSError as exc:  # permission denied, a parent that is a file, an I/O error
            raise ConfigError(f"{path}: cannot read the configuration file: "
                              f"{exc.strerror or type(exc).__name__}") from None
        _refuse_file_secrets(data, origin)
    env_keys = {k for k in os.environ if k.startswith("CAREWATCH_")}
    try:
        return Settings(**data)
    except SettingsError as exc:  # a variable for a list or table that is not JSON
        raise ConfigError(_describe_env_parse_error(exc, env_keys)) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first.get("loc", ()))
        variable = _env_variable(loc, env_keys)
        if variable is not None:
            msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
            if first.get("type") == "extra_forbidden":
                msg = "unknown key"
            inner = _format_location(loc[variable.count("__") + 1:])  # within a JSON table
            where = f"{variable}: {inner}" if inner != "configuration" else variable
            raise ConfigError(f"environment: {where}: {msg}") from None
        raise ConfigError(describe_validation_error(exc, origin)) from None


def _env_variable(loc: tuple[Any, ...], env_keys: set[str]) -> str | None:
    """The `CAREWATCH_*` variable that set the value at `loc`, if one did: the variable of
    the key itself (`CAREWATCH_ALERTS__FIRST_RESPONSE_MINUTES`) or of a table holding it
    (`CAREWATCH_ALERTS` as JSON); None when the value came from the file."""
    names: list[str] = []
    for part in loc:
        if not isinstance(part, str) or "[" in part or "(" in part:
            break
        names.append(part)
    by_upper = {key.upper(): key for key in env_keys}
    for end in range(len(names), 0, -1):
        variable = "CAREWATCH_" + "__".join(names[:end]).upper()
        if variable in by_upper:
            return by_upper[variable]
    return None
