"""Starlette app emulating the X API v2 and the Graph API (Facebook + Instagram) on one port.

X paths start ``/2/``, Graph paths start ``/vNN.N/`` (an unversioned Graph path works too),
and the control API lives under ``/_sandbox/``.  Everything answers JSON with a
``Content-Type: application/json`` header, because facebook-sdk crashes without one.

Handlers are small synchronous functions over a ``Req`` and return a ``Resp``; one async
endpoint does the shared work (faults, auth, rate limits, request log) so every route
behaves the same way, like the real platforms' front doors do.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.faults import Fault
from sandbox.world import (
    BRAND_NAME,
    BRAND_X_ID,
    FB_PAGE_ID,
    IG_USER_ID,
    IG_USERNAME,
    MENTIONS_CAP,
    PRIVATE_REPLY_WINDOW_SECONDS,
    SEARCH_WINDOW_SECONDS,
    FBComment,
    FBPost,
    IGComment,
    IGMedia,
    Tweet,
    World,
    XUser,
    iso_graph,
    iso_x,
    parse_time,
)

JSON = "application/json"
_trace_ids = itertools.count(1)


@dataclass
class Req:
    """The parts of an HTTP request the handlers need (already parsed)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    base_url: str
    params: dict[str, str] = field(default_factory=dict)
    token: str | None = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        """A parameter from the query string or a form/JSON body (Graph accepts both)."""
        if name in self.query:
            return self.query[name]
        if isinstance(self.body, dict) and name in self.body:
            value = self.body[name]
            return value if isinstance(value, str) else json.dumps(value)
        return default


@dataclass
class Resp:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | None = None


class ApiError(Exception):
    """Raised by handlers to answer with an error body and status."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


# =========================================================================== X API v2
def x_problem(status: int, title: str, detail: str,
              type_: str = "about:blank", **extra: Any) -> ApiError:
    return ApiError(status, {"title": title, "detail": detail, "type": type_,
                             "status": status, **extra})


def x_invalid(parameter: str, value: Any, message: str) -> ApiError:
    """X's 400 for a bad parameter (tweepy reads ``errors[].message``)."""
    return ApiError(400, {
        "errors": [{"parameters": {parameter: [str(value)]}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    })


X_UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401,
                  "detail": "Unauthorized"}
X_TOO_MANY = {"title": "Too Many Requests", "detail": "Too Many Requests",
              "type": "about:blank", "status": 429}


def _csv(value: str | None) -> set[str]:
    return {v.strip() for v in (value or "").split(",") if v.strip()}


def _int_param(req: Req, name: str, default: int, low: int, high: int) -> int:
    raw = req.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise x_invalid(name, raw,
                        f"The `{name}` query parameter value [{raw}] is not a number") from None
    if not low <= value <= high:
        raise x_invalid(name, raw, f"The `{name}` query parameter value [{raw}] is not between "
                                   f"{low} and {high}")
    return value


def _encode_token(tweet_id: int) -> str:
    return base64.b32encode(f"t{tweet_id}".encode()).decode().rstrip("=").lower()


def _decode_token(name: str, token: str) -> int:
    try:
        padded = token.upper() + "=" * (-len(token) % 8)
        raw = base64.b32decode(padded).decode()
        if not raw.startswith("t"):
            raise ValueError(raw)
        return int(raw[1:])
    except (ValueError, UnicodeDecodeError):
        raise x_invalid(name, token,
                        f"The `{name}` query parameter value [{token}] is invalid") from None


# ---- the search query language -------------------------------------------------------
_TOKEN_RE = re.compile(r'\s*(-?"[^"]*"|-?\(|\)|[^\s()]+)')
_KNOWN_OPS = {"from", "to", "conversation_id", "is", "lang", "has", "retweets_of", "url"}

Pred = Callable[[Tweet, World], bool]


def _word_re(word: str) -> re.Pattern[str]:
    prefix = r"(?<![\w@#])" if word[:1].isalnum() or word[:1] in "@#_" else ""
    suffix = r"(?!\w)" if word[-1:].isalnum() or word[-1:] == "_" else ""
    return re.compile(prefix + re.escape(word) + suffix, re.IGNORECASE)


def _term(token: str) -> Pred:
    """One search term (operator, phrase, mention, hashtag or word) as a predicate."""
    if token.startswith('"'):
        phrase = token.strip('"').lower()
        return lambda t, w: phrase in t.text.lower()
    if ":" in token and not token.startswith(("@", "#")) and re.match(r"^[a-z_]+:", token):
        op, _, value = token.partition(":")
        if op not in _KNOWN_OPS:
            raise x_invalid("query", token, f"There were errors processing your request: "
                                            f"Reference to invalid operator '{op}'")
        low = value.lower().lstrip("@")
        if op == "from":
            return lambda t, w: (t.author_id == value
                                 or w.x_users[t.author_id].username.lower() == low)
        if op == "to":
            def to_pred(t: Tweet, w: World) -> bool:
                if t.in_reply_to_user_id is None:
                    return False
                user = w.x_users.get(t.in_reply_to_user_id)
                return t.in_reply_to_user_id == value or bool(user and user.username.lower()
                                                               == low)
            return to_pred
        if op == "conversation_id":
            return lambda t, w: str(t.conversation_id) == value
        if op == "lang":
            return lambda t, w: t.lang == low
        if op == "retweets_of":
            return lambda t, w: t.is_retweet and t.text.lower().startswith(f"rt @{low}:")
        if op == "url":
            return lambda t, w: low in t.text.lower()
        if op == "is":
            checks: dict[str, Pred] = {
                "retweet": lambda t, w: t.is_retweet,
                "reply": lambda t, w: t.in_reply_to_tweet_id is not None,
                "quote": lambda t, w: t.quoted_id is not None,
                "verified": lambda t, w: w.x_users[t.author_id].followers >= 100_000,
            }
            if low not in checks:
                raise x_invalid("query", token, f"Reference to invalid operator 'is:{value}'")
            return checks[low]
        if op == "has":
            has: dict[str, Pred] = {
                "links": lambda t, w: "http://" in t.text or "https://" in t.text,
                "mentions": lambda t, w: bool(re.search(r"@\w", t.text)),
                "hashtags": lambda t, w: bool(re.search(r"#\w", t.text)),
                "media": lambda t, w: False,
            }
            if low not in has:
                raise x_invalid("query", token, f"Reference to invalid operator 'has:{value}'")
            return has[low]
    pattern = _word_re(token)
    return lambda t, w: bool(pattern.search(t.text))


class _QueryParser:
    """Recursive descent: OR binds looser than the implicit AND, ``-`` negates a term/group."""

    def __init__(self, query: str) -> None:
        self.tokens = [m.group(1) for m in _TOKEN_RE.finditer(query) if m.group(1).strip()]
        self.pos = 0

    def parse(self) -> Pred:
        if not self.tokens:
            raise x_invalid("query", "", "The `query` query parameter can not be empty")
        pred = self._or()
        if self.pos != len(self.tokens):
            raise x_invalid("query", " ".join(self.tokens), "There were errors processing your "
                            "request: unbalanced parentheses")
        return pred

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _or(self) -> Pred:
        parts = [self._and()]
        while self._peek() == "OR":
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda t, w: any(p(t, w) for p in parts))

    def _and(self) -> Pred:
        parts: list[Pred] = []
        while (tok := self._peek()) is not None and tok not in (")", "OR"):
            parts.append(self._unary())
        if not parts:
            raise x_invalid("query", " ".join(self.tokens), "There were errors processing "
                            "your request: empty group or dangling OR")
        return parts[0] if len(parts) == 1 else (lambda t, w: all(p(t, w) for p in parts))

    def _unary(self) -> Pred:
        tok = self.tokens[self.pos]
        self.pos += 1
        if tok in ("(", "-("):
            inner = self._or()
            if self._peek() != ")":
                raise x_invalid("query", " ".join(self.tokens), "There were errors processing "
                                "your request: unbalanced parentheses")
            self.pos += 1
            return (lambda t, w: not inner(t, w)) if tok == "-(" else inner
        if tok.startswith("-") and len(tok) > 1:
            inner_term = _term(tok[1:])
            return lambda t, w: not inner_term(t, w)
        return _term(tok)


