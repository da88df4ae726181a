"""The X API v2 routes: recent search, mentions, users, tweet lookup, posting and deleting
tweets, and direct messages (send, and the 1-1 conversation's events).

Every route passes X's front door first (``_gate``): faults, the bearer or OAuth 1.0a token,
then the endpoint family's 15-minute window; every answer carries ``x-rate-limit-*`` headers,
as tweepy waits on them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

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
)
from sandbox.records import BRAND_X_ID, MENTIONS_CAP, SEARCH_WINDOW_SECONDS, iso_x
from sandbox.world import World
from sandbox.x_payload import (
    csv_set,
    decode_token,
    encode_token,
    int_param,
    time_param,
    timeline,
    tweets_payload,
)
from sandbox.x_query import compile_query, word_re

XHandler = Callable[[Request, World], Response]

#: ``dm_event.fields`` X accepts (the sandbox fills id, event_type, text, sender_id,
#: dm_conversation_id and created_at; the others are accepted and have no value here).
DM_EVENT_FIELDS = ("attachments", "created_at", "dm_conversation_id", "event_type", "id",
                   "participant_ids", "referenced_tweets", "sender_id", "text")
DM_EVENT_TYPES = ("MessageCreate", "ParticipantsJoin", "ParticipantsLeave")
_SERVER_ERRORS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


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
        tweets = [t for t in world.visible_tweets()
                  if oldest <= t.created_at <= now + 5 and pred(t, world)]
        return json_response(timeline(query, world, tweets, token_param="next_token", low=10,
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
        mentions = [t for t in world.visible_tweets()
                    if t.author_id != user.id and pattern.search(t.text)][:MENTIONS_CAP]
        return json_response(timeline(request.query_params, world, mentions,
                                      token_param="pagination_token", low=5, high=100))


def _user_context_id(request: Request, world: World) -> str:
    """The acting user: tweepy's OAuth1 token is ``<user id>-<secret>``; default the brand."""
    auth = request.headers.get("authorization", "")
    m = re.search(r'oauth_token="(\d+)-', auth)
    if m and m.group(1) in world.x_users:
        return m.group(1)
    return BRAND_X_ID


def _user_fields(request: Request) -> set[str]:
    return csv_set(request.query_params.get("user.fields"))


def x_me(request: Request, world: World) -> Response:
    user = world.x_users[_user_context_id(request, world)]
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
    """X's weighted length (URLs count 23, CJK 2) via twitter-text-parser when installed."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from twitter_text import parse_tweet
        return int(parse_tweet(text).weightedLength)
    except Exception:  # library missing or failing: plain length is a fair stand-in
        return len(text)


def _required_text(body: dict[str, Any]) -> str:
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise x_invalid("text", text, "The `text` field is required and can not be empty")
    return text


def x_create_tweet(request: Request, world: World) -> Response:
    body = body_dict(request)
    text = _required_text(body)
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
        author = world.x_users[_user_context_id(request, world)]
        tweet = world.add_tweet(text, author, in_reply_to=reply_to,
                                quote_of=body.get("quote_tweet_id"))
        world.record_sent("x_reply" if reply_to else "x_tweet", platform="x", id=str(tweet.id),
                          text=text, in_reply_to=str(reply_to) if reply_to else None,
                          conversation_id=str(tweet.conversation_id), author_id=author.id)
    return json_response({"data": {"id": str(tweet.id), "text": text,
                                   "edit_history_tweet_ids": [str(tweet.id)]}}, 201)


def x_delete_tweet(request: Request, world: World) -> Response:
    with world.lock:
        tweet = world.tweets.get(int(request.path_params["id"]))
        if tweet is None or tweet.author_id != _user_context_id(request, world):
            raise x_problem(403, "Forbidden", "You are not allowed to delete this Tweet.")
        tweet.deleted = True
        world.record_sent("x_delete", platform="x", id=str(tweet.id), text=None)
    return json_response({"data": {"deleted": True}})


# ----------------------------------------------------------------------------- DMs
def _require_user_context(request: Request) -> None:
    """DM endpoints act for a user: an app-only bearer token is refused with X's 403."""
    if not request.headers.get("authorization", "").lower().startswith("oauth "):
        raise x_problem(
            403, "Unsupported Authentication",
            "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  "
            "Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User "
            "Context].", "https://api.twitter.com/2/problems/unsupported-authentication")


