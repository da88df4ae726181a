"""The X API v2 routes: recent search, mentions, users, tweet lookup, posting and deleting
tweets, and direct messages (``sandbox.x_dms``).

Every route passes X's front door first (``_gate``): faults, the bearer or OAuth 1.0a token,
then the endpoint family's 15-minute window; every answer carries ``x-rate-limit-*`` headers,
as tweepy waits on them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from carewatch.platforms.x import x_weighted_length
from sandbox.errors import X_UNAUTHORIZED, ApiError, x_invalid, x_problem, x_status
from sandbox.faults import Fault
from sandbox.front import (
    METHODS,
    Endpoint,
    body_dict,
    error_response,
    json_response,
    malformed_response,
    serve,
    whole_number,
    with_ids_renamed,
)
from sandbox.records import BRAND_X_ID, MENTIONS_CAP, SEARCH_WINDOW_SECONDS, Tweet, iso_x
from sandbox.world import World
from sandbox.x_dms import (
    x_dm_events,
    x_dm_events_in,
    x_dm_events_with,
    x_dm_in,
    x_dm_with,
)
from sandbox.x_payload import (
    csv_set,
    required_text,
    time_param,
    timeline,
    tweets_payload,
    user_context_id,
)
from sandbox.x_query import compile_query, word_re

XHandler = Callable[[Request, World], Response]

_SERVER_ERRORS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                  504: "Gateway Timeout"}
#: X's answer to a tweet whose text the account already posted.
DUPLICATE_CONTENT = "You are not allowed to create a Tweet with duplicate content."


# ------------------------------------------------------------------------------ search
def x_search(request: Request, world: World) -> Response:
    query = request.query_params
    text = query.get("query")
    if not text:
        raise x_invalid("query", "", "The `query` query parameter can not be empty")
    if len(text) > 512:
        raise x_invalid("query", text[:40], "The `query` query parameter value is too long "
                        "(512 characters maximum)")
    pred = compile_query(text)
    now = world.now()
    oldest = now - SEARCH_WINDOW_SECONDS
    with world.lock:
        start = time_param(query, "start_time")
        if start is not None and start < oldest - 60:
            raise x_invalid("start_time", query["start_time"],
                            f"Invalid 'start_time':'{query['start_time']}'. 'start_time' "
                            f"must be on or after {iso_x(oldest)}")
        since_id = query.get("since_id")
        if since_id and since_id.isdigit():
            ref = world.tweets.get(int(since_id))
            if ref is not None and ref.created_at < oldest:
                raise x_invalid("since_id", since_id,
                                f"Invalid 'since_id':'{since_id}'. 'since_id' must be a tweet "
                                f"id created after {iso_x(oldest)}. Please use a 'since_id' "
                                "that is larger than the oldest tweet in the window")
        def matching(below: int | None) -> Iterator[Tweet]:
            return (t for t in world.tweets_newest_first(below)
                    if oldest <= t.created_at <= now + 5 and pred(t, world))

        return json_response(timeline(query, world, matching, token_param="next_token", low=10,
                                      high=100))


# ------------------------------------------------------------------------------- users
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


def x_mentions(request: Request, world: World) -> Response:
    user_id = request.path_params["id"]
    with world.lock:
        user = world.x_users.get(user_id)
        if user is None:
            return json_response(_user_not_found(user_id))
        pattern = word_re("@" + user.username)
        def mentions(_below: int | None) -> Iterator[Tweet]:
            # The cap counts from the newest mention, so the walk starts at the top.
            return itertools.islice((t for t in world.tweets_newest_first()
                                     if t.author_id != user.id and pattern.search(t.text)),
                                    MENTIONS_CAP)

        return json_response(timeline(request.query_params, world, mentions,
                                      token_param="pagination_token", low=5, high=100))


def _user_fields(request: Request) -> set[str]:
    return csv_set(request.query_params.get("user.fields"))


def x_me(request: Request, world: World) -> Response:
    user = world.x_users[user_context_id(request, world)]
    return json_response({"data": user.to_api(_user_fields(request))})


def x_user(request: Request, world: World) -> Response:
    user = world.x_users.get(request.path_params["id"])
    if user is None:
        return json_response(_user_not_found(request.path_params["id"]))
    return json_response({"data": user.to_api(_user_fields(request))})


def x_user_by_name(request: Request, world: World) -> Response:
    user = world.find_x_user(request.path_params["username"])
    if user is None:
        return json_response(_user_not_found(request.path_params["username"], "username"))
    return json_response({"data": user.to_api(_user_fields(request))})


def x_users(request: Request, world: World) -> Response:
    ids = [i for i in (request.query_params.get("ids") or "").split(",") if i]
    if not ids:
        raise x_invalid("ids", "", "The `ids` query parameter can not be empty")
    fields = _user_fields(request)
    data = [world.x_users[i].to_api(fields) for i in ids if i in world.x_users]
    out: dict[str, Any] = {"data": data} if data else {}
    missing = [i for i in ids if i not in world.x_users]
    if missing:
        out["errors"] = [_user_not_found(i)["errors"][0] for i in missing]
    return json_response(out)


# ------------------------------------------------------------------------------ tweets
def _lookup_tweets(ids: list[str], request: Request, world: World) -> dict[str, Any]:
    with world.lock:
        found = []
        missing = []
        for i in ids:
            t = world.tweets.get(int(i)) if i.isdigit() else None
            if t is None or t.deleted:
                missing.append(i)
            else:
                found.append(t)
        out: dict[str, Any] = (tweets_payload(found, request.query_params, world) if found
                               else {})
        if missing:
            out["errors"] = [_tweet_not_found(i) for i in missing]
        return out


def x_tweet(request: Request, world: World) -> Response:
    out = _lookup_tweets([request.path_params["id"]], request, world)
    if "data" in out:
        out["data"] = out["data"][0]
    return json_response(out)


def x_tweets(request: Request, world: World) -> Response:
    raw = request.query_params.get("ids")
    ids = [i for i in (raw or "").split(",") if i]
    if not ids or len(ids) > 100:
        raise x_invalid("ids", raw or "", "The `ids` query parameter value must "
                        "hold between 1 and 100 ids")
    return json_response(_lookup_tweets(ids, request, world))


def weighted_length(text: str) -> int:
    """X's weighted length (URLs count 23, CJK 2), counted by twitter-text-parser."""
    try:
        return x_weighted_length(text)
    except Exception:  # library missing or failing: plain length is a fair stand-in
        return len(text)