def compile_query(query: str) -> Pred:
    """Compile an X search query into a predicate over tweets."""
    return _QueryParser(query).parse()


# ---- serialisation ---------------------------------------------------------------------
def _mention_entities(text: str, world: World) -> list[dict[str, Any]]:
    out = []
    for m in re.finditer(r"(?<![\w@])@(\w{1,15})", text):
        entry: dict[str, Any] = {"start": m.start(), "end": m.end(), "username": m.group(1)}
        user = world.find_x_user(m.group(1))
        if user:
            entry["id"] = user.id
        out.append(entry)
    return out


def tweet_to_api(t: Tweet, fields: set[str], world: World) -> dict[str, Any]:
    data: dict[str, Any] = {"id": str(t.id), "text": t.text,
                            "edit_history_tweet_ids": [str(t.id)]}
    if "author_id" in fields:
        data["author_id"] = t.author_id
    if "created_at" in fields:
        data["created_at"] = iso_x(t.created_at)
    if "conversation_id" in fields:
        data["conversation_id"] = str(t.conversation_id)
    if "in_reply_to_user_id" in fields and t.in_reply_to_user_id:
        data["in_reply_to_user_id"] = t.in_reply_to_user_id
    if "referenced_tweets" in fields and t.referenced():
        data["referenced_tweets"] = t.referenced()
    if "lang" in fields:
        data["lang"] = t.lang
    if "public_metrics" in fields:
        data["public_metrics"] = {"retweet_count": t.retweet_count,
                                  "reply_count": t.reply_count,
                                  "like_count": t.like_count, "quote_count": t.quote_count,
                                  "bookmark_count": 0, "impression_count": t.like_count * 40}
    if "entities" in fields:
        mentions = _mention_entities(t.text, world)
        if mentions:
            data["entities"] = {"mentions": mentions}
    if "possibly_sensitive" in fields:
        data["possibly_sensitive"] = False
    if "reply_settings" in fields:
        data["reply_settings"] = "everyone"
    if "source" in fields:
        data["source"] = "Twitter for iPhone"
    return data


def tweets_payload(tweets: list[Tweet], req: Req, world: World) -> dict[str, Any]:
    """``data`` plus ``includes`` for the requested expansions."""
    fields = _csv(req.query.get("tweet.fields"))
    user_fields = _csv(req.query.get("user.fields"))
    expansions = _csv(req.query.get("expansions"))
    out: dict[str, Any] = {"data": [tweet_to_api(t, fields, world) for t in tweets]}
    user_ids: list[str] = []
    inc_tweets: list[Tweet] = []
    for t in tweets:
        if "author_id" in expansions:
            user_ids.append(t.author_id)
        if "in_reply_to_user_id" in expansions and t.in_reply_to_user_id:
            user_ids.append(t.in_reply_to_user_id)
        if "entities.mentions.username" in expansions:
            user_ids += [m["id"] for m in _mention_entities(t.text, world) if "id" in m]
        if "referenced_tweets.id" in expansions or "referenced_tweets.id.author_id" in expansions:
            for ref in t.referenced():
                ref_tweet = world.tweets.get(int(ref["id"]))
                if ref_tweet and not ref_tweet.deleted:
                    inc_tweets.append(ref_tweet)
                    if "referenced_tweets.id.author_id" in expansions:
                        user_ids.append(ref_tweet.author_id)
    includes: dict[str, Any] = {}
    if user_ids:
        seen = dict.fromkeys(user_ids)
        includes["users"] = [world.x_users[u].to_api(user_fields) for u in seen
                             if u in world.x_users]
    if inc_tweets:
        uniq = {t.id: t for t in inc_tweets}
        includes["tweets"] = [tweet_to_api(t, fields, world) for t in uniq.values()]
    if includes:
        out["includes"] = includes
    return out


def _time_param(req: Req, name: str) -> float | None:
    raw = req.query.get(name)
    if raw is None:
        return None
    try:
        return parse_time(raw)
    except ValueError:
        raise x_invalid(name, raw, f"Invalid '{name}':'{raw}'. '{name}' must be a valid "
                                   "RFC 3339 date-time") from None


def _timeline(req: Req, world: World, tweets: list[Tweet], *, token_param: str,
              low: int, high: int) -> dict[str, Any]:
    """Apply since/until/time filters and id-based pagination to newest-first tweets."""
    max_results = _int_param(req, "max_results", 10, low, high)
    since_id = req.query.get("since_id")
    until_id = req.query.get("until_id")
    start = _time_param(req, "start_time")
    end = _time_param(req, "end_time")
    if start is not None and end is not None and start >= end:
        raise x_invalid("start_time", req.query["start_time"],
                        "Invalid 'start_time':'start_time' must be before 'end_time'")
    try:
        since = int(since_id) if since_id else None
        until = int(until_id) if until_id else None
    except ValueError:
        raise x_invalid("since_id", since_id or until_id, "Invalid 'since_id'/'until_id'") from None
    token = req.query.get(token_param)
    before = _decode_token(token_param, token) if token else None
    selected = [
        t for t in tweets
        if (since is None or t.id > since) and (until is None or t.id < until)
        and (start is None or t.created_at >= start) and (end is None or t.created_at < end)
        and (before is None or t.id < before)
    ]
    page = selected[:max_results]
    if not page:
        return {"meta": {"result_count": 0}}
    payload = tweets_payload(page, req, world)
    meta: dict[str, Any] = {"newest_id": str(page[0].id), "oldest_id": str(page[-1].id),
                            "result_count": len(page)}
    if len(selected) > max_results:
        meta["next_token"] = _encode_token(page[-1].id)
    if before is not None:
        meta["previous_token"] = _encode_token(page[0].id + 1)
    payload["meta"] = meta
    return payload


def x_search(req: Req, world: World) -> Resp:
    query = req.query.get("query")
    if not query:
        raise x_invalid("query", "", "The `query` query parameter can not be empty")
    if len(query) > 512:
        raise x_invalid("query", query[:40], "The `query` query parameter value is too long "
                        "(512 characters maximum)")
    pred = compile_query(query)
    now = world.now()
    oldest = now - SEARCH_WINDOW_SECONDS
    with world.lock:
        start = _time_param(req, "start_time")
        if start is not None and start < oldest - 60:
            raise x_invalid("start_time", req.query["start_time"],
                            f"Invalid 'start_time':'{req.query['start_time']}'. 'start_time' "
                            f"must be on or after {iso_x(oldest)}")
        since_id = req.query.get("since_id")
        if since_id and since_id.isdigit():
            ref = world.tweets.get(int(since_id))
            if ref is not None and ref.created_at < oldest:
                raise x_invalid("since_id", since_id,
                                f"Invalid 'since_id':'{since_id}'. 'since_id' must be a tweet "
                                f"id created after {iso_x(oldest)}. Please use a 'since_id' "
                                "that is larger than the oldest tweet in the window")
        tweets = [t for t in world.visible_tweets()
                  if oldest <= t.created_at <= now + 5 and pred(t, world)]
        return Resp(200, _timeline(req, world, tweets, token_param="next_token", low=10,
                                   high=100))


def _user_not_found(value: str, parameter: str = "id") -> dict[str, Any]:
    return {"errors": [{
        "value": value, "detail": f"Could not find user with {parameter}: [{value}].",
        "title": "Not Found Error", "resource_type": "user", "parameter": parameter,
        "resource_id": value, "type": "https://api.twitter.com/2/problems/resource-not-found",
    }]}


def _tweet_not_found(value: str) -> dict[str, Any]:
    return {"value": value, "detail": f"Could not find tweet with id: [{value}].",
            "title": "Not Found Error", "resource_type": "tweet", "parameter": "id",
            "resource_id": value,
            "type": "https://api.twitter.com/2/problems/resource-not-found"}


