"""The ``/_sandbox/`` control API that tests and the demo drive the sandbox with: reset and
seed the world, add content (posts, comments, X DMs, Messenger and Instagram Direct
messages), age a conversation, queue faults, revoke tokens, set limits, subscribe a Meta
webhook receiver, and read back the request log, what the product sent and what was
delivered.  ``sandbox.control.SandboxControl`` is its client.

A bad payload answers 400 ``{"error": "<exception>: <message>"}``; an unknown route or method
404 ``{"error": "no control route ..."}``.  Control calls are neither faulted nor logged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.errors import bad_json_body
from sandbox.faults import Fault
from sandbox.front import (
    METHODS,
    Endpoint,
    error_response,
    json_response,
    read_body,
    slash_tolerant,
    world_of,
)
from sandbox.generator import DEFAULT_ANSWER_AFTER
from sandbox.records import (
    BRAND_X_ID,
    FB_PAGE_ID,
    IG_USER_ID,
    IG_USERNAME,
    pair_key,
    parse_time,
)
from sandbox.webhooks import DEFAULT_ATTEMPTS
from sandbox.world import World

Action = Callable[[Request, World, dict[str, Any]], Response]


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


def _text(body: dict[str, Any], *names: str) -> str:
    """The first of ``names`` present in the payload (aliases a test may use), else ``""``."""
    for name in names:
        if name in body:
            return str(body[name])
    return ""


# ------------------------------------------------------------------------------ world
def health(request: Request, world: World, body: dict[str, Any]) -> Response:
    return json_response({"ok": True})


def reset(request: Request, world: World, body: dict[str, Any]) -> Response:
    world.reset()
    return json_response({"ok": True, "state": world.state()})


def seed(request: Request, world: World, body: dict[str, Any]) -> Response:
    made = world.seed(int(body.get("count", 200)), int(body.get("seed", 7)),
                      float(body.get("days", 3.0)))
    return json_response({"ok": True, "created": made, "state": world.state()})


def generate(request: Request, world: World, body: dict[str, Any]) -> Response:
    seed_value = body.get("seed")
    made = world.generate(int(body.get("count", 1)),
                          None if seed_value is None else int(seed_value))
    return json_response({"ok": True, "created": made})


def live(request: Request, world: World, body: dict[str, Any]) -> Response:
    request.app.state.live.start(float(body.get("rate_per_minute", 0)),
                                 float(body.get("answer_after", DEFAULT_ANSWER_AFTER)))
    return json_response({"ok": True, "rate_per_minute": body.get("rate_per_minute", 0)})


def clock(request: Request, world: World, body: dict[str, Any]) -> Response:
    world.advance(float(body.get("advance", 0)))
    return json_response({"now": world.now()})


def state(request: Request, world: World, body: dict[str, Any]) -> Response:
    return json_response({**world.state(), "webhooks": request.app.state.webhooks.status()})


# ---------------------------------------------------------------------------- content
def add_tweet(request: Request, world: World, body: dict[str, Any]) -> Response:
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
    return json_response({"id": str(t.id), "author_id": t.author_id,
                          "conversation_id": str(t.conversation_id), "text": t.text})


def add_dm(request: Request, world: World, body: dict[str, Any]) -> Response:
    """A DM in a 1-1 conversation; by default a customer writing to the brand."""
    raw_from = body["from"]
    sender = world.ensure_x_user(
        raw_from if isinstance(raw_from, dict)
        else {"id": str(raw_from)} if str(raw_from).isdigit()
        else {"username": str(raw_from).lstrip("@")})
    to = str(body.get("to") or BRAND_X_ID)
    event = world.add_dm(sender.id, to, str(body["text"]), _created(body, world))
    return json_response({"id": str(event.id), "sender_id": event.sender_id,
                          "dm_conversation_id": event.conversation_id})


def dm_lookup(request: Request, world: World, body: dict[str, Any]) -> Response:
    world.x_dm_lookup = bool(body.get("enabled", True))
    return json_response({"ok": True, "enabled": world.x_dm_lookup})


def delete_tweet(request: Request, world: World, body: dict[str, Any]) -> Response:
    tweet_id = request.path_params["tweet_id"]
    return json_response({"deleted": tweet_id},
                         200 if world.delete_object("x", tweet_id) else 404)


def add_fb_post(request: Request, world: World, body: dict[str, Any]) -> Response:
    p = world.add_fb_post(_text(body, "text", "message"),
                          _graph_author(body.get("author", body.get("from")), FB_PAGE_ID),
                          _created(body, world))
    return json_response({"id": p.id, "from_id": p.from_id})


def add_fb_comment(request: Request, world: World, body: dict[str, Any]) -> Response:
    c = world.add_fb_comment(
        _text(body, "text", "message"), post_id=body.get("post_id"),
        parent_id=body.get("parent_id"),
        author=_graph_author(body.get("author", body.get("from")), FB_PAGE_ID),
        created_at=_created(body, world), likes=int(body.get("likes", 0)))
    return json_response({"id": c.id, "post_id": c.post_id, "parent_id": c.parent_id,
                          "from_id": c.from_id})


def add_ig_media(request: Request, world: World, body: dict[str, Any]) -> Response:
    author = body.get("author", body.get("tagged_by"))
    m = world.add_ig_media(_text(body, "caption", "text"),
                           author=_graph_author(author, IG_USER_ID) if author is None
                           or author in ("brand", IG_USERNAME) else author,
                           created_at=_created(body, world))
    return json_response({"id": m.id, "tagged": m.tagged})


def add_ig_comment(request: Request, world: World, body: dict[str, Any]) -> Response:
    author = body.get("author", body.get("from"))
    c = world.add_ig_comment(
        _text(body, "text", "message"), media_id=body.get("media_id"),
        parent_id=body.get("parent_id"),
        author="brand" if author in ("brand", "page", IG_USERNAME) else author,
        created_at=_created(body, world), likes=int(body.get("likes", 0)))
    return json_response({"id": c.id, "media_id": c.media_id, "parent_id": c.parent_id,
                          "from_id": c.from_id})


def add_graph_message(request: Request, world: World, body: dict[str, Any]) -> Response:
    """A Messenger or Instagram Direct message: by default the customer ``from`` (an id or
    ``{"id", "name"|"username"}``) writes to the brand; ``"from": "page"`` (or ``"brand"``)
    with a customer in ``to`` is the brand writing (e.g. from its phone app)."""
    platform = request.path_params["platform"]
    raw_from = body.get("from", body.get("author"))
    from_brand = raw_from in ("page", "brand")
    customer = body.get("to") if from_brand else raw_from
    if customer is None:
        raise ValueError("name the customer: 'from' (or 'to' when the brand writes)")
    conversation = world.open_conversation(
        platform, customer if isinstance(customer, dict) else str(customer))
    m = world.add_graph_message(conversation.id, _text(body, "text", "message"),
                                from_brand=from_brand, created_at=_created(body, world))
    return json_response({"id": m.id, "conversation_id": conversation.id,
                          "sender_id": m.from_id, "recipient_id": m.to_id,
                          "thread_key": pair_key(m.from_id, m.to_id)})


def age_conversation(request: Request, world: World, body: dict[str, Any]) -> Response:
    c = world.age_conversation(request.path_params["conversation_id"],
                               float(body["seconds"]))
    return json_response({"id": c.id, "updated_time": c.updated,
                          "last_customer_time": c.last_customer_time()})


def delete_graph_object(request: Request, world: World, body: dict[str, Any]) -> Response:
    object_id = request.path_params["object_id"]
    return json_response({"deleted": object_id},
                         200 if world.delete_object("graph", object_id) else 404)


# ------------------------------------------------------------ faults, tokens, limits
def add_faults(request: Request, world: World, body: dict[str, Any]) -> Response:
    items = body.get("faults", [body])
    faults = [Fault.from_dict(f) for f in items]
    for f in faults:
        world.faults.add(f)
    return json_response({"queued": len(faults), "faults": world.faults.list()})


def clear_faults(request: Request, world: World, body: dict[str, Any]) -> Response:
    world.faults.clear()
    return json_response({"ok": True})


def list_faults(request: Request, world: World, body: dict[str, Any]) -> Response:
    return json_response({"faults": world.faults.list()})


def revoke(request: Request, world: World, body: dict[str, Any]) -> Response:
    platform = str(body.get("platform", ""))
    if platform not in ("x", "graph"):
        raise ValueError("platform must be 'x' or 'graph'")
    world.revoke(platform, body.get("token"))
    return json_response({"ok": True, "revoked": platform})


def restore(request: Request, world: World, body: dict[str, Any]) -> Response:
    world.restore(body.get("platform"))
    return json_response({"ok": True})


def subscribe_webhooks(request: Request, world: World, body: dict[str, Any]) -> Response:
    hub = request.app.state.webhooks
    verify_token = body.get("verify_token")
    return json_response(hub.subscribe(
        str(body["url"]), str(body["app_secret"]),
        verify_token=None if verify_token is None else str(verify_token),
        duplicates=int(body.get("duplicates", 0)),
        max_attempts=int(body.get("max_attempts", DEFAULT_ATTEMPTS))))


def duplicate_webhooks(request: Request, world: World, body: dict[str, Any]) -> Response:
    return json_response(request.app.state.webhooks.duplicate_next(int(body.get("count", 1))))


def unsubscribe_webhooks(request: Request, world: World, body: dict[str, Any]) -> Response:
    request.app.state.webhooks.unsubscribe()
    return json_response(request.app.state.webhooks.status())


def webhooks(request: Request, world: World, body: dict[str, Any]) -> Response:
    """Delivery counters; ``?idle_within=<seconds>`` first waits for queued deliveries."""
    hub = request.app.state.webhooks
    wait = request.query_params.get("idle_within")
    idle = hub.wait_idle(float(wait)) if wait else None
    return json_response({**hub.status(), "idle": idle})


def set_limits(request: Request, world: World, body: dict[str, Any]) -> Response:
    world.set_limits(body)
    return limits(request, world, body)


def limits(request: Request, world: World, body: dict[str, Any]) -> Response:
    return json_response({"x": dict(world.x_limits), "graph": world.graph_limit})


# ---------------------------------------------------------------------- observation
def clear_requests(request: Request, world: World, body: dict[str, Any]) -> Response:
    with world.lock:
        world.requests.clear()
    return json_response({"ok": True})


def requests(request: Request, world: World, body: dict[str, Any]) -> Response:
    """The request log, filtered by path (prefix or regex) and method."""
    pattern = request.query_params.get("path")
    want_method = (request.query_params.get("method") or "").upper()
    with world.lock:
        entries = list(world.requests)
    if pattern:
        rx = re.compile(pattern)
        entries = [e for e in entries if e["path"].startswith(pattern) or rx.search(e["path"])]
    if want_method:
        entries = [e for e in entries if e["method"] == want_method]
    return json_response({"requests": entries, "count": len(entries)})


def sent(request: Request, world: World, body: dict[str, Any]) -> Response:
    """What the product wrote to the platforms, optionally of one ``kind``."""
    with world.lock:
        items = list(world.sent)
    kind = request.query_params.get("kind")
    if kind:
        items = [s for s in items if s["kind"] == kind]
    return json_response({"sent": items, "count": len(items)})


def no_route(request: Request, world: World, body: dict[str, Any]) -> Response:
    return json_response(
        {"error": f"no control route {request.method} {request.url.path.rstrip('/')}"}, 404)


# ------------------------------------------------------------------------- routing
def endpoint(action: Action) -> Endpoint:
    """A control action as a Starlette endpoint: JSON payload in, JSON out."""
    async def run(request: Request) -> Response:
        try:
            body = await read_body(request)
        except ValueError:  # answered in Graph's shape, like any path outside /2/
            return error_response(bad_json_body("control"))
        try:
            # In a worker thread: an action may wait (a webhook receiver's verification,
            # stopping the live feed), and the event loop must keep serving meanwhile.
            return await run_in_threadpool(action, request, world_of(request),
                                           body if isinstance(body, dict) else {})
        except (KeyError, ValueError, TypeError, re.error) as exc:
            return json_response({"error": f"{type(exc).__name__}: {exc}"}, 400)

    return run


def _on(path: str, action: Action, *methods: str) -> list[BaseRoute]:
    """``action`` at ``path`` (with or without a trailing slash) for ``methods`` (all when
    none is named).  A route for all methods must follow those for one method."""
    return slash_tolerant(path, endpoint(action), list(methods) or METHODS)


#: Mounted at ``/_sandbox``.
CONTROL_ROUTES: list[BaseRoute] = [
    *_on("/health", health),
    *_on("/reset", reset, "POST"),
    *_on("/seed", seed, "POST"),
    *_on("/generate", generate, "POST"),
    *_on("/live", live, "POST"),
    *_on("/clock", clock, "POST"),
    *_on("/x/tweets", add_tweet, "POST"),
    *_on("/x/dms", add_dm, "POST"),
    *_on("/x/dm_lookup", dm_lookup, "POST"),
    *_on("/x/tweets/{tweet_id:digits}", delete_tweet, "DELETE"),
    *_on("/facebook/posts", add_fb_post, "POST"),
    *_on("/facebook/comments", add_fb_comment, "POST"),
    *_on("/instagram/media", add_ig_media, "POST"),
    *_on("/instagram/comments", add_ig_comment, "POST"),
    *_on("/{platform:messaging_platform}/messages", add_graph_message, "POST"),
    *_on("/conversations/{conversation_id:word}/age", age_conversation, "POST"),
    *_on("/graph/{object_id:word}", delete_graph_object, "DELETE"),
    *_on("/faults", add_faults, "POST"),
    *_on("/faults", clear_faults, "DELETE"),
    *_on("/faults", list_faults),
    *_on("/revoke", revoke, "POST"),
    *_on("/restore", restore, "POST"),
    *_on("/webhooks", subscribe_webhooks, "POST"),
    *_on("/webhooks", unsubscribe_webhooks, "DELETE"),
    *_on("/webhooks", webhooks),
    *_on("/webhooks/duplicate", duplicate_webhooks, "POST"),
    *_on("/limits", set_limits, "POST"),
    *_on("/limits", limits),
    *_on("/requests", clear_requests, "DELETE"),
    *_on("/requests", requests),
    *_on("/sent", sent),
    *_on("/state", state),
    Route("/{rest:path}", endpoint(no_route), methods=METHODS),
]
