"""In-memory state of the emulated platforms (X, Facebook, Instagram).

One ``World`` is shared by the HTTP handlers, the control API and the live generator thread,
so every read and write goes through one re-entrant lock.  Content times follow
``World.now()`` (real time plus an adjustable offset, so tests can age data), while rate-limit
windows follow the real clock because tweepy sleeps on real time.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.faults import FaultQueue

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
X_WINDOW_SECONDS = 15 * 60
GRAPH_WINDOW_SECONDS = 3600

#: Requests per 15-minute window for each X endpoint family (per app, as the sandbox sees one).
DEFAULT_X_LIMITS: dict[str, int] = {
    "search": 450,
    "mentions": 450,
    "tweets_lookup": 900,
    "users": 900,
    "users_me": 75,
    "tweets_create": 100,
    "dm": 200,
    "dm_lookup": 300,
}
#: Graph calls per hour before code 4 ("Application request limit reached").
DEFAULT_GRAPH_LIMIT = 4800


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
        a, b = sorted([self.sender_id, self.participant_id], key=int)
        return f"{a}-{b}"

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


@dataclass
class FBComment:
    id: str
    post_id: str
    parent_id: str | None
    message: str
    created: float
    from_id: str
    from_name: str
    seq: int
    like_count: int = 0
    deleted: bool = False
    private_replied: bool = False


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


@dataclass
class IGComment:
    id: str
    media_id: str
    parent_id: str | None
    text: str
    created: float
    from_id: str
    username: str
    seq: int
    like_count: int = 0
    deleted: bool = False
    private_replied: bool = False


@dataclass
class Window:
    """One rate-limit window: started at ``start``; ``blocked_until`` forces 429s."""

    start: float
    count: int = 0
    blocked_until: float = 0.0


@dataclass
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset: int


@dataclass
class World:
    """The whole emulated outside world.  Create one per server; tests may share it."""

    x_limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_X_LIMITS))
    graph_limit: int = DEFAULT_GRAPH_LIMIT

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.faults = FaultQueue()
        self.clock_offset = 0.0
        self._live_thread: threading.Thread | None = None
        self._live_stop = threading.Event()
        self._reset_state()

    # ----------------------------------------------------------------- basics
    def _reset_state(self) -> None:
        self.x_users: dict[str, XUser] = {}
        self.tweets: dict[int, Tweet] = {}
        self.fb_posts: dict[str, FBPost] = {}
        self.fb_comments: dict[str, FBComment] = {}
        self.ig_media: dict[str, IGMedia] = {}
        self.ig_comments: dict[str, IGComment] = {}
        self.fb_users: dict[str, str] = {}  # id -> name
        self.ig_users: dict[str, str] = {}  # id -> username
        self.requests: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.dm_events: list[DMEvent] = []
        # Off = an app without DM read access (Basic tier): the lookup answers 403.
        self.x_dm_lookup = True
        self.revoked_platforms: set[str] = set()
        self.revoked_tokens: set[str] = set()
        self.x_windows: dict[str, Window] = {}
        self.graph_window = Window(start=time.time())
        self.graph_blocked_until = 0.0
        self._tweet_ids = itertools.count(FIRST_TWEET_ID)
        self._fb_post_nums = itertools.count(200000000000001)
        self._fb_comment_nums = itertools.count(300000000000001)
        self._ig_media_ids = itertools.count(17900000000000001)
        self._ig_comment_ids = itertools.count(17890000000000001)
        self._x_user_ids = itertools.count(1400000000000000001)
        self._fb_user_ids = itertools.count(6000000000000001)
        self._ig_user_ids = itertools.count(17841450000000001)
        self._seq = itertools.count(1)
        self._dm_ids = itertools.count(1700000000000000001)
        self._msg_ids = itertools.count(1)
        self.x_users[BRAND_X_ID] = XUser(
            id=BRAND_X_ID, username=BRAND_X_USERNAME, name=BRAND_NAME,
            followers=BRAND_X_FOLLOWERS, following=812, tweet_count=48_211, listed=1_204,
            created_at=1_262_304_000.0,
        )
        self.fb_users[FB_PAGE_ID] = BRAND_NAME
        self.ig_users[IG_USER_ID] = IG_USERNAME

    def reset(self) -> None:
        """Empty the world but keep the brand identities, limits and live mode."""
        with self.lock:
            self._reset_state()
            self.faults.clear()
            self.clock_offset = 0.0

    def now(self) -> float:
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> None:
        """Move content time forward (ages data for 7-day windows without waiting)."""
        with self.lock:
            self.clock_offset += float(seconds)

    # ------------------------------------------------------------------ X
    def ensure_x_user(self, author: dict[str, Any] | None) -> XUser:
        """Find or create an X user from a loose description (id and/or username)."""
        author = author or {}
        with self.lock:
            uid = str(author["id"]) if author.get("id") else None
            username = author.get("username")
            if uid and uid in self.x_users:
                user = self.x_users[uid]
            else:
                user = None
                if username and not uid:
                    user = self.find_x_user(username)
            if user is None:
                uid = uid or str(next(self._x_user_ids))
                username = username or f"user{uid[-6:]}"
                user = XUser(id=uid, username=username, name=author.get("name") or username)
                self.x_users[uid] = user
            if "followers" in author:
                user.followers = int(author["followers"])
            if "dms_open" in author:
                user.dms_open = bool(author["dms_open"])
            if author.get("name"):
                user.name = str(author["name"])
            return user

    def find_x_user(self, username_or_id: str) -> XUser | None:
        with self.lock:
            key = username_or_id.lstrip("@").lower()
            if key in self.x_users:
                return self.x_users[key]
            for user in self.x_users.values():
                if user.username.lower() == key:
                    return user
            return None

    def add_tweet(
        self,
        text: str,
        author: dict[str, Any] | XUser | None = None,
        *,
        in_reply_to: int | str | None = None,
        created_at: float | None = None,
        lang: str = "en",
        retweet_of: int | str | None = None,
        quote_of: int | str | None = None,
        likes: int = 0,
    ) -> Tweet:
        """Add a tweet; replies join the parent's conversation, retweets get ``RT @`` text."""
        with self.lock:
            user = author if isinstance(author, XUser) else self.ensure_x_user(author)
            tid = next(self._tweet_ids)
            conversation_id = tid
            reply_user = None
            parent_id = None
            if in_reply_to is not None:
                parent = self.tweets.get(int(in_reply_to))
                if parent is None:
                    raise KeyError(f"unknown tweet {in_reply_to}")
                parent_id = parent.id
                conversation_id = parent.conversation_id
                reply_user = parent.author_id
                parent.reply_count += 1
            rt_id = None
            if retweet_of is not None:
                original = self.tweets.get(int(retweet_of))
                if original is None:
                    raise KeyError(f"unknown tweet {retweet_of}")
                rt_id = original.id
                original.retweet_count += 1
                orig_user = self.x_users[original.author_id]
                if not text.startswith("RT @"):
                    text = f"RT @{orig_user.username}: {original.text}"
            quote_id = int(quote_of) if quote_of is not None else None
            tweet = Tweet(
                id=tid, text=text, author_id=user.id,
                created_at=self.now() if created_at is None else float(created_at),
                conversation_id=conversation_id, in_reply_to_tweet_id=parent_id,
                in_reply_to_user_id=reply_user, retweeted_id=rt_id, quoted_id=quote_id,
                lang=lang, like_count=likes,
            )
            self.tweets[tid] = tweet
            user.tweet_count += 1
            return tweet

    def visible_tweets(self) -> list[Tweet]:
        """Live tweets, newest (highest id) first."""
        with self.lock:
            return sorted((t for t in self.tweets.values() if not t.deleted),
                          key=lambda t: t.id, reverse=True)

    # ------------------------------------------------------------- Facebook
    def ensure_fb_user(self, author: dict[str, Any] | str | None) -> tuple[str, str]:
        """Return (id, name) for the page (``"page"``) or a visitor description."""
        if author in (None, "page") or (isinstance(author, dict) and
                                         str(author.get("id")) == FB_PAGE_ID):
            return FB_PAGE_ID, BRAND_NAME
        assert isinstance(author, dict)
        with self.lock:
            uid = str(author.get("id") or "")
            name = author.get("name")
            if not uid and name:
                uid = next((k for k, v in self.fb_users.items() if v == name), "")
            if not uid:
                uid = str(next(self._fb_user_ids))
            self.fb_users[uid] = name or self.fb_users.get(uid) or f"User {uid[-4:]}"
            return uid, self.fb_users[uid]

    def add_fb_post(self, message: str, author: dict[str, Any] | str | None = "page",
                    created_at: float | None = None) -> FBPost:
        with self.lock:
            uid, name = self.ensure_fb_user(author)
            post = FBPost(
                id=f"{FB_PAGE_ID}_{next(self._fb_post_nums)}", message=message,
                created=self.now() if created_at is None else float(created_at),
                from_id=uid, from_name=name, seq=next(self._seq),
            )
            self.fb_posts[post.id] = post
            return post

    def add_fb_comment(self, message: str, *, post_id: str | None = None,
                       parent_id: str | None = None, author: dict[str, Any] | str | None = None,
                       created_at: float | None = None, likes: int = 0) -> FBComment:
        """Comment on a post, or reply to a comment (replies to replies attach to the top)."""
        with self.lock:
            if parent_id is not None:
                parent = self.fb_comments.get(str(parent_id))
                if parent is None:
                    raise KeyError(f"unknown comment {parent_id}")
                if parent.parent_id is not None:
                    parent = self.fb_comments[parent.parent_id]
                post_id, parent_id = parent.post_id, parent.id
            if post_id is None or str(post_id) not in self.fb_posts:
                raise KeyError(f"unknown post {post_id}")
            post_num = str(post_id).split("_", 1)[-1]
            uid, name = self.ensure_fb_user(author)
            comment = FBComment(
                id=f"{post_num}_{next(self._fb_comment_nums)}", post_id=str(post_id),
                parent_id=parent_id, message=message,
                created=self.now() if created_at is None else float(created_at),
                from_id=uid, from_name=name, seq=next(self._seq), like_count=likes,
            )
            self.fb_comments[comment.id] = comment
            return comment

    # ------------------------------------------------------------ Instagram
    def ensure_ig_user(self, author: dict[str, Any] | str | None) -> tuple[str, str]:
        if author in (None, "brand", "page") or (
            isinstance(author, dict) and (str(author.get("id")) == IG_USER_ID
                                          or author.get("username") == IG_USERNAME)):
            return IG_USER_ID, IG_USERNAME
        assert isinstance(author, dict)
        with self.lock:
            uid = str(author.get("id") or "")
            username = author.get("username")
            if not uid and username:
                uid = next((k for k, v in self.ig_users.items() if v == username), "")
            if not uid:
                uid = str(next(self._ig_user_ids))
            self.ig_users[uid] = username or self.ig_users.get(uid) or f"user{uid[-5:]}"
            return uid, self.ig_users[uid]

    def add_ig_media(self, caption: str, *, author: dict[str, Any] | str | None = "brand",
                     created_at: float | None = None) -> IGMedia:
        """Brand media, or (with another author) media the brand is tagged in."""
        with self.lock:
            uid, username = self.ensure_ig_user(author)
            media = IGMedia(
                id=str(next(self._ig_media_ids)), owner_id=uid, username=username,
                caption=caption, created=self.now() if created_at is None else float(created_at),
                seq=next(self._seq), tagged=uid != IG_USER_ID,
            )
            self.ig_media[media.id] = media
            return media

    def add_ig_comment(self, text: str, *, media_id: str | None = None,
                       parent_id: str | None = None, author: dict[str, Any] | str | None = None,
                       created_at: float | None = None, likes: int = 0) -> IGComment:
        """Comment on media, or reply to a top-level comment (replies cannot nest)."""
        with self.lock:
            if parent_id is not None:
                parent = self.ig_comments.get(str(parent_id))
                if parent is None:
                    raise KeyError(f"unknown comment {parent_id}")
                if parent.parent_id is not None:
                    raise ValueError("replies can only be made to top-level comments")
                media_id, parent_id = parent.media_id, parent.id
            if media_id is None or str(media_id) not in self.ig_media:
                raise KeyError(f"unknown media {media_id}")
            uid, username = self.ensure_ig_user(author)
            comment = IGComment(
                id=str(next(self._ig_comment_ids)), media_id=str(media_id), parent_id=parent_id,
                text=text, created=self.now() if created_at is None else float(created_at),
                from_id=uid, username=username, seq=next(self._seq), like_count=likes,
            )
            self.ig_comments[comment.id] = comment
            return comment

    def graph_object(self, object_id: str) -> Any:
        """Any Graph object by id (posts, comments, media), or None."""
        with self.lock:
            for table in (self.fb_posts, self.fb_comments, self.ig_media, self.ig_comments):
                if object_id in table:
                    return table[object_id]
            return None

    def delete_object(self, platform: str, object_id: str) -> bool:
        """Mark a tweet/post/comment deleted (it disappears from reads, writes to it fail)."""
        with self.lock:
            if platform == "x":
                tweet = self.tweets.get(int(object_id))
                obj: Any = tweet
            else:
                obj = self.graph_object(object_id)
            if obj is None:
                return False
            obj.deleted = True
            return True

    # ------------------------------------------------------------- writes log
    def record_sent(self, kind: str, **data: Any) -> dict[str, Any]:
        with self.lock:
            entry = {"kind": kind, "time": time.time(), **data}
            self.sent.append(entry)
            return entry

    def next_dm_id(self) -> str:
        return str(next(self._dm_ids))

    def add_dm(self, sender: str, participant: str, text: str,
               created_at: float | None = None) -> DMEvent:
        """Store a direct message from ``sender`` to ``participant`` (both X user ids)."""
        with self.lock:
            for uid in (sender, participant):
                if uid not in self.x_users:
                    raise KeyError(f"unknown X user {uid}")
            event = DMEvent(id=int(self.next_dm_id()), sender_id=sender,
                            participant_id=participant, text=text,
                            created_at=self.now() if created_at is None else float(created_at))
            self.dm_events.append(event)
            return event

    def dm_conversation(self, me: str, other: str) -> list[DMEvent]:
        """The 1-1 conversation between two users, newest first."""
        with self.lock:
            pair = {me, other}
            return sorted((e for e in self.dm_events
                           if {e.sender_id, e.participant_id} == pair),
                          key=lambda e: e.id, reverse=True)

    def next_message_id(self) -> str:
        return f"m_sandbox{next(self._msg_ids):012d}"

    # ------------------------------------------------------------ rate limits
    def x_rate(self, key: str, *, consume: bool = True) -> RateDecision:
        """Count one call against an X endpoint's 15-minute window."""
        with self.lock:
            limit = int(self.x_limits.get(key, 900))
            now = time.time()
            win = self.x_windows.get(key)
            if win is None or (now >= win.start + X_WINDOW_SECONDS and now >= win.blocked_until):
                win = self.x_windows[key] = Window(start=now)
            if win.blocked_until and now >= win.blocked_until:
                win = self.x_windows[key] = Window(start=now)
            if win.blocked_until > now:
                return RateDecision(False, limit, 0, int(win.blocked_until + 0.999))
            reset = int(win.start + X_WINDOW_SECONDS)
            if win.count >= limit:
                return RateDecision(False, limit, 0, reset)
            if consume:
                win.count += 1
            return RateDecision(True, limit, max(0, limit - win.count), reset)

    def x_block(self, key: str, seconds: float) -> RateDecision:
        """Exhaust an X window until ``now + seconds`` (used by the 429 fault)."""
        with self.lock:
            now = time.time()
            win = self.x_windows.get(key) or Window(start=now)
            win.blocked_until = now + seconds
            self.x_windows[key] = win
            limit = int(self.x_limits.get(key, 900))
            return RateDecision(False, limit, 0, int(win.blocked_until + 0.999))

    def graph_rate(self) -> tuple[bool, int]:
        """Count one Graph call; returns (allowed, usage percent for X-App-Usage)."""
        with self.lock:
            now = time.time()
            if now >= self.graph_window.start + GRAPH_WINDOW_SECONDS:
                self.graph_window = Window(start=now)
            if self.graph_blocked_until > now:
                return False, 100
            limit = max(1, int(self.graph_limit))
            if self.graph_window.count >= limit:
                return False, 100
            self.graph_window.count += 1
            return True, min(100, (self.graph_window.count * 100) // limit)

    def graph_block(self, seconds: float) -> None:
        with self.lock:
            self.graph_blocked_until = time.time() + seconds

    def set_limits(self, limits: dict[str, Any]) -> None:
        """Set per-endpoint X limits (``search``, ``mentions``...) and ``graph`` per hour."""
        with self.lock:
            for key, value in limits.items():
                if key == "graph":
                    self.graph_limit = int(value)
                    self.graph_window = Window(start=time.time())
                elif key == "reset_windows":
                    if value:
                        self.x_windows.clear()
                        self.graph_window = Window(start=time.time())
                        self.graph_blocked_until = 0.0
                elif key in DEFAULT_X_LIMITS:
                    self.x_limits[key] = int(value)
                    self.x_windows.pop(key, None)
                else:
                    raise ValueError(
                        f"unknown limit {key!r}; expected one of "
                        f"{sorted([*DEFAULT_X_LIMITS, 'graph', 'reset_windows'])}")

    # ---------------------------------------------------------------- tokens
    def revoke(self, platform: str, token: str | None = None) -> None:
        with self.lock:
            if token:
                self.revoked_tokens.add(token)
            else:
                self.revoked_platforms.add(platform)

    def restore(self, platform: str | None = None) -> None:
        with self.lock:
            if platform:
                self.revoked_platforms.discard(platform)
            else:
                self.revoked_platforms.clear()
            self.revoked_tokens.clear()

    def is_revoked(self, platform: str, token: str | None) -> bool:
        with self.lock:
            return platform in self.revoked_platforms or (token in self.revoked_tokens)

    # -------------------------------------------------------------- requests
    def record_request(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)
            if len(self.requests) > 20_000:
                del self.requests[:5_000]

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "x": {
                    "tweets": sum(not t.deleted for t in self.tweets.values()),
                    "users": len(self.x_users),
                    "retweets": sum(t.is_retweet for t in self.tweets.values()),
                    "dm_events": len(self.dm_events),
                },
                "facebook": {
                    "posts": sum(not p.deleted for p in self.fb_posts.values()),
                    "comments": sum(not c.deleted for c in self.fb_comments.values()),
                },
                "instagram": {
                    "media": sum(not m.deleted for m in self.ig_media.values()),
                    "comments": sum(not c.deleted for c in self.ig_comments.values()),
                },
                "requests": len(self.requests),
                "sent": len(self.sent),
                "faults": len(self.faults.list()),
                "revoked": sorted(self.revoked_platforms),
                "live": self._live_thread is not None and self._live_thread.is_alive(),
                "now": self.now(),
            }

    # ------------------------------------------------------------- generator
    def seed(self, count: int = 200, seed: int = 7, days: float = 3.0) -> dict[str, int]:
        """Fill the world with ``count`` customer items spread over the last ``days``."""
        from sandbox.generator import Generator

        return Generator(self, seed=seed).seed(count, days=days)

    def generate(self, count: int = 1, seed: int | None = None) -> dict[str, int]:
        """Add ``count`` new customer items timestamped now."""
        from sandbox.generator import Generator

        with self.lock:
            if seed is None:
                seed = int(self.now() * 1000) % 2**31 + len(self.tweets)
        return Generator(self, seed=seed).generate(count)

    def start_live(self, rate_per_minute: float,
                   on_error: Callable[[BaseException], None] | None = None) -> None:
        """Keep adding new items in a daemon thread (the demo's trickle of mentions)."""
        self.stop_live()
        if rate_per_minute <= 0:
            return
        interval = 60.0 / float(rate_per_minute)
        self._live_stop = stop = threading.Event()

        def loop() -> None:
            from sandbox.generator import Generator

            gen = Generator(self, seed=int(time.time()))
            while not stop.wait(interval):
                try:
                    gen.generate(1)
                except Exception as exc:  # keep the demo alive; report and carry on
                    if on_error:
                        on_error(exc)

        self._live_thread = threading.Thread(target=loop, name="sandbox-live", daemon=True)
        self._live_thread.start()

    def stop_live(self) -> None:
        self._live_stop.set()
        thread = self._live_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._live_thread = None