def x_create_tweet(request: Request, world: World) -> Response:
    body = body_dict(request)
    text = required_text(body)
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
        author = world.x_users[user_context_id(request, world)]
        if _posted_before(world, author.id, text, reply_to):
            raise x_problem(403, "Forbidden", DUPLICATE_CONTENT)
        tweet = world.add_tweet(text, author, in_reply_to=reply_to,
                                quote_of=body.get("quote_tweet_id"))
        world.record_sent("x_reply" if reply_to else "x_tweet", platform="x", id=str(tweet.id),
                          text=text, in_reply_to=str(reply_to) if reply_to else None,
                          conversation_id=str(tweet.conversation_id), author_id=author.id)
    return json_response({"data": {"id": str(tweet.id), "text": text,
                                   "edit_history_tweet_ids": [str(tweet.id)]}}, 201)


def _posted_before(world: World, author_id: str, text: str, reply_to: Any) -> bool:
    """X refuses a tweet whose text the account already posted. The sandbox narrows that to
    the same tweet answered (or both standalone), so different customers can still get the
    same canned answer. Call with the world's lock held."""
    target = int(reply_to) if reply_to is not None else None
    return any(t.author_id == author_id and t.text == text and not t.deleted
               and t.in_reply_to_tweet_id == target for t in world.tweets.values())


def x_delete_tweet(request: Request, world: World) -> Response:
    with world.lock:
        tweet = world.tweets.get(int(request.path_params["id"]))
        if tweet is None or tweet.author_id != user_context_id(request, world):
            raise x_problem(403, "Forbidden", "You are not allowed to delete this Tweet.")
        tweet.deleted = True
        world.record_sent("x_delete", platform="x", id=str(tweet.id), text=None)
    return json_response({"data": {"deleted": True}})


# ------------------------------------------------------------------------ front door
def _rate_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {"x-rate-limit-limit": str(limit), "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(reset)}


def _x_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "").strip()
    if auth.lower().startswith("bearer "):
        token = auth[7:].strip()
        return token if token and token != "None" else None
    if auth.lower().startswith("oauth "):
        m = re.search(r'oauth_token="([^"]*)"', auth)
        return m.group(1) if m else "oauth1-app"
    return None


