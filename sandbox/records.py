"""Records of the emulated platforms: brand identities, time formats, users, posts, comments.

Plain data with no behaviour beyond serialising itself, shared by the world (which owns and
mutates them), the generator and the API modules (which serialise them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

BRAND_X_ID = "1500000000000000000"
BRAND_X_USERNAME = "acmeair"
BRAND_NAME = "Acme Air"
BRAND_X_FOLLOWERS = 251_340
FB_PAGE_ID = "100000000000001"
IG_USER_ID = "17841400000000001"
IG_USERNAME = "acmeair"

FIRST_TWEET_ID = 1600000000000000001
SEARCH_WINDOW_SECONDS = 7 * 24 * 3600
PRIVATE_REPLY_WINDOW_SECONDS = 7 * 24 * 3600
MENTIONS_CAP = 800


def iso_x(ts: float) -> str:
    """X API v2 time format (tweepy parses exactly this form)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def iso_graph(ts: float) -> str:
    """Graph API time format, e.g. 2026-05-01T12:00:00+0000."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_time(value: Any) -> float:
    """Accept epoch seconds (number or digits) or ISO 8601; raise ValueError otherwise."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if not text:
        raise ValueError("empty time")
    if text.lstrip("-").replace(".", "", 1).isdigit():
        return float(text)
    if text.endswith("+0000"):
        text = text[:-5] + "+00:00"
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


@dataclass
class XUser:
    id: str
    username: str
    name: str
    followers: int = 100
    following: int = 100
    tweet_count: int = 500
    listed: int = 1
    dms_open: bool = True
    created_at: float = 1_400_000_000.0

    def to_api(self, fields: set[str]) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "name": self.name, "username": self.username}
        if "public_metrics" in fields:
            data["public_metrics"] = {
                "followers_count": self.followers,
                "following_count": self.following,
                "tweet_count": self.tweet_count,
                "listed_count": self.listed,
            }
        if "created_at" in fields:
            data["created_at"] = iso_x(self.created_at)
        if "verified" in fields:
            data["verified"] = self.followers >= 100_000
        if "description" in fields:
            data["description"] = ""
        if "protected" in fields:
            data["protected"] = False
        return data


@dataclass
class Tweet:
    id: int
    text: str
    author_id: str
    created_at: float
    conversation_id: int
    in_reply_to_tweet_id: int | None = None
    in_reply_to_user_id: str | None = None
    retweeted_id: int | None = None
    quoted_id: int | None = None
    lang: str = "en"
    like_count: int = 0
    retweet_count: int = 0
    reply_count: int = 0
    quote_count: int = 0
    deleted: bool = False

    @property
    def is_retweet(self) -> bool:
        return self.retweeted_id is not None

    def referenced(self) -> list[dict[str, str]]:
        refs = []
        if self.retweeted_id is not None:
            refs.append({"type": "retweeted", "id": str(self.retweeted_id)})
        if self.quoted_id is not None:
            refs.append({"type": "quoted", "id": str(self.quoted_id)})
        if self.in_reply_to_tweet_id is not None:
            refs.append({"type": "replied_to", "id": str(self.in_reply_to_tweet_id)})
        return refs


@dataclass
class DMEvent:
    """One ``MessageCreate`` event in a 1-1 conversation (ids grow, so newest = highest)."""

    id: int
    sender_id: str
    participant_id: str
    text: str
    created_at: float
    event_type: str = "MessageCreate"

    @property
    def conversation_id(self) -> str:
        """X names a 1-1 conversation by both user ids, lower first."""
        return pair_key(self.sender_id, self.participant_id)

    def to_api(self, fields: set[str]) -> dict[str, Any]:
        """``id``, ``event_type`` and ``text`` always; the rest on request."""
        data: dict[str, Any] = {"id": str(self.id), "event_type": self.event_type,
                                "text": self.text}
        if "sender_id" in fields:
            data["sender_id"] = self.sender_id
        if "dm_conversation_id" in fields:
            data["dm_conversation_id"] = self.conversation_id
        if "created_at" in fields:
            data["created_at"] = iso_x(self.created_at)
        if "participant_ids" in fields:
            data["participant_ids"] = sorted([self.sender_id, self.participant_id], key=int)
        return data


@dataclass
class FBPost:
    id: str
    message: str
    created: float
    from_id: str
    from_name: str
    seq: int
    deleted: bool = False

    @property
    def by_page(self) -> bool:
        return self.from_id == FB_PAGE_ID


@dataclass(kw_only=True)
class GraphComment:
    """What Facebook and Instagram comments have in common: everything a private reply to a
    comment checks (who wrote it, when, whether it is gone or answered privately already)."""

    id: str
    parent_id: str | None
    created: float
    from_id: str
    seq: int
    like_count: int = 0
    deleted: bool = False
    private_replied: bool = False


@dataclass(kw_only=True)
class FBComment(GraphComment):
    post_id: str
    message: str
    from_name: str
    # Graph leaves `from` out of a comment when the commenter's privacy settings (or the
    # app's access) hide who wrote it: the comment then names no author at all.
    from_hidden: bool = False


@dataclass
class IGMedia:
    id: str
    owner_id: str
    username: str
    caption: str
    created: float
    seq: int
    tagged: bool = False
    media_type: str = "IMAGE"
    deleted: bool = False


@dataclass(kw_only=True)
class IGComment(GraphComment):
    media_id: str
    text: str
    username: str


#: Messenger and Instagram Direct: ``RESPONSE`` within 24 h of the customer's last message,
#: ``MESSAGE_TAG`` + ``HUMAN_AGENT`` within 7 days.
RESPONSE_WINDOW_SECONDS = 24 * 3600
HUMAN_AGENT_WINDOW_SECONDS = 7 * 24 * 3600


def pair_key(a: str, b: str) -> str:
    """A one-to-one conversation named by both ids, numerically smaller first (X's form)."""
    low, high = sorted([a, b], key=int)
    return f"{low}-{high}"


@dataclass
class GraphMessage:
    """One Messenger or Instagram Direct message (``m_…``), from the brand or the customer."""

    id: str
    conversation_id: str
    platform: str  # "messenger" | "instagram"
    from_id: str
    to_id: str
    text: str
    created: float
    seq: int


@dataclass
class Conversation:
    """A page's (Messenger) or IG account's (Instagram) conversation with one customer.

    ``brand_id`` is the page id or the IG professional account id; the customer is a PSID or
    an IGSID.  Messages are kept oldest first.  ``awaiting_customer`` is set by a private reply
    to a comment: the brand may write again only once the customer answers."""

    id: str
    platform: str  # "messenger" | "instagram"
    brand_id: str
    customer_id: str
    messages: list[GraphMessage] = field(default_factory=list)
    awaiting_customer: bool = False

    @property
    def updated(self) -> float:
        return self.messages[-1].created if self.messages else 0.0

    @property
    def position(self) -> tuple[float, int]:
        """Where the conversation sorts in the inbox: its newest message."""
        last = self.messages[-1] if self.messages else None
        return (last.created, last.seq) if last else (0.0, 0)

    def last_customer_time(self) -> float | None:
        """When the customer last wrote (the messaging window is measured from it)."""
        times = [m.created for m in self.messages if m.from_id == self.customer_id]
        return max(times) if times else None
