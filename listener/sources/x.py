"""X (Twitter) API v2 sources: recent search and the brand account's mentions timeline.

Cursor scheme (why: the cursor must never be ahead of the stored data). X returns newest
first and paginates towards older tweets, so the newest id of a run is known on its first
page but is only safe to store once the whole run is stored. Mid-run pages carry

    {"since_id": <old>, "pending_newest": <newest of this run>, "until_id": <oldest stored>}

and the final page carries `{"since_id": <newest of this run>}`. A crash mid-run resumes with
the old `since_id` plus `until_id` (an official parameter, unlike a `next_token` it never
expires) and finishes the gap; the upsert on (platform, external_id) makes overlaps harmless.
The first poll of a new source backfills with `start_time` (7 days at most for search).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import orjson
import requests
import tweepy

from carewatch.domain import Author, Mention, Page, Platform
from carewatch.errors import PermanentError
from carewatch.platforms.x import X
from carewatch.settings import Settings, SourceConfig
from listener.sources.base import BaseSource, parse_time
from listener.sources.x_dms import XDirectMessageSource

TWEET_FIELDS = ["author_id", "created_at", "conversation_id", "in_reply_to_user_id",
                "referenced_tweets", "lang", "public_metrics", "entities"]
USER_FIELDS = ["username", "name", "public_metrics"]
SEARCH_WINDOW = timedelta(days=7)
#: Keep start_time / since_id safely inside the 7-day search window (clock skew, slow pages).
WINDOW_MARGIN = timedelta(minutes=5)


class XSource(BaseSource):
    """`kind = "search"` (GET /2/tweets/search/recent) or `"mentions"`
    (GET /2/users/:id/mentions)."""

    def __init__(self, config: SourceConfig, settings: Settings, **kwargs: Any) -> None:
        own_client = kwargs.get("client") is None
        super().__init__(config, settings, **kwargs)
        if own_client:
            # tweepy's documented `return_type=requests.Response`: the response as it came,
            # whose body `_fetch` decodes with orjson (`_json`), instead of a Tweet and a
            # User object per item that mapping threw away for the very dicts they wrap
            # (`dict` did without those, but decoded with json: ~2.5x orjson's CPU). A
            # client handed in keeps its return type; `_fetch` and `_parts` read all three.
            self.client.return_type = requests.Response
            quiet_response_log(self.client)
        # App-only bearer for reading when we have it; else the user-context keys.
        self.user_auth = settings.x_bearer_token is None
        self.brand_handles = {h.lower() for h in settings.brand.handles}
        self.brand_ids: set[str] = {config.user_id} if config.user_id else set()

    # ---------------------------------------------------------------- polling
    def _start_time(self) -> datetime:
        start = self.now() - timedelta(days=self.config.backfill_days)
        if self.config.kind == "search":
            start = max(start, self.now() - SEARCH_WINDOW + WINDOW_MARGIN)
        return start

    def _params(self, cursor: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "tweet_fields": TWEET_FIELDS, "expansions": ["author_id"],
            "user_fields": USER_FIELDS, "max_results": 100,
        }
        since_id = cursor.get("since_id")
        newest_at = cursor.get("newest_at")
        # X refuses a since_id older than the search window: fall back to a backfill.
        if (since_id and self.config.kind == "search" and newest_at
                and parse_time(newest_at) < self.now() - SEARCH_WINDOW + WINDOW_MARGIN):
            since_id = None
        if since_id:
            params["since_id"] = str(since_id)
        else:
            params["start_time"] = self._start_time()
        if cursor.get("until_id"):
            params["until_id"] = str(cursor["until_id"])
        return params

    def _fetch(self, params: dict[str, Any], token: str | None) -> tweepy.Response | dict[str, Any]:
        """One page, as the client returns it; a `requests.Response` decoded (`_json`) here,
        inside the retried call, where tweepy would decode it with another return type."""
        call = dict(params)
        if self.config.kind == "search":
            if token:
                call["next_token"] = token
            response = self.client.search_recent_tweets(self.config.query,
                                                        user_auth=self.user_auth, **call)
        else:
            if token:
                call["pagination_token"] = token
            response = self.client.get_users_mentions(self.config.user_id,
                                                      user_auth=self.user_auth, **call)
        if isinstance(response, requests.Response):
            return _json(response)
        return response  # type: ignore[no-any-return]

    def poll(self, cursor: dict[str, Any]) -> Iterator[Page]:
        """Every tweet newer than the cursor, page by page, newest first."""
        cursor = dict(cursor or {})
        params = self._params(cursor)
        old_since = params.get("since_id")
        resuming = bool(cursor.get("until_id"))
        newest_of_run: str | None = cursor.get("pending_newest") if resuming else None
        newest_at: str | None = cursor.get("newest_at")
        token: str | None = None
        oldest_read: str | None = None
        while True:
            try:
                response = self.call(lambda p=params, t=token: self._fetch(p, t))
            except PermanentError as exc:
                if token is None and "since_id" in params and "since_id" in str(exc):
                    # The stored since_id fell out of the search window: backfill instead.
                    params.pop("since_id")
                    params["start_time"] = self._start_time()
                    old_since = None
                    continue
                if token is not None and "start_time" in params and "start_time" in str(exc):
                    # A backfill that outlasted the window margin: its start_time has slid
                    # out of the 7 days. Go on below the oldest tweet already read, with a
                    # start_time inside the window (a next_token belongs to the old one).
                    params["start_time"] = self._start_time()
                    params["until_id"] = oldest_read or params.get("until_id")
                    token = None
                    continue
                raise
            tweets, users, meta = _parts(response)
            if tweets and newest_of_run is None:
                # The first page of a fresh run starts with its newest tweet.
                newest_of_run = str(meta.get("newest_id") or tweets[0]["id"])
                newest_at = tweets[0].get("created_at") or newest_at
            to_mention = self._mapper(users)
            mentions = [to_mention(t) for t in tweets]
            if tweets:
                oldest_read = str(meta.get("oldest_id") or tweets[-1]["id"])
            token = meta.get("next_token")
            if token:
                yield Page(mentions, {
                    "since_id": old_since, "pending_newest": newest_of_run,
                    "until_id": str(meta.get("oldest_id") or tweets[-1]["id"]),
                    "newest_at": newest_at,
                })
                if self.should_stop():
                    return  # the stored cursor resumes this run next time
                continue
            final: dict[str, Any] = {"since_id": newest_of_run or old_since}
            if newest_at:
                final["newest_at"] = newest_at
            yield Page(mentions, final)
            return

    # ---------------------------------------------------------------- mapping
    def to_mention(self, tweet: Any, users: Mapping[str, Any]) -> Mention:
        """One tweet as a Mention. A retweet is kept, never dropped: an echo (counted, out
        of the queue) unless the source has `include_retweets = true`, which makes
        retweets ordinary mentions. `tweet` and the `users` (by id) are tweepy's objects or
        the JSON dicts they wrap (`return_type=dict`)."""
        return self._mapper({k: _data(u) for k, u in users.items()})(dict(_data(tweet)))

    def _mapper(self, users: Mapping[str, dict[str, Any]]
                ) -> Callable[[dict[str, Any]], Mention]:
        """`to_mention` for the tweets of one page, whose authors are `users` (JSON dicts by
        id): what every tweet reads of the source is looked up once a page. Each tweet's
        dict becomes its mention's raw payload as it is: the caller hands over dicts of its
        own (`_parts` decodes or copies them)."""
        brand_ids, brand_handles = self.brand_ids, self.brand_handles
        echoes = not self.config.include_retweets
        item_url = X.item_url
        no_user: dict[str, Any] = {}

        def to_mention(data: dict[str, Any]) -> Mention:
            refs = data.get("referenced_tweets")
            # A retweet is marked in referenced_tweets; old-style "RT @user:" text is the
            # same thing when a payload leaves the reference out.
            retweet = (bool(refs) and any(r.get("type") == "retweeted" for r in refs)) or str(
                data.get("text") or "").startswith("RT @")
            tweet_id = str(data["id"])
            author_id = str(data.get("author_id") or "")
            user_data = users.get(author_id, no_user)
            username = user_data.get("username")
            followers = (user_data.get("public_metrics") or {}).get("followers_count")
            is_own = author_id in brand_ids or (
                bool(username) and str(username).lower() in brand_handles)
            parent = next((str(r["id"]) for r in refs if r.get("type") == "replied_to"),
                          None) if refs else None
            metrics = data.get("public_metrics") or {}
            created_at = data.get("created_at")
            created = parse_time(created_at) if created_at else self.now()
            return Mention(
                platform=Platform.X,
                external_id=tweet_id,
                text=data["text"],
                created_at=created,
                author=Author(platform=Platform.X, external_id=author_id, handle=username,
                              name=user_data.get("name"),
                              followers=int(followers) if followers is not None else None),
                thread_id=str(data.get("conversation_id") or tweet_id),
                parent_id=parent,
                url=item_url(tweet_id, username),
                lang=data.get("lang"),
                like_count=int(metrics.get("like_count") or 0),
                reply_count=int(metrics.get("reply_count") or 0),
                repost_count=int(metrics.get("retweet_count") or 0)
                + int(metrics.get("quote_count") or 0),
                is_own=is_own,
                is_echo=retweet and echoes,
                raw=data,
            )

        return to_mention


# ---------------------------------------------------------------- tweepy's response log
_TWEEPY_LOG = logging.getLogger("tweepy.client")


class _LoggedContent(bytes):
    """A response body that an f-string shows in full only while tweepy's debug log is on.

    Why: tweepy's `Client.request` (4.17) builds its "Received API response" debug message
    as an f-string holding `{response.content}` before `log.debug` looks at the level, so
    every page's body (~70 kB for 100 tweets) was turned into its `repr` and thrown away:
    ~0.4 ms a page, a few percent of the fetch worker's CPU. An f-string formats through
    `__format__`, which this overrides; `repr`, `str`, `json` and everything else read the
    very bytes as before. With the `tweepy.client` logger at DEBUG the message is tweepy's,
    unchanged."""

    __slots__ = ()

    def __format__(self, spec: str) -> str:
        if _TWEEPY_LOG.isEnabledFor(logging.DEBUG):
            return format(bytes(self), spec)
        return f"<{len(self)} bytes, shown with the tweepy.client logger at DEBUG>"


def _log_content_lazily(response: requests.Response, *args: Any,
                        **kwargs: Any) -> requests.Response:
    """requests' response hook: the body read now (as requests does right after the hooks
    for a request not streamed, as tweepy's never are) and kept as `_LoggedContent`."""
    if kwargs.get("stream"):
        return response  # read by the caller, bit by bit: nothing to keep
    body = response.content
    if type(body) is bytes:
        # requests keeps the body it read in `_content`, which `.content` returns, and has
        # no setter for it: tests/listener/test_x_client_log.py fails if that changes.
        response._content = _LoggedContent(body)
    return response


