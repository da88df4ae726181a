"""What a platform is to carewatch, as data: one frozen `PlatformSpec` per platform.

Everything above the foundation that behaves differently per platform asks the spec instead
of comparing platform names: text limits and how text is counted, the credentials and the
message naming them, the client, how the client library's errors read, how to reconnect,
how handles and links are written, which `[[sources]]` kinds exist and what each needs, and
the names under which the listener and the responders find the platform's own modules
(`listener/sources/<module>.py` with `SOURCES`, `responders/<module>.py` with `SENDER`).

The specs take the settings model as a plain object (read by attribute) rather than importing
`carewatch.settings`, because settings validates `[[sources]]` against the specs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from carewatch.domain import Platform
from carewatch.errors import PlatformError

Classifier = Callable[[BaseException, str, Callable[[], float]], PlatformError | None]
"""`(exc, who, now)`: a client library's exception in carewatch's vocabulary (`who` is
`" for <account>"` or empty), or None when the exception is not that library's."""


def secret(settings: Any, name: str) -> str | None:
    """The plain value of the secret setting `name`, or None when it is not set."""
    value = getattr(settings, name, None)
    return value.get_secret_value() if value is not None else None


@dataclass(frozen=True, slots=True)
class TextRule:
    """How long one kind of outbound text may be, and how the platform counts it."""

    limit: int
    count: Callable[[str], int] = len
    unit: str = "characters"
    #: Said after "N characters" when a text is too long, e.g. " as X counts it (...)".
    how_counted: str = ""


@dataclass(frozen=True, slots=True)
class PrivateChannel:
    """Where a conversation goes when an agent moves it private, and the platform's rules
    for it (one per comment, a time window, ...), in the words agents see."""

    name: str
    plural: str
    #: What the platform allows one of: "mention", "comment".
    one_per: str
    #: The message goes to the author's account, so the author's id must be known.
    to_author: bool = False
    #: Only comments can be answered privately, not the post that starts a thread.
    comments_only: bool = False
    #: How long after the item a private message may still be sent.
    window: timedelta | None = None


@dataclass(frozen=True, slots=True)
class ConversationRules:
    """How the brand may write in a private conversation that is already going on.

    `response_window`: how long after the customer's last message a message may be sent
    (None: no window, as on X). `human_agent_window`: how long a person (never an automatic
    rule) may still answer with the platform's human-agent tag, where the source allows it.
    `name`: the channel as agents call it ("Messenger"), in the dashboard and in messages.
    """

    response_window: timedelta | None = None
    human_agent_window: timedelta | None = None
    name: str = "private conversation"


@dataclass(frozen=True, slots=True)
class FieldRule:
    """A `[[sources]]` key a source kind needs, with the line that says it is missing."""

    name: str
    missing: str
    max_length: int | None = None
    too_long: str = ""


class _Fields(dict[str, Any]):
    """A source configuration's keys for `str.format_map`."""

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config

    def __missing__(self, key: str) -> Any:
        return getattr(self.config, key)


@dataclass(frozen=True, slots=True)
class SourceKind:
    """One `kind` of `[[sources]]` entry a platform offers (X `search`, Facebook `page`)."""

    name: str
    fields: tuple[FieldRule, ...]
    #: The account in messages, formatted with the source's keys: "Facebook page {page_id}".
    account: str
    #: The keys whose first non-empty value names the source in its key (and so in where its
    #: cursor is stored); listed as first released so stored cursors keep their keys.
    target_fields: tuple[str, ...]
    #: The target is a digest of the value (a search query can be long and hold anything).
    hashed_target: bool = False
    #: Without an explicit `kind`, this kind is chosen when this key is set.
    chosen_by: str | None = None
    #: What the source reads is private conversations (direct messages), not public posts.
    private: bool = False
    #: Reading it takes the credentials that writing takes (X direct messages are read in the
    #: brand account's user context, never with the app-only token).
    reads_as_user: bool = False
    #: The next step after a revoked token, where it differs from the platform's.
    reconnect_hint: str | None = None

    def check(self, config: Any) -> None:
        """Raise ValueError (one line naming the key) when the source is incomplete."""
        for rule in self.fields:
            value = getattr(config, rule.name, None)
            if not value:
                raise ValueError(rule.missing)
            if rule.max_length is not None and len(str(value)) > rule.max_length:
                raise ValueError(rule.too_long)

    def polled(self, config: Any) -> str:
        """What the source polls as configured: its first required key (a query, an id)."""
        return str(getattr(config, self.fields[0].name, None) or "") if self.fields else ""

    def target(self, config: Any) -> str:
        values = (getattr(config, name, None) for name in self.target_fields)
        value = next((str(v) for v in values if v), "")
        if self.hashed_target:
            return f"q{hashlib.sha1(value.encode()).hexdigest()[:10]}"
        return value

    def account_label(self, config: Any) -> str:
        return self.account.format_map(_Fields(config))


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """An official API host and the setting holding the base URL it is sent to instead."""

    official: str
    base_url_setting: str


