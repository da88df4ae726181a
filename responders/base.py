"""What every platform sender shares: the plain data it gets, what it returns, how it fails.

Senders never see ORM objects: the outbox hands them frozen snapshots, so a platform call can
never lazy-load from (or hold) a database session.
"""

from __future__ import annotations

import enum
import html
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from carewatch.domain import ReplyKind, conversation_key
from carewatch.errors import PermanentError
from carewatch.graph_paging import next_page_params
from carewatch.platforms import spec_for
from carewatch.settings import Settings, SourceConfig
from responders.window import MessagingWindow

#: How far a platform's clock may be behind ours when comparing a message's time with the
#: time its reply was queued.
CLOCK_SKEW = timedelta(minutes=2)
#: Pages of a conversation to read back at most (the lookup stops at the first older message).
MESSAGE_LOOKUP_PAGES = 5
#: Reply kinds answered in public (a reply, or the note left when a case moves private), and
#: the kind answered inside a private conversation.
PUBLIC_KINDS = (ReplyKind.PUBLIC.value, ReplyKind.PUBLIC_NOTE.value)
MESSAGE = ReplyKind.MESSAGE.value


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
    #: The stored thread (for a private message: its conversation), where the messaging
    #: window is measured.
    thread_pk: int | None = None

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
    #: Why an earlier attempt may have reached the platform (a `Doubt` value), or None.
    doubt: str | None = None
    #: For a message in a private conversation: the messaging window as it is right before
    #: this attempt (the platform's messaging type and tag come from it).
    window: MessagingWindow | None = None
    #: False for a reply a rule queued: its messaging window never includes the human-agent
    #: extension (the `HUMAN_AGENT` tag is for a person's own messages).
    by_person: bool = True


#: How a rule is named where a person's name would be: the actor of its audit rows and the
#: agent of the replies it queues (`rule:bags to maria`).
RULE_ACTOR_PREFIX = "rule:"


def rule_actor(rule_name: str) -> str:
    return f"{RULE_ACTOR_PREFIX}{rule_name}"


def is_rule_actor(agent: str | None) -> bool:
    """Whether a reply was queued by a rule, not written by a person."""
    return bool(agent and agent.startswith(RULE_ACTOR_PREFIX))


class Doubt(enum.StrEnum):
    """Why an attempt that was not recorded as sent may still have reached the platform.
    Stored on the reply (`Reply.doubt`); any of them means: read back before a resend."""

    #: No answer within the client timeout: the request may have been applied.
    TIMEOUT = "timeout"
    #: A 5xx answer. Any of them can come after the write was applied: a gateway (502, 504)
    #: or a load balancer (503) that lost the origin's answer, an origin that failed after
    #: committing (500). The sandbox's `drop_response` answers 503 after writing.
    SERVER_ERROR = "server_error"
    #: The connection dropped mid-request, an unreadable answer, or the responder died
    #: between counting the attempt and recording its outcome.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class SentRef:
    """The platform's id for what we sent, and where it went. `note` explains a
    reconciliation (found in the thread, or 'already replied' after an uncertain attempt).
    `conversation_ref`: for a move to private, the key of the conversation the message went
    to, which links the customer's private answers to the case."""

    platform_id: str
    target_id: str
    reconciled: bool = False
    note: str | None = None
    conversation_ref: str | None = None


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


class DuplicateContent(PermanentError):
    """The platform refused the text as a copy of something the brand already posted (X 403
    "duplicate content"). After an uncertain attempt that copy is most likely ours, so the
    outbox reads back once more instead of failing the reply."""


class AlreadyReplied(PermanentError):
    """The platform says this comment already got its one private reply (Graph 10900).
    `conversation_ref`: the conversation that reply went to, when the sender knows it."""

    conversation_ref: str | None = None


class Sender(Protocol):
    """One platform's way out: send once, or find what an earlier attempt already sent.

    Each platform's responder module exposes its class as `SENDER` (found by the name in the
    platform's spec, see `responders.senders`)."""

    #: The `[[sources]]` key holding the brand's own id in the platform's private
    #: conversations (one side of every conversation key).
    brand_id_attr: str

    def __init__(self, settings: Settings) -> None: ...

    @staticmethod
    def target(kind: str, mention: MentionInfo) -> str:
        """The item or account a reply of `kind` (public, private, public_note) goes to."""
        ...

    def send(self, reply: OutboundReply, mention: MentionInfo) -> SentRef: ...

    def find_existing(self, reply: OutboundReply, mention: MentionInfo) -> list[SentRef]:
        """Every message on the platform that may be an earlier attempt of `reply` (the
        brand's, same text, where the reply goes, not older than the reply), best first.
        The outbox drops those already recorded for other replies and adopts the first left.
        """
        ...


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


def conversation_source(settings: Settings, mention: MentionInfo,
                        brand_id_attr: str) -> SourceConfig | None:
    """The `[[sources]]` entry reading the conversation of `mention` (a private message): of
    the platform's private source kinds (`dms`, `messenger`, `direct`), the source that stored
    the message, else the one whose brand account (`brand_id_attr`) is a side of the
    conversation key."""
    spec = spec_for(mention.platform)
    private_kinds = {kind.name for kind in spec.sources if kind.private}
    candidates = [source for source in settings.sources
                  if source.platform == spec.platform and source.kind in private_kinds]
    for source in candidates:
        if source.key == mention.source_key:
            return source
    sides = set((mention.thread_id or "").split("-"))
    for source in candidates:
        if str(getattr(source, brand_id_attr, None) or "") in sides:
            return source
    return None