def x_mentions(req: Req, world: World) -> Resp:
    with world.lock:
        user = world.x_users.get(req.params["id"])
        if user is None:
            return Resp(200, _user_not_found(req.params["id"]))
        pattern = _word_re("@" + user.username)
        mentions = [t for t in world.visible_tweets()
                    if t.author_id != user.id and pattern.search(t.text)][:MENTIONS_CAP]
        return Resp(200, _timeline(req, world, mentions, token_param="pagination_token",
                                   low=5, high=100))


def _user_context_id(req: Req, world: World) -> str:
    """The acting user: tweepy's OAuth1 token is ``<user id>-<secret>``; default the brand."""
    auth = req.headers.get("authorization", "")
    m = re.search(r'oauth_token="(\d+)-', auth)
    if m and m.group(1) in world.x_users:
        return m.group(1)
    return BRAND_X_ID


def x_me(req: Req, world: World) -> Resp:
    user = world.x_users[_user_context_id(req, world)]
    return Resp(200, {"data": user.to_api(_csv(req.query.get("user.fields")))})


def x_user(req: Req, world: World) -> Resp:
    user = world.x_users.get(req.params["id"])
    if user is None:
        return Resp(200, _user_not_found(req.params["id"]))
    return Resp(200, {"data": user.to_api(_csv(req.query.get("user.fields")))})


def x_user_by_name(req: Req, world: World) -> Resp:
    user = world.find_x_user(req.params["username"])
    if user is None:
        return Resp(200, _user_not_found(req.params["username"], "username"))
    return Resp(200, {"data": user.to_api(_csv(req.query.get("user.fields")))})


def x_users(req: Req, world: World) -> Resp:
    ids = [i for i in (req.query.get("ids") or "").split(",") if i]
    if not ids:
        raise x_invalid("ids", "", "The `ids` query parameter can not be empty")
    fields = _csv(req.query.get("user.fields"))
    data = [world.x_users[i].to_api(fields) for i in ids if i in world.x_users]
    out: dict[str, Any] = {"data": data} if data else {}
    missing = [i for i in ids if i not in world.x_users]
    if missing:
        out["errors"] = [_user_not_found(i)["errors"][0] for i in missing]
    return Resp(200, out)


def _lookup_tweets(ids: list[str], req: Req, world: World) -> dict[str, Any]:
    with world.lock:
        found = []
        missing = []
        for i in ids:
            t = world.tweets.get(int(i)) if i.isdigit() else None
            if t is None or t.deleted:
                missing.append(i)
            else:
                found.append(t)
        out: dict[str, Any] = tweets_payload(found, req, world) if found else {}
        if missing:
            out["errors"] = [_tweet_not_found(i) for i in missing]
        return out


def x_tweet(req: Req, world: World) -> Resp:
    out = _lookup_tweets([req.params["id"]], req, world)
    if "data" in out:
        out["data"] = out["data"][0]
    return Resp(200, out)


def x_tweets(req: Req, world: World) -> Resp:
    ids = [i for i in (req.query.get("ids") or "").split(",") if i]
    if not ids or len(ids) > 100:
        raise x_invalid("ids", req.query.get("ids", ""), "The `ids` query parameter value must "
                        "hold between 1 and 100 ids")
    return Resp(200, _lookup_tweets(ids, req, world))


def weighted_length(text: str) -> int:
    """X's weighted length (URLs count 23, CJK 2) via twitter-text-parser when installed."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from twitter_text import parse_tweet
        return int(parse_tweet(text).weightedLength)
    except Exception:  # library missing or failing: plain length is a fair stand-in
        return len(text)


def x_create_tweet(req: Req, world: World) -> Resp:
    body = req.body if isinstance(req.body, dict) else {}
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise x_invalid("text", text, "The `text` field is required and can not be empty")
    if weighted_length(text) > 280:
        raise ApiError(400, {
            "errors": [{"parameters": {"text": [text[:40]]},
                        "message": "Your Tweet text is too long. For more information on how "
                                   "Twitter determines text length see "
                                   "https://github.com/twitter/twitter-text."}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request"})
    reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
    with world.lock:
        if reply_to is not None:
            parent = world.tweets.get(int(reply_to)) if str(reply_to).isdigit() else None
            if parent is None or parent.deleted:
                raise x_problem(400, "Invalid Request",
                                "You attempted to reply to a Tweet that is deleted or not "
                                "visible to you.",
                                "https://api.twitter.com/2/problems/invalid-request")
        author = world.x_users[_user_context_id(req, world)]
        tweet = world.add_tweet(text, author, in_reply_to=reply_to,
                                quote_of=body.get("quote_tweet_id"))
        world.record_sent("x_reply" if reply_to else "x_tweet", platform="x", id=str(tweet.id),
                          text=text, in_reply_to=str(reply_to) if reply_to else None,
                          conversation_id=str(tweet.conversation_id), author_id=author.id)
    return Resp(201, {"data": {"id": str(tweet.id), "text": text,
                               "edit_history_tweet_ids": [str(tweet.id)]}})


def x_delete_tweet(req: Req, world: World) -> Resp:
    with world.lock:
        tweet = world.tweets.get(int(req.params["id"]))
        if tweet is None or tweet.author_id != _user_context_id(req, world):
            raise x_problem(403, "Forbidden", "You are not allowed to delete this Tweet.")
        tweet.deleted = True
        world.record_sent("x_delete", platform="x", id=str(tweet.id), text=None)
    return Resp(200, {"data": {"deleted": True}})


#: ``dm_event.fields`` X accepts (the sandbox fills id, event_type, text, sender_id,
#: dm_conversation_id and created_at; the others are accepted and have no value here).
DM_EVENT_FIELDS = ("attachments", "created_at", "dm_conversation_id", "event_type", "id",
                   "participant_ids", "referenced_tweets", "sender_id", "text")
DM_EVENT_TYPES = ("MessageCreate", "ParticipantsJoin", "ParticipantsLeave")


def _require_user_context(req: Req) -> None:
    """DM endpoints act for a user: an app-only bearer token is refused with X's 403."""
    if not req.headers.get("authorization", "").lower().startswith("oauth "):
        raise x_problem(
            403, "Unsupported Authentication",
            "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  "
            "Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User "
            "Context].", "https://api.twitter.com/2/problems/unsupported-authentication")


def _enum_csv(req: Req, name: str, allowed: tuple[str, ...]) -> set[str]:
    values = _csv(req.query.get(name))
    for value in sorted(values):
        if value not in allowed:
            raise x_invalid(name, value, f"The `{name}` query parameter value [{value}] is not "
                                         f"one of [{','.join(allowed)}]")
    return values


def x_dm_events(req: Req, world: World) -> Resp:
    """``GET /2/dm_conversations/with/:participant_id/dm_events``: the acting user's 1-1
    conversation, newest first, paged by an opaque ``pagination_token``."""
    _require_user_context(req)
    if not world.x_dm_lookup:
        raise ApiError(403, {
            "client_id": "sandbox", "required_enrollment": "Appropriate Level of API Access",
            "registration_url": "https://developer.x.com/en/portal/product",
            "title": "Client Forbidden", "reason": "client-not-enrolled",
            "detail": "When authenticating requests to the Twitter API v2 endpoints, you must "
                      "use keys and tokens from a Twitter developer App that is attached to a "
                      "Project. You can create a project via the developer portal.",
            "type": "https://api.twitter.com/2/problems/client-forbidden"})
    fields = _enum_csv(req, "dm_event.fields", DM_EVENT_FIELDS)
    types = _enum_csv(req, "event_types", DM_EVENT_TYPES)
    max_results = _int_param(req, "max_results", 100, 1, 100)
    token = req.query.get("pagination_token")
    before = _decode_token("pagination_token", token) if token else None
    with world.lock:
        events = world.dm_conversation(_user_context_id(req, world), req.params["id"])
    selected = [e for e in events if (not types or e.event_type in types)
                and (before is None or e.id < before)]
    page = selected[:max_results]
    if not page:
        return Resp(200, {"meta": {"result_count": 0}})
    meta: dict[str, Any] = {"result_count": len(page)}
    if len(selected) > max_results:
        meta["next_token"] = _encode_token(page[-1].id)
    return Resp(200, {"data": [e.to_api(fields) for e in page], "meta": meta})


