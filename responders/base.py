"""What every platform sender shares: the plain data it gets, what it returns, how it fails.

Senders never see ORM objects: the outbox hands them frozen snapshots, so a platform call can
never lazy-load from (or hold) a database session.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from carewatch.errors import PermanentError
from carewatch.platforms import spec_for
from carewatch.settings import Settings


@dataclass(frozen=True, slots=True)
class MentionInfo:
    """The mention a reply answers, as the senders need it."""

    pk: int
    platform: str
    external_id: str
    thread_id: str | None
    parent_id: str | None
    source_key: str | None
    author_external_id: str | None
    author_handle: str | None
    created_at: datetime
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.platform}:{self.external_id}"


@dataclass(frozen=True, slots=True)
class OutboundReply:
    """A claimed reply: what to send, where, and what earlier attempts left behind."""

    id: int
    kind: str
    text: str
    target_id: str
    attempts: int
    queued_at: datetime
    known_platform_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class SentRef:
    """The platform's id for what we sent, and where it went. `note` explains a
    reconciliation (found in the thread, or 'already replied' after an uncertain attempt)."""

    platform_id: str
    target_id: str
    reconciled: bool = False
    note: str | None = None


class Unverifiable(Exception):
    """The platform offers no way to check whether an earlier attempt arrived.

    `blind_resend` says whether the outbox may send again anyway: True where the platform
    itself refuses a duplicate (a Graph private reply answers 10900) or an extra copy is
    the lesser harm; False where a second copy would reach the customer (an X direct
    message), so it is resent only after the platform answered a 5xx (it did not take it).
    """

    def __init__(self, message: str, *, blind_resend: bool = True) -> None:
        super().__init__(message)
        self.blind_resend = blind_resend


class AlreadyReplied(PermanentError):
    """The platform says this comment already got its one private reply (Graph 10900)."""


class Sender(Protocol):
    """One platform's way out: send once, or find what an earlier attempt already sent.

    Each platform's responder module exposes its class as `SENDER` (found by the name in the
    platform's spec, see `responders.senders`)."""

    def __init__(self, settings: Settings) -> None: ...

    @staticmethod
    def target(kind: str, mention: MentionInfo) -> str:
        """The item or account a reply of `kind` (public, private, public_note) goes to."""
        ...

    def send(self, reply: OutboundReply, mention: MentionInfo) -> SentRef: ...

    def find_existing(self, reply: OutboundReply, mention: MentionInfo) -> SentRef | None: ...


_URL = re.compile(r"https?://\S+")
_LEADING_MENTIONS = re.compile(r"^(?:@\w+\s+)+")


def normalize_text(text: str) -> str:
    """Text as compared during reconciliation: platforms escape entities, wrap URLs (t.co)
    and may prefix reply mentions, so compare what an agent would call 'the same message'."""
    value = html.unescape(text or "")
    value = _URL.sub("<url>", value)
    value = _LEADING_MENTIONS.sub("", value.strip())
    return " ".join(value.split())


def same_text(a: str, b: str) -> bool:
    return normalize_text(a) == normalize_text(b)


def source_value(settings: Settings, mention: MentionInfo, attr: str) -> str | None:
    """A per-account id (`page_id`, `ig_user_id`, `user_id`) for the mention: from the source
    that found it, else the first configured source of that platform that has it."""
    for source in settings.sources:
        if source.key == mention.source_key and getattr(source, attr, None):
            return str(getattr(source, attr))
    for source in settings.sources:
        if source.platform.value == mention.platform and getattr(source, attr, None):
            return str(getattr(source, attr))
    return None


class GraphSender:
    """What the Facebook and Instagram senders share: one facebook-sdk client on the page
    token, built on first use (so a responder with nothing for Meta never needs the token)."""

    platform = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._graph: Any = None

    @staticmethod
    def public_target(mention: MentionInfo) -> str:
        """Where a public answer to `mention` goes (each platform nests comments its way)."""
        raise NotImplementedError

    @classmethod
    def target(cls, kind: str, mention: MentionInfo) -> str:
        """A private reply answers the comment itself; a public one goes to `public_target`."""
        return mention.external_id if kind == "private" else cls.public_target(mention)

    @property
    def graph(self) -> Any:
        if self._graph is None:
            self._graph = spec_for(self.platform).client(self.settings, writing=True)
        return self._graph

    def configured(self, mention: MentionInfo, attr: str, what: str) -> str:
        """The id this mention's source is configured with (`page_id`, `ig_user_id`), or a
        permanent failure that names the missing setting."""
        value = source_value(self.settings, mention, attr)
        if not value:
            raise PermanentError(f"no {what} configured ([[sources]] {attr}); "
                                 f"cannot send as the brand")
        return value

    def private_reply(self, account: str, comment_id: str, text: str) -> SentRef:
        """The one private reply Facebook and Instagram allow per comment:
        `POST /{page or account}/messages` with `recipient={"comment_id": ...}` (form fields
        holding JSON strings, as the Graph API wants them)."""
        import json

        result = self.graph.request(
            f"{self.settings.graph_api_version}/{account}/messages",
            post_args={"recipient": json.dumps({"comment_id": comment_id}),
                       "message": json.dumps({"text": text})},
        )
        return SentRef(str(result.get("message_id") or result.get("id")), comment_id)
