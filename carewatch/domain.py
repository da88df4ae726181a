"""Plain types every part of carewatch shares.

They carry no behaviour that touches a database, a network or a UI, so the listener, the
responders, storage and the dashboard can all depend on them without depending on each other.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Platform(enum.StrEnum):
    """A social network carewatch listens to and answers on."""

    X = "x"
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"


class Visibility(enum.StrEnum):
    """Whether an item was said in public (a post, comment or reply anyone can read) or in a
    private conversation (an X direct message, Messenger, Instagram Direct)."""

    PUBLIC = "public"
    PRIVATE = "private"


class Status(enum.StrEnum):
    """Where a mention is in the care workflow: new → assigned → replied | private → closed."""

    NEW = "new"
    ASSIGNED = "assigned"
    REPLIED = "replied"
    PRIVATE = "private"
    CLOSED = "closed"


# Mentions still waiting for the team: the inbox's default view, what the SLA watches and
# what a periodic re-score may still change.
OPEN_STATUSES: tuple[str, ...] = (Status.NEW.value, Status.ASSIGNED.value)


class SentimentLabel(enum.StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


class ReplyKind(enum.StrEnum):
    """What an outbound message is: an answer in public, a private message that moves a public
    case to a private channel, a public note left in the thread when it moves, or a message
    inside a private conversation that is already going on."""

    PUBLIC = "public"
    PRIVATE = "private"
    PUBLIC_NOTE = "public_note"
    MESSAGE = "message"


class ReplyState(enum.StrEnum):
    PENDING_APPROVAL = "pending_approval"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


URGENCY_REASONS = (
    "negative", "question", "complaint", "high_reach", "safety", "legal", "churn", "privacy",
    "discrimination", "waiting_sla", "repeat_contact", "engagement", "lang_unsupported",
    "echo",
)
"""The reason codes urgency is explained with; weights and keyword lists are keyed by them.
`echo` is the one reason of an echo (a retweet), whose urgency is always 0."""


#: The `lang` of a text that names no language: empty, only emoji, punctuation, numbers,
#: links or @handles, or too short to tell (ISO 639-2's "undetermined", as X writes it).
#: Such a text is still scored (VADER reads emoji), but it is neither English nor an
#: unsupported language, so it never carries `lang_unsupported`.
UNDETERMINED_LANG = "und"


class Role(enum.StrEnum):
    AGENT = "agent"
    MANAGER = "manager"
    ANALYST = "analyst"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class MentionRef:
    """`PLATFORM:EXTERNAL_ID` as users type it, e.g. `x:1600000000000000001`."""

    platform: Platform
    external_id: str

    @classmethod
    def parse(cls, text: str) -> MentionRef:
        platform, sep, external_id = text.strip().partition(":")
        if not sep or not external_id.strip():
            raise ValueError(
                f"malformed mention {text!r}: expected PLATFORM:EXTERNAL_ID, "
                "e.g. x:1600000000000000001"
            )
        try:
            plat = Platform(platform.lower())
        except ValueError:
            known = ", ".join(p.value for p in Platform)
            raise ValueError(
                f"malformed mention {text!r}: unknown platform {platform!r} (one of {known})"
            ) from None
        return cls(plat, external_id.strip())

    def __str__(self) -> str:
        return f"{self.platform.value}:{self.external_id}"


def conversation_key(brand_id: str, customer_id: str) -> str:
    """The key of the one-to-one private conversation between the brand's account and a
    customer: both ids in numeric order, joined by `-`.

    For X it is the real `dm_conversation_id`; for Messenger and Instagram Direct it is made
    the same way from the page (or Instagram account) id and the customer's scoped id, which
    a webhook event and a poll both carry, so both store a message in the same conversation.
    """
    first, second = sorted((str(brand_id), str(customer_id)), key=lambda v: (len(v), v))
    return f"{first}-{second}"


#: The author id stored for an item whose platform names no author (a Graph comment
#: without `from`). An Instagram comment that carries only a username is stored as
#: `@<username>` (`handle_only_author_id`). Neither is the platform's id of a person.
UNKNOWN_AUTHOR_ID = "unknown"


def handle_only_author_id(handle: str | None) -> str:
    """The stand-in id of an author the platform named only by username (or not at all)."""
    return f"@{handle or UNKNOWN_AUTHOR_ID}"


def identified_by_platform(external_id: str) -> bool:
    """Whether an author id is the platform's own id of the account. Only such authors are
    customers: a stand-in id (`UNKNOWN_AUTHOR_ID`, `@username`) may stand for anyone, so
    linking it would show one stranger another person's history."""
    return external_id != UNKNOWN_AUTHOR_ID and not external_id.startswith("@")


@dataclass(slots=True)
class Author:
    """A platform account as the platform describes it."""

    platform: Platform
    external_id: str
    handle: str | None = None
    name: str | None = None
    followers: int | None = None


@dataclass(slots=True)
class Score:
    """What scoring says about one text: sentiment in [-1, 1], urgency in [0, 1], and the
    short reason codes that explain urgency to the agent (e.g. `negative`, `question`)."""

    sentiment: float
    sentiment_label: SentimentLabel
    urgency: float
    urgency_reasons: list[str] = field(default_factory=list)
    lang: str | None = None


@dataclass(slots=True)
class Mention:
    """One inbound item (tweet, comment, reply) as a listener produced it.

    `text` is exactly what the platform sent; `raw` is the platform's own JSON object for it,
    or that object already encoded as UTF-8 JSON text (bytes: how the fetch worker hands it
    to the listener, which stores it as it is); both store the same JSON value.
    `thread_id` groups a conversation (X `conversation_id`, Graph post id); `parent_id` is the
    item it answers, if any. `is_own` marks the brand's own posts, replies and messages: they
    are stored as conversation context but never shown as mentions. `visibility` says whether
    it was said in public or in a private conversation (then `thread_id` is the conversation).
    `is_echo` marks an item that only repeats another (a retweet): stored and counted, but kept
    out of the queue.
    """

    platform: Platform
    external_id: str
    text: str
    created_at: datetime
    author: Author
    thread_id: str | None = None
    parent_id: str | None = None
    url: str | None = None
    lang: str | None = None
    like_count: int = 0
    reply_count: int = 0
    repost_count: int = 0
    is_own: bool = False
    visibility: Visibility = Visibility.PUBLIC
    is_echo: bool = False
    raw: dict[str, Any] | bytes = field(default_factory=dict)
    score: Score | None = None
    # The best topic and its confidence, set right after scoring (None: no confident topic).
    topic: str | None = None
    topic_confidence: float | None = None

    @property
    def ref(self) -> MentionRef:
        return MentionRef(self.platform, self.external_id)


@dataclass(slots=True)
class Page:
    """One page from a source: the mentions on it and the cursor that follows them.

    The cursor is stored in the same transaction as the mentions, so a crash can leave the
    cursor behind the data but never ahead of it.
    """

    mentions: list[Mention]
    cursor: dict[str, Any]