def x_dm(req: Req, world: World) -> Resp:
    _require_user_context(req)
    body = req.body if isinstance(req.body, dict) else {}
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise x_invalid("text", text, "The `text` field is required and can not be empty")
    if len(text) > 10_000:
        raise x_invalid("text", text[:40], "The `text` field is too long (10000 maximum)")
    participant = req.params["id"]
    with world.lock:
        user = world.x_users.get(participant)
        if user is None:
            raise x_invalid("participant_id", participant,
                            f"The `participant_id` [{participant}] is not a valid user")
        if not user.dms_open:
            raise x_problem(403, "Forbidden",
                            "You are not permitted to send a message to this user.",
                            "https://api.twitter.com/2/problems/dm-permissions")
        event = world.add_dm(_user_context_id(req, world), participant, text)
        world.record_sent("x_dm", platform="x", id=str(event.id), text=text,
                          participant_id=participant, sender_id=event.sender_id,
                          dm_conversation_id=event.conversation_id)
    return Resp(201, {"data": {"dm_conversation_id": event.conversation_id,
                               "dm_event_id": str(event.id)}})


X_ROUTES: list[tuple[str, re.Pattern[str], str, Callable[[Req, World], Resp]]] = [
    ("GET", re.compile(r"^/2/tweets/search/recent$"), "search", x_search),
    ("GET", re.compile(r"^/2/users/me$"), "users_me", x_me),
    ("GET", re.compile(r"^/2/users/by/username/(?P<username>\w+)$"), "users", x_user_by_name),
    ("GET", re.compile(r"^/2/users/(?P<id>\d+)/mentions$"), "mentions", x_mentions),
    ("GET", re.compile(r"^/2/users/(?P<id>\d+)$"), "users", x_user),
    ("GET", re.compile(r"^/2/users$"), "users", x_users),
    ("GET", re.compile(r"^/2/tweets/(?P<id>\d+)$"), "tweets_lookup", x_tweet),
    ("GET", re.compile(r"^/2/tweets$"), "tweets_lookup", x_tweets),
    ("POST", re.compile(r"^/2/tweets$"), "tweets_create", x_create_tweet),
    ("DELETE", re.compile(r"^/2/tweets/(?P<id>\d+)$"), "tweets_create", x_delete_tweet),
    ("POST", re.compile(r"^/2/dm_conversations/with/(?P<id>\d+)/messages$"), "dm", x_dm),
    ("GET", re.compile(r"^/2/dm_conversations/with/(?P<id>\d+)/dm_events$"), "dm_lookup",
     x_dm_events),
]


def _x_route(req: Req) -> tuple[str, Callable[[Req, World], Resp]] | None:
    for method, pattern, key, handler in X_ROUTES:
        m = pattern.match(req.path)
        if m and method == req.method:
            req.params = m.groupdict()
            return key, handler
    return None


def _rate_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {"x-rate-limit-limit": str(limit), "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(reset)}


def _x_token(req: Req) -> str | None:
    auth = req.headers.get("authorization", "").strip()
    if auth.lower().startswith("bearer "):
        token = auth[7:].strip()
        return token if token and token != "None" else None
    if auth.lower().startswith("oauth "):
        m = re.search(r'oauth_token="([^"]*)"', auth)
        return m.group(1) if m else "oauth1-app"
    return None


def handle_x(req: Req, world: World, fault: Fault | None) -> Resp:
    """Faults, auth, rate limit, then the endpoint; every answer carries rate headers."""
    route = _x_route(req)
    key = route[0] if route else "other"
    if fault is not None and fault.kind == "revoked":
        world.revoke("x")
    if fault is not None and fault.kind == "429":
        d = world.x_block(key, fault.reset_after)
        return Resp(429, dict(X_TOO_MANY), _rate_headers(d.limit, 0, d.reset))
    decision = world.x_rate(key, consume=False)
    headers = _rate_headers(decision.limit, decision.remaining, decision.reset)
    if fault is not None and fault.kind in ("500", "502", "503"):
        status = int(fault.kind)
        titles = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        return Resp(status, {"title": titles[status], "detail": titles[status],
                             "type": "about:blank", "status": status}, headers)
    if fault is not None and fault.kind == "malformed":
        return Resp(200, None, headers, raw='{"data": [')
    token = _x_token(req)
    if token is None or world.is_revoked("x", token):
        return Resp(401, dict(X_UNAUTHORIZED), headers)
    if route is None:
        return Resp(404, {"title": "Not Found Error", "type": "about:blank", "status": 404,
                          "detail": f"Sorry, that page does not exist: {req.method} {req.path}"},
                    headers)
    decision = world.x_rate(key)
    headers = _rate_headers(decision.limit, decision.remaining, decision.reset)
    if not decision.allowed:
        return Resp(429, dict(X_TOO_MANY), headers)
    try:
        resp = route[1](req, world)
    except ApiError as exc:
        resp = Resp(exc.status, exc.body)
    resp.headers.update(headers)
    return resp


# =========================================================================== Graph API
def graph_error(status: int, message: str, code: int, *, type_: str = "OAuthException",
                subcode: int | None = None, transient: bool = False) -> ApiError:
    err: dict[str, Any] = {"message": message, "type": type_, "code": code}
    if subcode is not None:
        err["error_subcode"] = subcode
    err["is_transient"] = transient
    err["fbtrace_id"] = f"ASbx{next(_trace_ids):08d}"
    return ApiError(status, {"error": err})


def _no_object(object_id: str, method: str = "get") -> ApiError:
    return graph_error(400, f"Unsupported {method} request. Object with ID '{object_id}' does "
                       "not exist, cannot be loaded due to missing permissions, or does not "
                       "support this operation. Please read the Graph API documentation at "
                       "https://developers.facebook.com/docs/graph-api", 100,
                       type_="GraphMethodException", subcode=33)


def parse_fields(spec: str | None) -> dict[str, Any] | None:
    """Parse ``a,b{c,d},e.limit(5){f}`` into ``{"a": None, "b": {...}, "e": {...}}``."""
    if not spec:
        return None
    pos = 0

    def parse_list() -> dict[str, Any]:
        nonlocal pos
        out: dict[str, Any] = {}
        while pos < len(spec):
            m = re.compile(r"\s*([A-Za-z_][\w]*)").match(spec, pos)
            if not m:
                break
            name = m.group(1)
            pos = m.end()
            while pos < len(spec) and spec[pos] == ".":  # modifiers like .limit(0)
                close = spec.find(")", pos)
                pos = close + 1 if close != -1 else len(spec)
            sub = None
            if pos < len(spec) and spec[pos] == "{":
                pos += 1
                sub = parse_list()
                if pos < len(spec) and spec[pos] == "}":
                    pos += 1
            out[name] = sub
            while pos < len(spec) and spec[pos] in ", ":
                pos += 1
            if pos < len(spec) and spec[pos] == "}":
                break
        return out

    return parse_list()


def select_fields(full: dict[str, Any], requested: dict[str, Any] | None, default: list[str],
                  node_type: str) -> dict[str, Any]:
    """Keep the requested fields (id always); unknown names are Graph's error #100."""
    wanted = requested if requested is not None else dict.fromkeys(default)
    out: dict[str, Any] = {}
    for name, sub in wanted.items():
        if name not in full:
            raise graph_error(400, f"(#100) Tried accessing nonexisting field ({name}) on node "
                              f"type ({node_type})", 100)
        value = full[name]
        if value is None:
            continue
        if sub and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k in sub}
        out[name] = value
    if "id" in full and "id" not in out:
        out = {"id": full["id"], **out}
    return out


def _fb_from(obj_id: str, name: str) -> dict[str, str]:
    return {"id": obj_id, "name": name}