def x_brand_ids(request: Request, world: World, key: str) -> None:
    """The world has one brand account; a product configured with another (its user
    context token `<user id>-...`, or the `user_id` of its mentions source) gets that id
    adopted as the brand's other name, once: ids in the request's path are read back as
    ours, and answers carry the product's id (`with_ids_renamed`), so its own tweets and
    messages are recognisably its own."""
    aliases = world.x_aliases
    if BRAND_X_ID not in aliases:
        found = re.search(r'oauth_token="(\d+)-', request.headers.get("authorization", ""))
        for candidate in (found.group(1) if found else None,
                          request.path_params.get("id") if key == "mentions" else None):
            if candidate and candidate not in world.x_users:
                aliases[BRAND_X_ID] = candidate
                break
    alias = aliases.get(BRAND_X_ID)
    if alias is None:
        return
    params = request.path_params  # the scope's own dict: the handlers read it
    for name, value in list(params.items()):
        if isinstance(value, str) and alias in value:
            params[name] = whole_number(alias).sub(BRAND_X_ID, value)


def _gate(request: Request, world: World, fault: Fault | None, key: str,
          handler: XHandler | None) -> Response:
    """Faults, auth, rate limit, then the endpoint (``None``: no such route, a 404)."""
    limits = world.limits
    if fault is not None and fault.kind == "revoked":
        world.revoke("x")
    if fault is not None and fault.kind == "429":
        d = limits.x_block(key, fault.reset_after)
        return json_response(x_status(429, "Too Many Requests"), 429,
                             _rate_headers(d.limit, 0, d.reset))
    decision = limits.x_rate(key, consume=False)
    headers = _rate_headers(decision.limit, decision.remaining, decision.reset)
    if fault is not None and fault.kind in ("500", "502", "503", "504"):
        status = int(fault.kind)
        return json_response(x_status(status, _SERVER_ERRORS[status]), status, headers)
    if fault is not None and fault.kind == "empty":
        return json_response({"meta": {"result_count": 0}}, 200, headers)
    if fault is not None and fault.kind == "malformed":
        return malformed_response(headers)
    token = _x_token(request)
    if token is None or world.is_revoked("x", token):
        return json_response(dict(X_UNAUTHORIZED), 401, headers)
    if handler is None:
        return json_response({"title": "Not Found Error", "type": "about:blank", "status": 404,
                              "detail": f"Sorry, that page does not exist: {request.method} "
                                        f"{request.url.path}"}, 404, headers)
    decision = limits.x_rate(key)
    headers = _rate_headers(decision.limit, decision.remaining, decision.reset)
    if not decision.allowed:
        return json_response(x_status(429, "Too Many Requests"), 429, headers)
    try:
        with world.lock:
            x_brand_ids(request, world, key)
        alias = world.x_aliases.get(BRAND_X_ID)
        resp = with_ids_renamed(handler(request, world), {BRAND_X_ID: alias} if alias else {})
    except ApiError as exc:
        resp = error_response(exc)
    resp.headers.update(headers)
    return resp


def _endpoint(method: str | None, key: str, handler: XHandler | None) -> Endpoint:
    """``handler`` behind X's front door; ``key`` names its rate-limit family.  Another method
    than ``method`` (the HEAD Starlette adds to a GET route) is a 404, as on an unknown path."""
    async def endpoint(request: Request) -> Response:
        known = request.method == method
        return await serve(request, "x", lambda req, world, fault: _gate(
            req, world, fault, key if known else "other", handler if known else None))

    return endpoint


def _route(path: str, method: str, key: str, handler: XHandler) -> Route:
    return Route(path, _endpoint(method, key, handler), methods=[method])


#: Mounted at ``/2``.  A known path with another method falls through to the 404 route.
X_ROUTES: list[BaseRoute] = [
    _route("/tweets/search/recent", "GET", "search", x_search),
    _route("/users/me", "GET", "users_me", x_me),
    _route("/users/by/username/{username:word}", "GET", "users", x_user_by_name),
    _route("/users/{id:digits}/mentions", "GET", "mentions", x_mentions),
    _route("/users/{id:digits}", "GET", "users", x_user),
    _route("/users", "GET", "users", x_users),
    _route("/tweets/{id:digits}", "GET", "tweets_lookup", x_tweet),
    _route("/tweets", "GET", "tweets_lookup", x_tweets),
    _route("/tweets", "POST", "tweets_create", x_create_tweet),
    _route("/tweets/{id:digits}", "DELETE", "tweets_create", x_delete_tweet),
    _route("/dm_conversations/with/{id:digits}/messages", "POST", "dm", x_dm_with),
    _route("/dm_conversations/{conversation_id:pair_id}/messages", "POST", "dm", x_dm_in),
    _route("/dm_conversations/with/{id:digits}/dm_events", "GET", "dm_lookup",
           x_dm_events_with),
    _route("/dm_conversations/{conversation_id:pair_id}/dm_events", "GET", "dm_lookup",
           x_dm_events_in),
    _route("/dm_events", "GET", "dm_lookup", x_dm_events),
    Route("/{rest:path}", _endpoint(None, "other", None), methods=METHODS),
]