class GraphSender:
    """What the Facebook and Instagram senders share: one facebook-sdk client on the page
    token, built on first use (so a responder with nothing for Meta never needs the token)."""

    platform = ""
    brand_id_attr = ""
    #: The `platform` parameter of `GET /{page-id}/conversations` for this platform.
    conversation_platform = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._graph: Any = None

    @staticmethod
    def public_target(mention: MentionInfo) -> str:
        """Where a public answer to `mention` goes (each platform nests comments its way)."""
        raise NotImplementedError

    @classmethod
    def target(cls, kind: str, mention: MentionInfo) -> str:
        """A private reply answers the comment itself, a message in a conversation goes to the
        customer who wrote in it (their page- or account-scoped id); a public answer goes to
        `public_target`."""
        if kind == "private":
            return mention.external_id
        if kind == "message":
            return mention.author_external_id or ""
        return cls.public_target(mention)

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

    def _post_message(self, account: str, recipient: dict[str, str], text: str,
                      **extra: str) -> dict[str, Any]:
        """`POST /{page or account}/messages` (form fields holding JSON strings, as the Graph
        API wants them)."""
        result: dict[str, Any] = self.graph.request(
            f"{self.settings.graph_api_version}/{account}/messages",
            post_args={"recipient": json.dumps(recipient),
                       "message": json.dumps({"text": text}), **extra},
        )
        return result

    def message_page(self, mention: MentionInfo) -> str | None:
        """The page a message in a conversation goes out through: the page of the source
        that reads the conversation, else a page configured for the platform."""
        source = conversation_source(self.settings, mention, self.brand_id_attr)
        return (source.page_id if source is not None and source.page_id else None) or (
            source_value(self.settings, mention, "page_id"))

    def moved_to(self, mention: MentionInfo) -> str | None:
        """The conversation a private reply to `mention` opens: the brand account's with the
        commenter (None when either id is unknown)."""
        brand = source_value(self.settings, mention, self.brand_id_attr)
        author = mention.author_external_id
        return conversation_key(brand, author) if brand and author else None

    def private_reply(self, account: str, comment_id: str, text: str) -> SentRef:
        """The one private reply Facebook and Instagram allow per comment: `recipient=
        {"comment_id": ...}`. It opens (or continues) the conversation of `account` with the
        commenter, whose id the answer returns as `recipient_id`."""
        result = self._post_message(account, {"comment_id": comment_id}, text)
        recipient = result.get("recipient_id")
        return SentRef(str(result.get("message_id") or result.get("id")), comment_id,
                       conversation_ref=conversation_key(account, str(recipient))
                       if recipient else None)

    def send_message(self, account: str, reply: OutboundReply) -> SentRef:
        """A message in a conversation that is going on (the Send API): `recipient={"id":
        customer}` with the messaging type (and tag) of the window right before sending."""
        window = reply.window
        if window is None or window.messaging_type is None:
            raise PermanentError("no messaging window was worked out for this message; "
                                 "nothing was sent")
        extra = {"messaging_type": window.messaging_type}
        if window.tag:
            extra["tag"] = window.tag
        result = self._post_message(account, {"id": reply.target_id}, reply.text, **extra)
        return SentRef(str(result.get("message_id") or result.get("id")), reply.target_id)

    def find_message(self, reply: OutboundReply, mention: MentionInfo, account: str,
                     brand_ids: set[str]) -> list[SentRef]:
        """Read the conversation back (newest first) for the brand's messages with this text,
        sent since the reply was queued: what an uncertain attempt may have left behind.

        The conversation is the one stored with the customer's message (`raw[
        "conversation_id"]`), else looked up by the customer's id."""
        version = self.settings.graph_api_version
        conversation = (mention.raw or {}).get("conversation_id")
        if not conversation:
            found = self.graph.request(f"{version}/{account}/conversations", args={
                "platform": self.conversation_platform,
                "user_id": reply.target_id, "fields": "id"})
            items = found.get("data") or []
            if not items:
                return []
            conversation = items[0]["id"]
        oldest = reply.queued_at - CLOCK_SKEW
        params: dict[str, Any] | None = {"fields": "id,message,from,created_time",
                                         "limit": 100}
        found_refs: list[SentRef] = []
        for _ in range(MESSAGE_LOOKUP_PAGES):
            if params is None:
                break
            page = self.graph.request(f"{version}/{conversation}/messages", args=dict(params))
            for item in page.get("data") or []:
                created = item.get("created_time")
                if created and datetime.fromisoformat(created) < oldest:
                    return found_refs  # older than the reply: the rest are older still
                if str((item.get("from") or {}).get("id")) not in brand_ids:
                    continue
                if same_text(str(item.get("message") or ""), reply.text):
                    found_refs.append(SentRef(
                        str(item.get("id")), reply.target_id, reconciled=True,
                        note="found in the conversation after an uncertain attempt"))
            params = next_page_params(page, params)
        return found_refs