def quiet_response_log(client: tweepy.Client) -> None:
    """Keep tweepy's debug log of each response from formatting the body while that log
    is off (`_LoggedContent`), through requests' documented response hook on the client's
    session (the real client and HTTP all the same). tests/listener/test_x_client_log.py
    fails if tweepy or requests stop taking it."""
    hooks = client.session.hooks.setdefault("response", [])
    if _log_content_lazily not in hooks:
        hooks.append(_log_content_lazily)


#: What requests names the encoding of a body that orjson reads as it is (UTF-8).
_UTF8 = frozenset({"utf-8", "utf8"})
#: Digits and `-` made 0 (`_beyond_64_bits`): a run of 20 digits, or `-` and 19, is then
#: found by one search for `_RUN`.
_DIGITS_AS_ZERO = bytes.maketrans(b"-123456789", b"0000000000")
_RUN = b"0" * 20


def _beyond_64_bits(body: bytes) -> bool:
    """Whether the body may hold an integer orjson does not read as json does: orjson turns
    one beyond 64 bits (20 digits and more, or `-` and 19) into a float where json keeps an
    int. Also true for such a run of digits inside a string, or for one mixing `-` and
    digits (a phone number, a date without separators), however rare: then json decodes
    the page, as before. X's ids have 19 digits today. Why `-` is made 0 with the digits:
    one search of the translated body instead of two (~35% of this check's CPU, which
    reads every byte of every page)."""
    return _RUN in body.translate(_DIGITS_AS_ZERO)