def quoted_list(names: tuple[str, ...] | list[str]) -> str:
    """`'a', 'b' or 'c'`: how choices are listed in configuration errors."""
    quoted = [repr(name) for name in names]
    return " or ".join(filter(None, [", ".join(quoted[:-1]), quoted[-1]])) if quoted else ""


@dataclass(frozen=True)
class PlatformSpec:
    """Everything carewatch needs to know about one platform outside its own modules."""

    platform: Platform
    label: str
    #: `listener/sources/<module>.py` and `responders/<module>.py`.
    module: str
    #: Per reply kind (`public`, `private`, `public_note`, `message`).
    texts: Mapping[str, TextRule]
    private: PrivateChannel
    sources: tuple[SourceKind, ...]
    default_kind: str
    #: The settings holding this platform's tokens, with the names admins see for them (a
    #: change of value means someone reconnected; every value is scrubbed from output).
    secrets: Mapping[str, str]
    #: `(settings, *, writing)`: None when the tokens for reading (or writing) are set, else
    #: one line naming the environment variables to set.
    check_credentials: Callable[..., str | None]
    #: `(settings, *, writing)`: the real client library's client on the configured base URL.
    client: Callable[..., Any]
    classify_error: Classifier
    #: The next step after a revoked token, e.g. "create a new token ..., then restart".
    reconnect_hint: str
    api_routes: tuple[ApiRoute, ...]
    #: The API as admins see it on the dashboard, and the setting holding its version.
    api_name: str
    api_version_setting: str | None = None
    #: How an account is addressed; None where accounts have no handle, only a name.
    handle_format: str | None = "@{handle}"
    #: Link to an item (`{id}`, `{handle}`), where the platform does not send one itself.
    url_format: str | None = None
    url_format_without_handle: str | None = None
    conversation: ConversationRules = ConversationRules()

    def text_rule(self, kind: str) -> TextRule:
        return self.texts[kind]

    def source_kind(self, name: str) -> SourceKind:
        for kind in self.sources:
            if kind.name == name:
                return kind
        names = quoted_list([kind.name for kind in self.sources])
        raise ValueError(f"{self.label} sources are kind {names}, not {name!r}")

    def complete_source(self, config: Any) -> str:
        """The source's kind (the default one when `kind` is not set), after checking the
        source has what that kind needs; ValueError with one line otherwise."""
        name = config.kind or next(
            (kind.name for kind in self.sources
             if kind.chosen_by and getattr(config, kind.chosen_by, None)),
            self.default_kind)
        self.source_kind(name).check(config)
        return name

    def source_credentials(self, settings: Any, kinds: Iterable[str]) -> str | None:
        """None when the tokens for polling sources of these kinds are set, else one line
        naming the environment variables to set."""
        writing = any(self.source_kind(kind).reads_as_user for kind in kinds)
        return self.check_credentials(settings, writing=writing)

    def token_fingerprint(self, settings: Any) -> str:
        """A hash of this platform's tokens, to notice when someone reconnects."""
        joined = "\x00".join(secret(settings, name) or "" for name in self.secrets)
        return hashlib.sha256(joined.encode()).hexdigest()[:16]

    def format_handle(self, handle: str) -> str:
        return self.handle_format.format(handle=handle) if self.handle_format else handle

    def item_url(self, external_id: str, handle: str | None) -> str | None:
        template = self.url_format if handle else self.url_format_without_handle
        return template.format(id=external_id, handle=handle) if template else None