def _enum_csv(request: Request, name: str, allowed: tuple[str, ...]) -> set[str]:
    values = csv_set(request.query_params.get(name))
    for value in sorted(values):
        if value not in allowed:
            raise x_invalid(name, value, f"The `{name}` query parameter value [{value}] is not "
                                         f"one of [{','.join(allowed)}]")
    return values


def x_dm_events(request: Request, world: World) -> Response:
    """``GET /2/dm_conversations/with/:participant_id/dm_events``: the acting user's 1-1
    conversation, newest first, paged by an opaque ``pagination_token``."""
    _require_user_context(request)
    if not world.x_dm_lookup:
        raise ApiError(403, {
            "client_id": "sandbox", "required_enrollment": "Appropriate Level of API Access",
            "registration_url": "https://developer.x.com/en/portal/product",
            "title": "Client Forbidden", "reason": "client-not-enrolled",
            "detail": "When authenticating requests to the Twitter API v2 endpoints, you must "
                      "use keys and tokens from a Twitter developer App that is attached to a "
                      "Project. You can create a project via the developer portal.",
            "type": "https://api.twitter.com/2/problems/client-forbidden"})
    fields = _enum_csv(request, "dm_event.fields", DM_EVENT_FIELDS)
    types = _enum_csv(request, "event_types", DM_EVENT_TYPES)
    max_results = int_param(request.query_params, "max_results", 100, 1, 100)
    token = request.query_params.get("pagination_token")
    before = decode_token("pagination_token", token) if token else None
    with world.lock:
        events = world.dm_conversation(_user_context_id(request, world),
                                       request.path_params["id"])
    selected = [e for e in events if (not types or e.event_type in types)
                and (before is None or e.id < before)]
    page = selected[:max_results]
    if not page:
        return json_response({"meta": {"result_count": 0}})
    meta: dict[str, Any] = {"result_count": len(page)}
    if len(selected) > max_results:
        meta["next_token"] = encode_token(page[-1].id)
    return json_response({"data": [e.to_api(fields) for e in page], "meta": meta})


def x_dm(request: Request, world: World) -> Response:
    _require_user_context(request)
    text = _required_text(body_dict(request))
    if len(text) > 10_000:
        raise x_invalid("text", text[:40], "The `text` field is too long (10000 maximum)")
    participant = request.path_params["id"]
    with world.lock:
        user = world.x_users.get(participant)
        if user is None:
            raise x_invalid("participant_id", participant,
                            f"The `participant_id` [{participant}] is not a valid user")
        if not user.dms_open:
            raise x_problem(403, "Forbidden",
                            "You are not permitted to send a message to this user.",
                            "https://api.twitter.com/2/problems/dm-permissions")
        event = world.add_dm(_user_context_id(request, world), participant, text)
        world.record_sent("x_dm", platform="x", id=str(event.id), text=text,
                          participant_id=participant, sender_id=event.sender_id,
                          dm_conversation_id=event.conversation_id)
    return json_response({"data": {"dm_conversation_id": event.conversation_id,
                                   "dm_event_id": str(event.id)}}, 201)


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
    if fault is not None and fault.kind in ("500", "502", "503"):
        status = int(fault.kind)
        return json_response(x_status(status, _SERVER_ERRORS[status]), status, headers)
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
        resp = handler(request, world)
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
    _route("/dm_conversations/with/{id:digits}/messages", "POST", "dm", x_dm),
    _route("/dm_conversations/with/{id:digits}/dm_events", "GET", "dm_lookup", x_dm_events),
    Route("/{rest:path}", _endpoint(None, "other", None), methods=METHODS),
]