def _json(response: requests.Response) -> Any:
    """A page's JSON, as `response.json()` reads it (what tweepy's `return_type=dict` did),
    decoded by orjson (~2.5x faster: a few percent of the fetch worker's CPU a mention).
    Why the same: requests decodes a UTF-8 body (application/json's default) to text and
    json reads that; orjson reads valid UTF-8 to the same values, and raises where it would
    read otherwise (invalid UTF-8, which requests replaces; lone surrogates; NaN and
    infinities; a BOM), as it does for anything that is not JSON: then `response.json()`
    decodes the body, or raises, exactly as before. Integers beyond 64 bits, which orjson
    would read as floats, never reach it (`_beyond_64_bits`)."""
    body = response.content
    encoding = response.encoding
    if body and encoding is not None and encoding.lower() in _UTF8 and not _beyond_64_bits(
            body):
        try:
            # a memoryview: orjson takes no subclass of bytes (`_LoggedContent`)
            return orjson.loads(memoryview(body))
        except orjson.JSONDecodeError:
            pass
    return response.json()


def _data(item: Any) -> dict[str, Any]:
    """A tweepy Tweet's or User's JSON dict (`.data`), or the dict itself."""
    return item if isinstance(item, dict) else item.data


def _parts(response: Any) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]],
                                   dict[str, Any]]:
    """A page's tweets, its authors by id and its meta, as JSON dicts, whether the client
    returned the JSON (`_fetch` decodes it for this source's own client, `return_type=
    requests.Response`; `return_type=dict`) or a `tweepy.Response` (a client handed in).
    The tweets' dicts are the caller's own (the mapper keeps them as raw payloads)."""
    if isinstance(response, dict):
        tweets = list(response.get("data") or [])  # decoded for this page: ours to keep
        includes = response.get("includes") or {}
        meta = dict(response.get("meta") or {})
    else:
        tweets = [dict(t.data) for t in response.data or []]  # the Tweets' own: copied
        includes = response.includes or {}
        meta = dict(response.meta or {})
    users = {str(u["id"]): u for u in map(_data, includes.get("users") or [])}
    return tweets, users, meta


SOURCES: dict[str, type[BaseSource]] = {"search": XSource, "mentions": XSource,
                                         "dms": XDirectMessageSource}