def fb_post_full(p: FBPost, world: World) -> dict[str, Any]:
    comments = [c for c in world.fb_comments.values() if c.post_id == p.id and not c.deleted]
    return {
        "id": p.id, "message": p.message, "created_time": iso_graph(p.created),
        "updated_time": iso_graph(p.created), "from": _fb_from(p.from_id, p.from_name),
        "permalink_url": f"https://www.facebook.com/{p.id.replace('_', '/posts/')}",
        "is_published": True, "status_type": "mobile_status_update" if p.by_page
        else "wall_post", "story": None,
        "comments_count": len(comments),
        "shares": {"count": 0} if not p.by_page else {"count": len(comments) // 3},
    }


def fb_comment_full(c: FBComment, world: World) -> dict[str, Any]:
    replies = [r for r in world.fb_comments.values() if r.parent_id == c.id and not r.deleted]
    parent = world.fb_comments.get(c.parent_id) if c.parent_id else None
    window_ok = world.now() - c.created <= PRIVATE_REPLY_WINDOW_SECONDS
    post_num = c.post_id.split("_", 1)[1]
    return {
        "id": c.id, "message": c.message, "created_time": iso_graph(c.created),
        "from": _fb_from(c.from_id, c.from_name),
        "parent": {"id": parent.id, "message": parent.message,
                   "created_time": iso_graph(parent.created),
                   "from": _fb_from(parent.from_id, parent.from_name)} if parent else None,
        "comment_count": len(replies), "like_count": c.like_count,
        "can_reply_privately": (c.from_id != FB_PAGE_ID and not c.private_replied
                                and window_ok),
        "permalink_url": f"https://www.facebook.com/{FB_PAGE_ID}/posts/{post_num}"
                         f"?comment_id={c.id.split('_', 1)[1]}",
        "is_hidden": False, "can_comment": c.parent_id is None, "can_like": True,
        "can_remove": True, "can_hide": c.from_id != FB_PAGE_ID, "user_likes": False,
        "message_tags": None, "attachment": None,
        "object": {"id": c.post_id},
    }


def ig_media_full(m: IGMedia, world: World) -> dict[str, Any]:
    comments = [c for c in world.ig_comments.values() if c.media_id == m.id and not c.deleted]
    return {
        "id": m.id, "caption": m.caption, "timestamp": iso_graph(m.created),
        "permalink": f"https://www.instagram.com/p/SBX{m.id[-8:]}/",
        "comments_count": len(comments), "like_count": 10 + len(comments) * 7,
        "media_type": m.media_type, "media_product_type": "FEED",
        "media_url": f"https://scontent.cdninstagram.com/sandbox/{m.id}.jpg",
        "username": m.username, "owner": {"id": m.owner_id}, "is_comment_enabled": True,
        "shortcode": f"SBX{m.id[-8:]}",
    }


def ig_comment_full(c: IGComment, world: World) -> dict[str, Any]:
    replies = [r for r in world.ig_comments.values() if r.parent_id == c.id and not r.deleted]
    return {
        "id": c.id, "text": c.text, "timestamp": iso_graph(c.created), "username": c.username,
        "from": {"id": c.from_id, "username": c.username}, "like_count": c.like_count,
        "replies_count": len(replies), "parent_id": c.parent_id,
        "media": {"id": c.media_id, "media_product_type": "FEED"}, "hidden": False,
    }


def page_full(world: World) -> dict[str, Any]:
    return {"id": FB_PAGE_ID, "name": BRAND_NAME, "username": "acmeair", "fan_count": 182_400,
            "followers_count": 190_118, "link": "https://www.facebook.com/acmeair",
            "category": "Airline Company", "instagram_business_account": {"id": IG_USER_ID},
            "access_token": None}


def ig_user_full(world: World) -> dict[str, Any]:
    return {"id": IG_USER_ID, "username": IG_USERNAME, "name": BRAND_NAME,
            "followers_count": 88_300, "follows_count": 120,
            "media_count": sum(not m.tagged for m in world.ig_media.values()),
            "biography": "Fly better. Help: DM us.", "ig_id": 4000000001,
            "profile_picture_url": "https://scontent.cdninstagram.com/sandbox/acmeair.jpg",
            "website": "https://acme-air.example"}


def _cursor(item: Any) -> str:
    return base64.urlsafe_b64encode(f"{item.created:.3f}:{item.seq}".encode()).decode()


def _decode_cursor(raw: str) -> tuple[float, int]:
    try:
        created, seq = base64.urlsafe_b64decode(raw.encode() + b"==").decode().split(":")
        return float(created), int(seq)
    except (ValueError, UnicodeDecodeError):
        raise graph_error(400, "(#100) Invalid cursor", 100) from None


def graph_page(items: list[Any], req: Req, *, descending: bool, default_limit: int = 25,
               max_limit: int = 100, serialize: Callable[[Any], dict[str, Any]],
               extra: dict[str, Any] | None = None, time_based: bool = False) -> dict[str, Any]:
    """Cursor paging; ``next`` is a full URL with ``access_token`` (facebook-sdk needs it).

    With ``time_based`` (a page's feed, as on the real Graph API) there are no ``cursors``:
    ``next`` carries ``until`` and a ``__paging_token`` that marks the last item shown."""
    try:
        limit = int(req.arg("limit") or default_limit)
    except ValueError:
        limit = default_limit
    limit = max(1, min(limit, max_limit))

    def key(it: Any) -> tuple[float, int]:
        return (round(it.created, 3), it.seq)

    def after_of(ck: tuple[float, int], it: Any) -> bool:
        return key(it) < ck if descending else key(it) > ck

    since, until = req.arg("since"), req.arg("until")
    try:
        if since:
            lo = parse_time(since)
            items = [it for it in items if it.created >= lo]
        if until:
            hi = parse_time(until)
            items = [it for it in items if it.created <= hi]
    except ValueError:
        raise graph_error(400, "(#100) The since/until parameter is not a valid time",
                          100) from None
    after, before = req.arg("after") or req.arg("__paging_token"), req.arg("before")
    if after:
        ck = _decode_cursor(after)
        items = [it for it in items if after_of(ck, it)]
        page, more, has_prev = items[:limit], len(items) > limit, True
    elif before:
        ck = _decode_cursor(before)
        earlier = [it for it in items if not after_of(ck, it) and key(it) != ck]
        page, more, has_prev = earlier[-limit:], True, len(earlier) > limit
    else:
        page, more, has_prev = items[:limit], len(items) > limit, False
    out: dict[str, Any] = {"data": [serialize(it) for it in page]}
    if page:
        paging: dict[str, Any] = {"cursors": {"before": _cursor(page[0]),
                                              "after": _cursor(page[-1])}}
        base_q = {k: v for k, v in req.query.items()
                  if k not in ("after", "before", "__paging_token", "until")}
        base_q["access_token"] = req.token or ""
        base_q["limit"] = str(limit)
        url = f"{req.base_url}{req.path}?"
        if time_based:
            paging = {}
            if more:
                paging["next"] = url + urlencode({
                    **base_q, "until": str(int(page[-1].created) + 1),
                    "__paging_token": _cursor(page[-1])})
            if has_prev:
                paging["previous"] = url + urlencode({**base_q, "before": _cursor(page[0])})
        else:
            if until:
                base_q["until"] = until
            if more:
                paging["next"] = url + urlencode({**base_q, "after": _cursor(page[-1])})
            if has_prev:
                paging["previous"] = url + urlencode({**base_q, "before": _cursor(page[0])})
        out["paging"] = paging
    if extra:
        out.update(extra)
    return out


FB_POST_DEFAULT = ["id", "message", "created_time"]
FB_COMMENT_DEFAULT = ["id", "message", "created_time", "from"]
IG_MEDIA_DEFAULT = ["id"]
IG_COMMENT_DEFAULT = ["id", "text", "timestamp"]


def _resolve(world: World, object_id: str) -> tuple[str, Any]:
    if object_id in ("me", FB_PAGE_ID):
        return "page", None
    if object_id == IG_USER_ID:
        return "ig_user", None
    obj = world.graph_object(object_id)
    if obj is None or obj.deleted:
        return "missing", None
    kind = {FBPost: "fb_post", FBComment: "fb_comment", IGMedia: "ig_media",
            IGComment: "ig_comment"}[type(obj)]
    return kind, obj


def _serializer(kind: str, req: Req, world: World) -> Callable[[Any], dict[str, Any]]:
    fields = parse_fields(req.arg("fields"))
    table: dict[str, tuple[Callable[[Any, World], dict[str, Any]], list[str], str]] = {
        "fb_post": (fb_post_full, FB_POST_DEFAULT, "Post"),
        "fb_comment": (fb_comment_full, FB_COMMENT_DEFAULT, "Comment"),
        "ig_media": (ig_media_full, IG_MEDIA_DEFAULT, "IGMedia"),
        "ig_comment": (ig_comment_full, IG_COMMENT_DEFAULT, "IGComment"),
    }
    full, default, node = table[kind]
    return lambda obj: select_fields(full(obj, world), fields, default, node)


def graph_get_object(req: Req, world: World, object_id: str) -> Resp:
    kind, obj = _resolve(world, object_id)
    fields = parse_fields(req.arg("fields"))
    if kind == "missing":
        raise _no_object(object_id)
    if kind == "page":
        return Resp(200, select_fields(page_full(world), fields, ["id", "name"], "Page"))
    if kind == "ig_user":
        return Resp(200, select_fields(ig_user_full(world), fields, ["id"], "IGUser"))
    return Resp(200, _serializer(kind, req, world)(obj))


def graph_get_edge(req: Req, world: World, object_id: str, edge: str) -> Resp:
    kind, obj = _resolve(world, object_id)
    if kind == "missing":
        raise _no_object(object_id)
    if kind == "page" and edge in ("feed", "posts", "visitor_posts", "published_posts",
                                   "tagged"):
        posts = [p for p in world.fb_posts.values() if not p.deleted]
        if edge in ("posts", "published_posts"):
            posts = [p for p in posts if p.by_page]
        elif edge in ("visitor_posts", "tagged"):
            posts = [p for p in posts if not p.by_page]
        posts.sort(key=lambda p: (round(p.created, 3), p.seq), reverse=True)
        return Resp(200, graph_page(posts, req, descending=True, time_based=True,
                                    serialize=_serializer("fb_post", req, world)))
    if kind in ("fb_post", "fb_comment") and edge == "comments":
        if kind == "fb_post":
            stream = (req.arg("filter") or "toplevel") == "stream"
            items = [c for c in world.fb_comments.values() if c.post_id == obj.id
                     and not c.deleted and (stream or c.parent_id is None)]
        else:
            items = [c for c in world.fb_comments.values()
                     if c.parent_id == obj.id and not c.deleted]
        order = req.arg("order") or "chronological"
        if order not in ("chronological", "reverse_chronological", "ranked"):
            raise graph_error(400, "(#100) order must be one of chronological, "
                              "reverse_chronological, ranked", 100)
        desc = order == "reverse_chronological"
        items.sort(key=lambda c: (round(c.created, 3), c.seq), reverse=desc)
        extra = None
        if (req.arg("summary") or "").lower() in ("true", "1"):
            extra = {"summary": {"order": order, "total_count": len(items),
                                 "can_comment": True}}
        return Resp(200, graph_page(items, req, descending=desc, extra=extra,
                                    serialize=_serializer("fb_comment", req, world)))
    if kind == "ig_user" and edge in ("media", "tags"):
        media = [m for m in world.ig_media.values() if not m.deleted
                 and m.tagged == (edge == "tags")]
        media.sort(key=lambda m: (round(m.created, 3), m.seq), reverse=True)
        return Resp(200, graph_page(media, req, descending=True, max_limit=100,
                                    serialize=_serializer("ig_media", req, world)))
    if (kind == "ig_media" and edge == "comments") or (kind == "ig_comment"
                                                       and edge == "replies"):
        if kind == "ig_media":
            items = [c for c in world.ig_comments.values() if c.media_id == obj.id
                     and c.parent_id is None and not c.deleted]
        else:
            items = [c for c in world.ig_comments.values()
                     if c.parent_id == obj.id and not c.deleted]
        items.sort(key=lambda c: (round(c.created, 3), c.seq))
        return Resp(200, graph_page(items, req, descending=False, max_limit=50,
                                    serialize=_serializer("ig_comment", req, world)))
    raise graph_error(400, f"(#100) Tried accessing nonexisting field ({edge}) on node type "
                      f"({kind})", 100)


def _message_arg(req: Req) -> str:
    message = req.arg("message")
    if not message or not message.strip():
        raise graph_error(400, "(#100) Missing message or attachment", 100)
    return message


def graph_private_reply(req: Req, world: World) -> Resp:
    try:
        recipient = json.loads(req.arg("recipient") or "")
        message = json.loads(req.arg("message") or "")
    except ValueError:
        raise graph_error(400, "(#100) param recipient and message must be JSON objects",
                          100) from None
    if not isinstance(recipient, dict) or not isinstance(message, dict):
        raise graph_error(400, "(#100) param recipient must be an object", 100)
    text = message.get("text")
    if not isinstance(text, str) or not text.strip():
        raise graph_error(400, "(#100) Message text is required", 100)
    if len(text) > 2000:
        raise graph_error(400, "(#100) Length of param message[text] must be less than or "
                          "equal to 2000", 100)
    comment_id = recipient.get("comment_id")
    if comment_id is None:
        raise graph_error(400, "(#10) This message is sent outside of allowed window.", 10,
                          subcode=2018278)
    comment = world.fb_comments.get(str(comment_id)) or world.ig_comments.get(str(comment_id))
    if comment is None or comment.deleted:
        raise graph_error(400, f"(#100) Invalid comment_id {comment_id}: the comment does not "
                          "exist or was deleted", 100, subcode=2018001)
    if comment.from_id in (FB_PAGE_ID, IG_USER_ID):
        raise graph_error(400, "(#100) Cannot send a private reply to your own comment", 100)
    if comment.private_replied:
        raise graph_error(400, "(#10900) Activity already replied to", 10900)
    if world.now() - comment.created > PRIVATE_REPLY_WINDOW_SECONDS:
        raise graph_error(400, "(#10) This message is sent outside of allowed window.", 10,
                          subcode=2018278)
    comment.private_replied = True
    message_id = world.next_message_id()
    platform = "facebook" if isinstance(comment, FBComment) else "instagram"
    world.record_sent("private_reply", platform=platform, id=message_id, text=text,
                      comment_id=comment.id, recipient_id=comment.from_id)
    return Resp(200, {"recipient_id": comment.from_id, "message_id": message_id})


def graph_post(req: Req, world: World, object_id: str, edge: str | None) -> Resp:
    kind, obj = _resolve(world, object_id)
    if kind == "missing":
        raise _no_object(object_id, "post")
    if edge == "messages" and kind in ("page", "ig_user"):
        return graph_private_reply(req, world)
    if edge == "comments" and kind in ("fb_post", "fb_comment"):
        message = _message_arg(req)
        if kind == "fb_post":
            comment = world.add_fb_comment(message, post_id=obj.id, author="page")
        else:
            comment = world.add_fb_comment(message, parent_id=obj.id, author="page")
        world.record_sent("facebook_comment", platform="facebook", id=comment.id, text=message,
                          target_id=object_id, post_id=comment.post_id)
        return Resp(200, {"id": comment.id})
    if edge == "feed" and kind == "page":
        post = world.add_fb_post(_message_arg(req), "page")
        world.record_sent("facebook_post", platform="facebook", id=post.id, text=post.message)
        return Resp(200, {"id": post.id})
    if edge == "replies" and kind == "ig_comment":
        message = _message_arg(req)
        if obj.parent_id is not None:
            raise graph_error(400, "(#100) Invalid parameter: replies can only be made to "
                              "top-level comments", 100, subcode=2534023)
        reply = world.add_ig_comment(message, parent_id=obj.id, author="brand")
        world.record_sent("instagram_reply", platform="instagram", id=reply.id, text=message,
                          target_id=object_id, media_id=reply.media_id)
        return Resp(200, {"id": reply.id})
    if edge == "comments" and kind == "ig_media":
        message = _message_arg(req)
        comment = world.add_ig_comment(message, media_id=obj.id, author="brand")
        world.record_sent("instagram_comment", platform="instagram", id=comment.id,
                          text=message, target_id=object_id, media_id=obj.id)
        return Resp(200, {"id": comment.id})
    raise _no_object(object_id, "post")


def graph_delete(req: Req, world: World, object_id: str) -> Resp:
    kind, obj = _resolve(world, object_id)
    if obj is None:
        raise _no_object(object_id, "delete")
    author = getattr(obj, "from_id", getattr(obj, "owner_id", None))
    if author not in (FB_PAGE_ID, IG_USER_ID) and kind not in ("fb_comment", "ig_comment"):
        raise graph_error(400, "(#200) Permissions error", 200)
    obj.deleted = True
    world.record_sent("graph_delete", platform="facebook" if kind.startswith("fb")
                      else "instagram", id=object_id, text=None)
    return Resp(200, {"success": True})


_GRAPH_PATH = re.compile(r"^/(?:v\d+\.\d+/)?(?P<rest>[^?]*?)/?$")


def _graph_token(req: Req) -> str | None:
    token = req.arg("access_token")
    if token:
        return token
    auth = req.headers.get("authorization", "")
    for prefix in ("bearer ", "oauth "):
        if auth.lower().startswith(prefix) and auth[len(prefix):].strip():
            return auth[len(prefix):].strip()
    return None


def _usage_headers(world: World, pct: int) -> dict[str, str]:
    app = {"call_count": pct, "total_time": max(0, pct // 2), "total_cputime": max(0, pct // 3)}
    buc = {FB_PAGE_ID: [{"type": "pages", "call_count": pct, "total_cputime": pct // 3,
                         "total_time": pct // 2, "estimated_time_to_regain_access":
                         0 if pct < 100 else 60}]}
    return {"x-app-usage": json.dumps(app), "x-business-use-case-usage": json.dumps(buc),
            "facebook-api-version": "v21.0"}


def handle_graph(req: Req, world: World, fault: Fault | None) -> Resp:
    """Faults, token, app usage, then the Graph route."""
    usage = _usage_headers(world, 0)
    if fault is not None and fault.kind == "revoked":
        world.revoke("graph")
    if fault is not None and fault.kind == "429":
        world.graph_block(fault.reset_after)
        err = graph_error(403, "(#4) Application request limit reached", 4, transient=True)
        return Resp(err.status, err.body, _usage_headers(world, 100))
    if fault is not None and fault.kind in ("500", "502", "503"):
        body = {"error": {"code": 2, "is_transient": True, "type": "OAuthException",
                          "message": "An unexpected error has occurred. Please retry your "
                                     "request later.", "fbtrace_id": f"ASbx{next(_trace_ids)}"}}
        return Resp(int(fault.kind), body, usage)
    if fault is not None and fault.kind == "malformed":
        return Resp(200, None, usage, raw='{"data": [')
    token = _graph_token(req)
    req.token = token
    try:
        if not token:
            raise graph_error(400, "An access token is required to request this resource.",
                              104)
        if world.is_revoked("graph", token):
            raise graph_error(400, "Error validating access token: The session has been "
                              "invalidated because the user changed their password.", 190,
                              subcode=460)
        allowed, pct = world.graph_rate()
        usage = _usage_headers(world, pct)
        if not allowed:
            raise graph_error(403, "(#4) Application request limit reached", 4, transient=True)
        m = _GRAPH_PATH.match(req.path)
        parts = [p for p in (m.group("rest") if m else "").split("/") if p]
        if not parts or len(parts) > 2:
            raise graph_error(400, f"Unknown path components: {req.path}", 2500)
        object_id, edge = parts[0], (parts[1] if len(parts) == 2 else None)
        method = req.method
        if method == "POST" and isinstance(req.body, dict) and req.body.get("method") in (
                "delete", "DELETE"):
            method = "DELETE"
        with world.lock:
            if method == "GET":
                resp = (graph_get_edge(req, world, object_id, edge) if edge
                        else graph_get_object(req, world, object_id))
            elif method == "POST":
                resp = graph_post(req, world, object_id, edge)
            elif method == "DELETE" and edge is None:
                resp = graph_delete(req, world, object_id)
            else:
                raise graph_error(400, f"Unsupported {method.lower()} request.", 100)
    except ApiError as exc:
        resp = Resp(exc.status, exc.body)
    except KeyError as exc:
        resp = Resp(400, _no_object(str(exc)).body)
    resp.headers.update(usage)
    return resp


# ====================================================================== control API
def _created(body: dict[str, Any], world: World) -> float | None:
    if body.get("created_at") is not None:
        return parse_time(body["created_at"])
    if body.get("ago") is not None:
        return world.now() - float(body["ago"])
    return None


def _graph_author(value: Any, brand: str) -> Any:
    if value in (None, "page", "brand", brand):
        return "page"
    return value


def control(req: Req, world: World) -> Resp:
    """The ``/_sandbox/`` control API used by tests and the demo."""
    body = req.body if isinstance(req.body, dict) else {}
    path, method = req.path.rstrip("/"), req.method
    try:
        if path == "/_sandbox/health":
            return Resp(200, {"ok": True})
        if path == "/_sandbox/reset" and method == "POST":
            world.reset()
            return Resp(200, {"ok": True, "state": world.state()})
        if path == "/_sandbox/seed" and method == "POST":
            made = world.seed(int(body.get("count", 200)), int(body.get("seed", 7)),
                              float(body.get("days", 3.0)))
            return Resp(200, {"ok": True, "created": made, "state": world.state()})
        if path == "/_sandbox/generate" and method == "POST":
            seed = body.get("seed")
            made = world.generate(int(body.get("count", 1)),
                                  None if seed is None else int(seed))
            return Resp(200, {"ok": True, "created": made})
        if path == "/_sandbox/live" and method == "POST":
            world.start_live(float(body.get("rate_per_minute", 0)))
            return Resp(200, {"ok": True, "rate_per_minute": body.get("rate_per_minute", 0)})
        if path == "/_sandbox/clock" and method == "POST":
            world.advance(float(body.get("advance", 0)))
            return Resp(200, {"now": world.now()})
        if path == "/_sandbox/x/tweets" and method == "POST":
            t = world.add_tweet(
                str(body["text"]), body.get("author"),
                in_reply_to=body.get("in_reply_to"), created_at=_created(body, world),
                lang=str(body.get("lang", "en")),
                retweet_of=body.get("retweet_of"), quote_of=body.get("quote_of"),
                likes=int(body.get("likes", 0)))
            if body.get("is_retweet") and not t.is_retweet:
                # A retweet of an unseen original: make the original up so refs resolve.
                original = world.add_tweet(t.text.split(": ", 1)[-1], None,
                                           created_at=t.created_at - 60)
                t.retweeted_id = original.id
                if not t.text.startswith("RT @"):
                    t.text = f"RT @{world.x_users[original.author_id].username}: {t.text}"
            return Resp(200, {"id": str(t.id), "author_id": t.author_id,
                              "conversation_id": str(t.conversation_id), "text": t.text})
        if path == "/_sandbox/x/dms" and method == "POST":
            # A DM in a 1-1 conversation; by default a customer writing to the brand.
            raw_from = body["from"]
            sender = world.ensure_x_user(
                raw_from if isinstance(raw_from, dict)
                else {"id": str(raw_from)} if str(raw_from).isdigit()
                else {"username": str(raw_from).lstrip("@")})
            to = str(body.get("to") or BRAND_X_ID)
            event = world.add_dm(sender.id, to, str(body["text"]), _created(body, world))
            return Resp(200, {"id": str(event.id), "sender_id": event.sender_id,
                              "dm_conversation_id": event.conversation_id})
        if path == "/_sandbox/x/dm_lookup" and method == "POST":
            world.x_dm_lookup = bool(body.get("enabled", True))
            return Resp(200, {"ok": True, "enabled": world.x_dm_lookup})
        m = re.match(r"^/_sandbox/x/tweets/(\d+)$", path)
        if m and method == "DELETE":
            return Resp(200 if world.delete_object("x", m.group(1)) else 404,
                        {"deleted": m.group(1)})
        if path == "/_sandbox/facebook/posts" and method == "POST":
            p = world.add_fb_post(str(body.get("text", body.get("message", ""))),
                                  _graph_author(body.get("author", body.get("from")),
                                                FB_PAGE_ID),
                                  _created(body, world))
            return Resp(200, {"id": p.id, "from_id": p.from_id})
        if path == "/_sandbox/facebook/comments" and method == "POST":
            c = world.add_fb_comment(
                str(body.get("text", body.get("message", ""))), post_id=body.get("post_id"),
                parent_id=body.get("parent_id"),
                author=_graph_author(body.get("author", body.get("from")), FB_PAGE_ID),
                created_at=_created(body, world), likes=int(body.get("likes", 0)))
            return Resp(200, {"id": c.id, "post_id": c.post_id, "parent_id": c.parent_id,
                              "from_id": c.from_id})
        if path == "/_sandbox/instagram/media" and method == "POST":
            author = body.get("author", body.get("tagged_by"))
            mm = world.add_ig_media(str(body.get("caption", body.get("text", ""))),
                                    author=_graph_author(author, IG_USER_ID) if author is None
                                    or author in ("brand", IG_USERNAME) else author,
                                    created_at=_created(body, world))
            return Resp(200, {"id": mm.id, "tagged": mm.tagged})
        if path == "/_sandbox/instagram/comments" and method == "POST":
            author = body.get("author", body.get("from"))
            c2 = world.add_ig_comment(
                str(body.get("text", body.get("message", ""))), media_id=body.get("media_id"),
                parent_id=body.get("parent_id"),
                author="brand" if author in ("brand", "page", IG_USERNAME) else author,
                created_at=_created(body, world), likes=int(body.get("likes", 0)))
            return Resp(200, {"id": c2.id, "media_id": c2.media_id, "parent_id": c2.parent_id,
                              "from_id": c2.from_id})
        m = re.match(r"^/_sandbox/graph/([\w]+)$", path)
        if m and method == "DELETE":
            return Resp(200 if world.delete_object("graph", m.group(1)) else 404,
                        {"deleted": m.group(1)})
        if path == "/_sandbox/faults":
            if method == "POST":
                items = body.get("faults") if "faults" in body else [body]
                faults = [Fault.from_dict(f) for f in items]
                for f in faults:
                    world.faults.add(f)
                return Resp(200, {"queued": len(faults), "faults": world.faults.list()})
            if method == "DELETE":
                world.faults.clear()
                return Resp(200, {"ok": True})
            return Resp(200, {"faults": world.faults.list()})
        if path == "/_sandbox/revoke" and method == "POST":
            platform = str(body.get("platform", ""))
            if platform not in ("x", "graph"):
                raise ValueError("platform must be 'x' or 'graph'")
            world.revoke(platform, body.get("token"))
            return Resp(200, {"ok": True, "revoked": platform})
        if path == "/_sandbox/restore" and method == "POST":
            world.restore(body.get("platform"))
            return Resp(200, {"ok": True})
        if path == "/_sandbox/limits":
            if method == "POST":
                world.set_limits(body)
            return Resp(200, {"x": dict(world.x_limits), "graph": world.graph_limit})
        if path == "/_sandbox/requests":
            if method == "DELETE":
                with world.lock:
                    world.requests.clear()
                return Resp(200, {"ok": True})
            pattern = req.query.get("path")
            want_method = (req.query.get("method") or "").upper()
            with world.lock:
                entries = list(world.requests)
            if pattern:
                rx = re.compile(pattern)
                entries = [e for e in entries if e["path"].startswith(pattern)
                           or rx.search(e["path"])]
            if want_method:
                entries = [e for e in entries if e["method"] == want_method]
            return Resp(200, {"requests": entries, "count": len(entries)})
        if path == "/_sandbox/sent":
            with world.lock:
                sent = list(world.sent)
            kind = req.query.get("kind")
            if kind:
                sent = [s for s in sent if s["kind"] == kind]
            return Resp(200, {"sent": sent, "count": len(sent)})
        if path == "/_sandbox/state":
            return Resp(200, world.state())
    except (KeyError, ValueError, TypeError, re.error) as exc:
        return Resp(400, {"error": f"{type(exc).__name__}: {exc}"})
    return Resp(404, {"error": f"no control route {method} {path}"})


# ========================================================================= plumbing
_MASK = {"access_token", "client_secret", "appsecret_proof"}


def _masked(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: ("***" if k in _MASK else v) for k, v in data.items()}
    return data


async def _parse_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    ctype = request.headers.get("content-type", "")
    text = raw.decode("utf-8", "replace")
    if "application/x-www-form-urlencoded" in ctype:
        return dict(parse_qsl(text, keep_blank_values=True))
    try:
        return json.loads(text)
    except ValueError:
        if "json" in ctype:
            raise
        return dict(parse_qsl(text, keep_blank_values=True)) or text


def _to_response(resp: Resp) -> Response:
    content = resp.raw if resp.raw is not None else json.dumps(resp.body, ensure_ascii=False)
    return Response(content, status_code=resp.status, headers=resp.headers, media_type=JSON)


async def endpoint(request: Request) -> Response:
    """The one entry point: parse, apply faults, dispatch, record."""
    world: World = request.app.state.world
    started = time.time()
    path = request.url.path
    req = Req(method=request.method, path=path, query=dict(request.query_params), body=None,
              headers={k.lower(): v for k, v in request.headers.items()},
              base_url=f"{request.url.scheme}://{request.url.netloc}")
    try:
        req.body = await _parse_body(request)
    except ValueError:
        bad = (x_problem(400, "Invalid Request", "Request body is not valid JSON")
               if path.startswith("/2/") else graph_error(400, "(#100) Invalid JSON body", 100))
        return _to_response(Resp(bad.status, bad.body))
    if path.startswith("/_sandbox"):
        return _to_response(control(req, world))
    platform = "x" if path.startswith("/2/") else "graph"
    fault = world.faults.take(req.method, path, post=False)
    if fault is not None and fault.delay > 0:
        await asyncio.sleep(fault.delay)
    if fault is not None and fault.kind == "slow":
        fault = None
    resp = (handle_x if platform == "x" else handle_graph)(req, world, fault)
    post_fault = None
    if resp.status < 500 and resp.raw is None:
        post_fault = world.faults.take(req.method, path, post=True)
    if post_fault is not None:
        if post_fault.delay > 0:
            await asyncio.sleep(post_fault.delay)
        if platform == "x":
            resp = Resp(503, {"title": "Service Unavailable", "detail": "Service Unavailable",
                              "type": "about:blank", "status": 503}, resp.headers)
        else:
            resp = Resp(503, {"error": {"code": 2, "is_transient": True,
                                        "type": "OAuthException",
                                        "message": "An unexpected error has occurred. Please "
                                                   "retry your request later."}}, resp.headers)
    world.record_request({
        "method": req.method, "path": path, "platform": platform,
        "query": _masked(req.query), "body": _masked(req.body) if req.method != "GET" else None,
        "status": resp.status, "time": started, "fault": (fault or post_fault).kind
        if (fault or post_fault) else None,
    })
    return _to_response(resp)


def create_app(world: World | None = None) -> Starlette:
    """Build the sandbox app around ``world`` (a fresh, empty one when omitted)."""
    methods = ["GET", "POST", "DELETE", "PUT", "PATCH"]
    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])
    app.state.world = world if world is not None else World()
    return app


__all__ = ["World", "XUser", "compile_query", "create_app"]
