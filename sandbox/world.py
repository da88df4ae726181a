"""In-memory state of the emulated platforms (X, Facebook, Instagram).

One ``World`` is shared by the HTTP handlers, the control API and the live generator thread,
so every read and write goes through one re-entrant lock.  Content times follow
``World.now()`` (real time plus an adjustable offset, so tests can age data), while rate-limit
windows follow the real clock because tweepy sleeps on real time.

The world holds state; it does not invent content.  ``seed`` and ``generate`` use the
generator the world is given (``sandbox.app.create_app`` wires ``sandbox.generator.Generator``
into the world it serves), and the live trickle is run by ``sandbox.generator.LiveFeed``.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol, TypeVar

from sandbox.faults import FaultQueue
from sandbox.limits import RateLimits
from sandbox.records import (
    BRAND_NAME,
    BRAND_X_FOLLOWERS,
    BRAND_X_ID,
    BRAND_X_USERNAME,
    FB_PAGE_ID,
    FIRST_TWEET_ID,
    IG_USER_ID,
    IG_USERNAME,
    Conversation,
    DMEvent,
    FBComment,
    FBPost,
    GraphComment,
    GraphMessage,
    IGComment,
    IGMedia,
    Tweet,
    XUser,
)

log = logging.getLogger("sandbox")

#: The brand's side of each Graph messaging platform.
MESSAGING_BRANDS = {"messenger": FB_PAGE_ID, "instagram": IG_USER_ID}
CommentT = TypeVar("CommentT", bound=GraphComment)


def _comment(table: Mapping[str, CommentT], comment_id: Any) -> CommentT:
    """The comment `comment_id` of `table`; KeyError when there is none."""
    comment = table.get(str(comment_id))
    if comment is None:
        raise KeyError(f"unknown comment {comment_id}")
    return comment


class ContentGenerator(Protocol):
    """Makes up customer content in the world it was built for."""

    def seed(self, count: int, days: float = ...) -> dict[str, int]: ...

    def generate(self, count: int = ...) -> dict[str, int]: ...


#: Builds a content generator for a world from a seed (``sandbox.generator.Generator`` is one).
GeneratorFactory = Callable[["World", int], ContentGenerator]


class WorldObserver(Protocol):
    """Told about what is stored as it is stored (webhook delivery, the live generator), so
    the world needs to know nothing about them.  ``notice`` runs under the world's lock: it
    must only take note (queue work), never wait on the network."""

    def notice(self, event: str, record: Any) -> None: ...

    def reset(self) -> None: ...


class World:
    """The whole emulated outside world.  Create one per server; tests may share it."""

    def __init__(self, generator: GeneratorFactory | None = None) -> None:
        self.generator = generator
        self.lock = threading.RLock()
        self.limits = RateLimits()
        self.faults = FaultQueue()
        self.clock_offset = 0.0
        #: Whether content keeps arriving on its own (set by whoever runs the trickle).
        self.live = False
        #: Told about every new comment, Graph message, X DM and write (``WorldObserver``).
        self.observers: list[WorldObserver] = []
        #: The product's ids from its configuration (`adopt_brand_ids`): pages, Instagram
        #: accounts, X accounts.
        self._configured_ids: tuple[tuple[str, ...], ...] = ((), (), ())
        self._reset_state()

    # ----------------------------------------------------------------- basics
    def _reset_state(self) -> None:
        self.x_users: dict[str, XUser] = {}
        self.tweets: dict[int, Tweet] = {}
        #: Tweet ids in ascending order (ids come from a counter), so timeline reads can
        #: bisect to their starting point instead of sorting every tweet per request.
        self._tweet_order: list[int] = []
        self.fb_posts: dict[str, FBPost] = {}
        self.fb_comments: dict[str, FBComment] = {}
        self.ig_media: dict[str, IGMedia] = {}
        self.ig_comments: dict[str, IGComment] = {}
        self.fb_users: dict[str, str] = {}  # id -> name
        self.ig_users: dict[str, str] = {}  # id -> username
        self.requests: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.dm_events: list[DMEvent] = []
        self.conversations: dict[str, Conversation] = {}
        self.graph_messages: dict[str, GraphMessage] = {}
        #: The brand page's and Instagram account's ids as the product knows them, when its
        #: configuration names others than ours (canonical id -> the product's ids): the
        #: Graph front door adopts them (`sandbox.graph_api.graph_ids`).
        self.graph_aliases: dict[str, list[str]] = {}
        #: The same for the brand's X account (`sandbox.x_api.x_brand_ids`).
        self.x_aliases: dict[str, str] = {}
        # Off = an app without DM read access (Basic tier): the lookup answers 403.
        self.x_dm_lookup = True
        self.revoked_platforms: set[str] = set()
        self.revoked_tokens: set[str] = set()
        self.limits.reset_windows()
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
        self._conversation_nums = itertools.count(4000000000000001)
        self.x_users[BRAND_X_ID] = XUser(
            id=BRAND_X_ID, username=BRAND_X_USERNAME, name=BRAND_NAME,
            followers=BRAND_X_FOLLOWERS, following=812, tweet_count=48_211, listed=1_204,
            created_at=1_262_304_000.0,
        )
        self.fb_users[FB_PAGE_ID] = BRAND_NAME
        self.ig_users[IG_USER_ID] = IG_USERNAME

    def adopt_brand_ids(self, *, page_ids: Iterable[str] = (), ig_user_ids: Iterable[str] = (),
                        x_user_ids: Iterable[str] = ()) -> None:
        """Know the product's ids for our page, Instagram account and X account from the
        start (`carewatch sandbox` reads them from the configuration), instead of from
        the first request that uses them: the Instagram Direct source names only its page,
        so a first poll that reached it before the media source read the brand's own
        messages as a customer's. Kept through `reset`, like the brand itself."""
        with self.lock:
            self._configured_ids = (tuple(page_ids), tuple(ig_user_ids), tuple(x_user_ids))
            self._adopt_configured_ids()

    def _adopt_configured_ids(self) -> None:
        page_ids, ig_user_ids, x_user_ids = self._configured_ids
        ours = {FB_PAGE_ID, IG_USER_ID, BRAND_X_ID}
        for canonical, ids in ((FB_PAGE_ID, page_ids), (IG_USER_ID, ig_user_ids)):
            known = self.graph_aliases.setdefault(canonical, [])
            known.extend(i for i in dict.fromkeys(ids) if i not in ours and i not in known)
            if not known:
                del self.graph_aliases[canonical]
        other = next((i for i in x_user_ids if i not in ours and i not in self.x_users), None)
        if other is not None:
            self.x_aliases.setdefault(BRAND_X_ID, other)

    def reset(self) -> None:
        """Empty the world but keep the brand identities, limits and live mode."""
        with self.lock:
            self._reset_state()
            self._adopt_configured_ids()
            self.faults.clear()
            self.clock_offset = 0.0
            for observer in self.observers:
                observer.reset()

    def notify(self, event: str, record: Any) -> None:
        """Tell every observer about a new record; an observer's failure never fails the
        write that caused it."""
        for observer in list(self.observers):
            try:
                observer.notice(event, record)
            except Exception as exc:  # an observer bug must not break the emulated API
                log.warning("sandbox observer %r failed on %s: %s", observer, event, exc)

    def now(self) -> float:
        return time.time() + self.clock_offset

    def at(self, created_at: float | None) -> float:
        """An item's creation time: the one given, or the world's now."""
        return self.now() if created_at is None else float(created_at)

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
                created_at=self.at(created_at),
                conversation_id=conversation_id, in_reply_to_tweet_id=parent_id,
                in_reply_to_user_id=reply_user, retweeted_id=rt_id, quoted_id=quote_id,
                lang=lang, like_count=likes,
            )
            self.tweets[tid] = tweet
            self._tweet_order.append(tid)
            user.tweet_count += 1
            return tweet

    def visible_tweets(self) -> list[Tweet]:
        """Live tweets, newest (highest id) first."""
        with self.lock:
            return list(self.tweets_newest_first())

    def tweets_newest_first(self, below: int | None = None) -> Iterator[Tweet]:
        """Live tweets with an id under ``below`` (all if None), newest first, read lazily.

        Bisection finds the start, so a page of a timeline costs O(log n + what it reads)
        rather than a sort of the whole store per request.  Iterate under ``lock``."""
        ids = self._tweet_order
        start = len(ids) if below is None else bisect.bisect_left(ids, below)
        tweets = self.tweets
        for k in range(start - 1, -1, -1):
            tweet = tweets[ids[k]]
            if not tweet.deleted:
                yield tweet

    def _visitor(self, users: dict[str, str], new_ids: Iterator[int], author: dict[str, Any],
                 name_key: str, default_name: Callable[[str], str]) -> tuple[str, str]:
        """(id, name) of a visitor's Graph account, found by id or else by name (`name_key`
        in `author`), or made up; the latest name given is kept."""
        with self.lock:
            uid = str(author.get("id") or "")
            name = author.get(name_key)
            if not uid and name:
                uid = next((k for k, v in users.items() if v == name), "")
            if not uid:
                uid = str(next(new_ids))
            users[uid] = name or users.get(uid) or default_name(uid)
            return uid, users[uid]

    # ------------------------------------------------------------- Facebook
    def ensure_fb_user(self, author: dict[str, Any] | str | None) -> tuple[str, str]:
        """Return (id, name) for the page (``"page"``) or a visitor description."""
        if author in (None, "page") or (isinstance(author, dict) and
                                         str(author.get("id")) == FB_PAGE_ID):
            return FB_PAGE_ID, BRAND_NAME
        assert isinstance(author, dict)
        return self._visitor(self.fb_users, self._fb_user_ids, author, "name",
                             lambda uid: f"User {uid[-4:]}")

    def add_fb_post(self, message: str, author: dict[str, Any] | str | None = "page",
                    created_at: float | None = None) -> FBPost:
        with self.lock:
            uid, name = self.ensure_fb_user(author)
            post = FBPost(
                id=f"{FB_PAGE_ID}_{next(self._fb_post_nums)}", message=message,
                created=self.at(created_at),
                from_id=uid, from_name=name, seq=next(self._seq),
            )
            self.fb_posts[post.id] = post
            return post

    def add_fb_comment(self, message: str, *, post_id: str | None = None,
                       parent_id: str | None = None, author: dict[str, Any] | str | None = None,
                       created_at: float | None = None, likes: int = 0,
                       hide_from: bool = False) -> FBComment:
        """Comment on a post, or reply to a comment (replies to replies attach to the top).
        ``hide_from``: Graph serves the comment without ``from`` (the commenter is hidden)."""
        with self.lock:
            if parent_id is not None:
                parent = _comment(self.fb_comments, parent_id)
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
                created=self.at(created_at),
                from_id=uid, from_name=name, seq=next(self._seq), like_count=likes,
                from_hidden=hide_from,
            )
            self.fb_comments[comment.id] = comment
            self.notify("fb_comment", comment)
            return comment

    # ------------------------------------------------------------ Instagram
    def ensure_ig_user(self, author: dict[str, Any] | str | None) -> tuple[str, str]:
        if author in (None, "brand", "page") or (
            isinstance(author, dict) and (str(author.get("id")) == IG_USER_ID
                                          or author.get("username") == IG_USERNAME)):
            return IG_USER_ID, IG_USERNAME
        assert isinstance(author, dict)
        return self._visitor(self.ig_users, self._ig_user_ids, author, "username",
                             lambda uid: f"user{uid[-5:]}")

    def add_ig_media(self, caption: str, *, author: dict[str, Any] | str | None = "brand",
                     created_at: float | None = None) -> IGMedia:
        """Brand media, or (with another author) media the brand is tagged in."""
        with self.lock:
            uid, username = self.ensure_ig_user(author)
            media = IGMedia(
                id=str(next(self._ig_media_ids)), owner_id=uid, username=username,
                caption=caption, created=self.at(created_at),
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
                parent = _comment(self.ig_comments, parent_id)
                if parent.parent_id is not None:
                    raise ValueError("replies can only be made to top-level comments")
                media_id, parent_id = parent.media_id, parent.id
            if media_id is None or str(media_id) not in self.ig_media:
                raise KeyError(f"unknown media {media_id}")
            uid, username = self.ensure_ig_user(author)
            comment = IGComment(
                id=str(next(self._ig_comment_ids)), media_id=str(media_id), parent_id=parent_id,
                text=text, created=self.at(created_at),
                from_id=uid, username=username, seq=next(self._seq), like_count=likes,
            )
            self.ig_comments[comment.id] = comment
            self.notify("ig_comment", comment)
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
            self.notify("sent", entry)
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
                            created_at=self.at(created_at))
            self.dm_events.append(event)
            self.notify("x_dm", event)
            return event

    def dm_conversation(self, me: str, other: str) -> list[DMEvent]:
        """The 1-1 conversation between two users, newest first."""
        pair = {me, other}
        return self._dm_events_where(lambda e: {e.sender_id, e.participant_id} == pair)

    def dm_events_of(self, user_id: str) -> list[DMEvent]:
        """Every DM event a user sent or received, newest first."""
        return self._dm_events_where(lambda e: user_id in (e.sender_id, e.participant_id))

    def _dm_events_where(self, keep: Callable[[DMEvent], bool]) -> list[DMEvent]:
        with self.lock:
            return sorted((e for e in self.dm_events if keep(e)), key=lambda e: e.id,
                          reverse=True)

    def next_message_id(self) -> str:
        return f"m_sandbox{next(self._msg_ids):012d}"

    # ------------------------------------------------ Messenger, Instagram Direct
    def open_conversation(self, platform: str, customer: dict[str, Any] | str) -> Conversation:
        """The brand's conversation with a customer on ``messenger`` (a Facebook user: PSID,
        name) or ``instagram`` (IGSID, username), created empty when there is none yet."""
        if platform not in MESSAGING_BRANDS:
            raise ValueError(f"platform must be one of {sorted(MESSAGING_BRANDS)}")
        brand = MESSAGING_BRANDS[platform]
        with self.lock:
            if isinstance(customer, str):
                customer = {"id": customer}
            ensure = self.ensure_fb_user if platform == "messenger" else self.ensure_ig_user
            customer_id, _ = ensure(customer)
            if customer_id == brand:
                raise ValueError("a conversation needs a customer other than the brand")
            found = self.find_conversation(customer_id, platform)
            if found is not None:
                return found
            conversation = Conversation(id=f"t_{next(self._conversation_nums)}",
                                        platform=platform, brand_id=brand,
                                        customer_id=customer_id)
            self.conversations[conversation.id] = conversation
            return conversation

    def find_conversation(self, customer_id: str,
                          platform: str | None = None) -> Conversation | None:
        """The conversation with a PSID or IGSID (on ``platform`` when given), or None."""
        with self.lock:
            return next((c for c in self.conversations.values()
                         if c.customer_id == customer_id
                         and (platform is None or c.platform == platform)), None)

    def add_graph_message(self, conversation_id: str, text: str, *, from_brand: bool = False,
                          created_at: float | None = None) -> GraphMessage:
        """A message in a conversation, by the customer or (``from_brand``) by the brand.
        A customer message lifts the wait a private reply to a comment imposed."""
        with self.lock:
            conversation = self.conversations[conversation_id]
            sender, recipient = conversation.customer_id, conversation.brand_id
            if from_brand:
                sender, recipient = recipient, sender
            else:
                conversation.awaiting_customer = False
            message = GraphMessage(
                id=self.next_message_id(), conversation_id=conversation.id,
                platform=conversation.platform, from_id=sender, to_id=recipient, text=text,
                created=self.at(created_at),
                seq=next(self._seq))
            conversation.messages.append(message)
            conversation.messages.sort(key=lambda m: (m.created, m.seq))
            self.graph_messages[message.id] = message
            self.notify("graph_message", message)
            return message

    def age_conversation(self, conversation_id: str, seconds: float) -> Conversation:
        """Move every message of a conversation ``seconds`` into the past (tests the messaging
        windows without ageing the rest of the world)."""
        with self.lock:
            conversation = self.conversations[conversation_id]
            for message in conversation.messages:
                message.created -= float(seconds)
            return conversation

    def graph_person(self, user_id: str, platform: str) -> dict[str, str]:
        """A participant as Graph names it: ``name`` on Messenger, ``username`` on Instagram."""
        with self.lock:
            if platform == "messenger":
                return {"id": user_id, "name": self.fb_users.get(user_id, "")}
            return {"id": user_id, "username": self.ig_users.get(user_id, "")}

    # ------------------------------------------------------------ rate limits
    @property
    def x_limits(self) -> dict[str, int]:
        return self.limits.x_limits

    @x_limits.setter
    def x_limits(self, value: dict[str, int]) -> None:
        self.limits.x_limits = value

    @property
    def graph_limit(self) -> int:
        return self.limits.graph_limit

    @graph_limit.setter
    def graph_limit(self, value: int) -> None:
        self.limits.graph_limit = value

    def set_limits(self, limits: dict[str, Any]) -> None:
        """Set per-endpoint X limits (``search``, ``mentions``...) and ``graph`` per hour."""
        self.limits.set_limits(limits)

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
                "conversations": {
                    platform: sum(c.platform == platform for c in self.conversations.values())
                    for platform in MESSAGING_BRANDS
                },
                "messages": len(self.graph_messages),
                "requests": len(self.requests),
                "sent": len(self.sent),
                "faults": len(self.faults.list()),
                "revoked": sorted(self.revoked_platforms),
                "live": self.live,
                "now": self.now(),
            }

    # ------------------------------------------------------------- generator
    def _generator(self, seed: int) -> ContentGenerator:
        if self.generator is None:
            raise RuntimeError("this World has no generator: build it as World(generator=...)")
        return self.generator(self, seed)

    def seed(self, count: int = 200, seed: int = 7, days: float = 3.0) -> dict[str, int]:
        """Fill the world with ``count`` customer items spread over the last ``days``."""
        return self._generator(seed).seed(count, days=days)

    def generate(self, count: int = 1, seed: int | None = None) -> dict[str, int]:
        """Add ``count`` new customer items timestamped now."""
        with self.lock:
            if seed is None:
                seed = int(self.now() * 1000) % 2**31 + len(self.tweets)
        return self._generator(seed).generate(count)
