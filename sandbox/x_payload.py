"""Tweets as the X API v2 writes them: requested fields, expansions, id-ordered timelines and
opaque paging tokens, plus the parameter checks and the acting user the X routes share.

Parameter mistakes answer with X's own 400 bodies, so tweepy raises what it raises on X.
"""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from starlette.requests import Request

from sandbox.errors import x_invalid
from sandbox.records import BRAND_X_ID, Tweet, iso_x, parse_time
from sandbox.world import World


def csv_set(value: str | None) -> set[str]:
    """A comma-separated parameter (``tweet.fields``, ``expansions``...) as a set."""
    return {v.strip() for v in (value or "").split(",") if v.strip()}


def user_context_id(request: Request, world: World) -> str:
    """The acting user: tweepy's OAuth1 token is ``<user id>-<secret>``; default the brand."""
    auth = request.headers.get("authorization", "")
    m = re.search(r'oauth_token="(\d+)-', auth)
    if m and m.group(1) in world.x_users:
        return m.group(1)
    return BRAND_X_ID


def required_text(body: dict[str, Any]) -> str:
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise x_invalid("text", text, "The `text` field is required and can not be empty")
    return text


def int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
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


def encode_token(tweet_id: int) -> str:
    """An opaque paging token that marks a position in an id-ordered list."""
    return base64.b32encode(f"t{tweet_id}".encode()).decode().rstrip("=").lower()


def decode_token(name: str, token: str) -> int:
    try:
        padded = token.upper() + "=" * (-len(token) % 8)
        raw = base64.b32decode(padded).decode()
        if not raw.startswith("t"):
            raise ValueError(raw)
        return int(raw[1:])
    except (ValueError, UnicodeDecodeError):
        raise x_invalid(name, token,
                        f"The `{name}` query parameter value [{token}] is invalid") from None


def mention_entities(text: str, world: World) -> list[dict[str, Any]]:
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
        mentions = mention_entities(t.text, world)
        if mentions:
            data["entities"] = {"mentions": mentions}
    if "possibly_sensitive" in fields:
        data["possibly_sensitive"] = False
    if "reply_settings" in fields:
        data["reply_settings"] = "everyone"
    if "source" in fields:
        data["source"] = "Twitter for iPhone"
    return data


def tweets_payload(tweets: list[Tweet], query: Mapping[str, str],
                   world: World) -> dict[str, Any]:
    """``data`` plus ``includes`` for the requested expansions."""
    fields = csv_set(query.get("tweet.fields"))
    user_fields = csv_set(query.get("user.fields"))
    expansions = csv_set(query.get("expansions"))
    out: dict[str, Any] = {"data": [tweet_to_api(t, fields, world) for t in tweets]}
    user_ids: list[str] = []
    inc_tweets: list[Tweet] = []
    for t in tweets:
        if "author_id" in expansions:
            user_ids.append(t.author_id)
        if "in_reply_to_user_id" in expansions and t.in_reply_to_user_id:
            user_ids.append(t.in_reply_to_user_id)
        if "entities.mentions.username" in expansions:
            user_ids += [m["id"] for m in mention_entities(t.text, world) if "id" in m]
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


def time_param(query: Mapping[str, str], name: str) -> float | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return parse_time(raw)
    except ValueError:
        raise x_invalid(name, raw, f"Invalid '{name}':'{raw}'. '{name}' must be a valid "
                                   "RFC 3339 date-time") from None


#: Newest-first candidates for a timeline, given the exclusive upper id bound the request
#: implies (``until_id`` / paging token); a source may start above it (the timeline still
#: filters) but never leaves out a tweet below it.
NewestFirst = Callable[[int | None], Iterable[Tweet]]


def timeline(query: Mapping[str, str], world: World, tweets: NewestFirst, *, token_param: str,
             low: int, high: int) -> dict[str, Any]:
    """Apply since/until/time filters and id-based pagination to newest-first tweets.

    Reads lazily and stops one tweet past the page (or at ``since_id``), so a page costs what
    it reads rather than the size of the store."""
    max_results = int_param(query, "max_results", 10, low, high)
    since_id = query.get("since_id")
    until_id = query.get("until_id")
    start = time_param(query, "start_time")
    end = time_param(query, "end_time")
    if start is not None and end is not None and start >= end:
        raise x_invalid("start_time", query["start_time"],
                        "Invalid 'start_time':'start_time' must be before 'end_time'")
    try:
        since = int(since_id) if since_id else None
        until = int(until_id) if until_id else None
    except ValueError:
        raise x_invalid("since_id", since_id or until_id, "Invalid 'since_id'/'until_id'") from None
    token = query.get(token_param)
    before = decode_token(token_param, token) if token else None
    bounds = [b for b in (until, before) if b is not None]
    candidates = tweets(min(bounds) if bounds else None)
    if since is not None:
        candidates = itertools.takewhile(lambda t: t.id > since, candidates)
    selected = (
        t for t in candidates
        if (until is None or t.id < until)
        and (start is None or t.created_at >= start) and (end is None or t.created_at < end)
        and (before is None or t.id < before)
    )
    page = list(itertools.islice(selected, max_results + 1))
    more = len(page) > max_results
    del page[max_results:]
    if not page:
        return {"meta": {"result_count": 0}}
    payload = tweets_payload(page, query, world)
    meta: dict[str, Any] = {"newest_id": str(page[0].id), "oldest_id": str(page[-1].id),
                            "result_count": len(page)}
    if more:
        meta["next_token"] = encode_token(page[-1].id)
    if before is not None:
        meta["previous_token"] = encode_token(page[0].id + 1)
    payload["meta"] = meta
    return payload

