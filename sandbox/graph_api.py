"""The Graph API routes (Facebook Page + Instagram business account): objects, edges (feed,
comments, media, tags, replies, conversations, messages), comment and reply posting, messages
(``sandbox.graph_messaging``) and deletes, under ``/vNN.N/`` or unversioned.

Every route passes Graph's front door first (``_gate``): faults, the access token, then the
app's hourly budget; every answer carries the ``x-app-usage`` headers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.errors import ApiError, graph_error, graph_unavailable
from sandbox.faults import Fault
from sandbox.front import (
    METHODS,
    Endpoint,
    arg,
    body_dict,
    error_response,
    json_response,
    malformed_response,
    serve,
    slash_tolerant,
    with_ids_renamed,
)
from sandbox.graph_messaging import (
    conversation_node,
    conversations_edge,
    message_node,
    messages_edge,
    post_message,
)
from sandbox.graph_nodes import (
    FB_COMMENT_DEFAULT,
    FB_POST_DEFAULT,
    IG_COMMENT_DEFAULT,
    IG_MEDIA_DEFAULT,
    fb_comment_full,
    fb_post_full,
    graph_page,
    ig_comment_full,
    ig_media_full,
    ig_user_full,
    page_full,
    parse_fields,
    select_fields,
)
from sandbox.records import FB_PAGE_ID, IG_USER_ID, FBComment, FBPost, IGComment, IGMedia
from sandbox.world import World

GraphHandler = Callable[..., Response]

# Edges that only the brand's page (or its Instagram account) has: an unknown numeric id
# asked for one of them is the product's name for our page (or account).
_PAGE_EDGES = frozenset({"feed", "posts", "visitor_posts", "published_posts", "tagged",
                         "conversations", "messages"})
_IG_EDGES = frozenset({"media", "tags"})


def graph_ids(world: World, object_id: str, edge: str | None) -> tuple[str, dict[str, str]]:
    """The sandbox's own id for `object_id`, and how this answer names the brand's page and
    account. The world has one brand page and one Instagram account; a product configured
    with other ids (another brand's `page_id`, `ig_user_id`) gets them adopted: an unknown
    numeric id asked for a page edge (feed, conversations, messages...) becomes another
    name of the page, one asked for `media` or `tags` of the account. Answers then carry the
    product's ids (`with_ids_renamed`): the name the request used, else the first adopted,
    so its own posts and messages are recognisably its own."""
    aliases = world.graph_aliases
    names = {canonical: known[0] for canonical, known in aliases.items()}
    for canonical, known in aliases.items():
        for alias in known:
            if object_id == alias or object_id.startswith(f"{alias}_"):  # <page id>_<n>
                names[canonical] = alias
                return canonical + object_id[len(alias):], names
    if edge is None or not object_id.isdigit() or _resolve(world, object_id)[0] != "missing":
        return object_id, names
    canonical = (FB_PAGE_ID if edge in _PAGE_EDGES else IG_USER_ID if edge in _IG_EDGES
                 else None)
    if canonical is None:
        return object_id, names
    aliases.setdefault(canonical, []).append(object_id)
    names[canonical] = object_id
    return canonical, names


def _no_object(object_id: str, method: str = "get") -> ApiError:
    return graph_error(400, f"Unsupported {method} request. Object with ID '{object_id}' does "
                       "not exist, cannot be loaded due to missing permissions, or does not "
                       "support this operation. Please read the Graph API documentation at "
                       "https://developers.facebook.com/docs/graph-api", 100,
                       type_="GraphMethodException", subcode=33)


def _resolve(world: World, object_id: str) -> tuple[str, Any]:
    if object_id in ("me", FB_PAGE_ID):
        return "page", None
    if object_id == IG_USER_ID:
        return "ig_user", None
    if object_id in world.conversations:
        return "conversation", world.conversations[object_id]
    if object_id in world.graph_messages:
        return "message", world.graph_messages[object_id]
    obj = world.graph_object(object_id)
    if obj is None or obj.deleted:
        return "missing", None
    kind = {FBPost: "fb_post", FBComment: "fb_comment", IGMedia: "ig_media",
            IGComment: "ig_comment"}[type(obj)]
    return kind, obj


def _serializer(kind: str, request: Request, world: World) -> Callable[[Any], dict[str, Any]]:
    fields = parse_fields(arg(request, "fields"))
    table: dict[str, tuple[Callable[[Any, World], dict[str, Any]], list[str], str]] = {
        "fb_post": (fb_post_full, FB_POST_DEFAULT, "Post"),
        "fb_comment": (fb_comment_full, FB_COMMENT_DEFAULT, "Comment"),
        "ig_media": (ig_media_full, IG_MEDIA_DEFAULT, "IGMedia"),
        "ig_comment": (ig_comment_full, IG_COMMENT_DEFAULT, "IGComment"),
    }
    full, default, node = table[kind]
    return lambda obj: select_fields(full(obj, world), fields, default, node)


def graph_get_object(request: Request, world: World, object_id: str) -> Response:
    kind, obj = _resolve(world, object_id)
    fields = parse_fields(arg(request, "fields"))
    if kind == "missing":
        raise _no_object(object_id)
    if kind == "page":
        return json_response(select_fields(page_full(world), fields, ["id", "name"], "Page"))
    if kind == "ig_user":
        return json_response(select_fields(ig_user_full(world), fields, ["id"], "IGUser"))
    if kind == "conversation":
        return json_response(conversation_node(obj, world, request))
    if kind == "message":
        return message_node(request, world, obj)
    return json_response(_serializer(kind, request, world)(obj))


def graph_get_edge(request: Request, world: World, object_id: str, edge: str) -> Response:
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
        return json_response(graph_page(posts, request, descending=True, time_based=True,
                                        serialize=_serializer("fb_post", request, world)))
    if kind in ("fb_post", "fb_comment") and edge == "comments":
        if kind == "fb_post":
            stream = (arg(request, "filter") or "toplevel") == "stream"
            items = [c for c in world.fb_comments.values() if c.post_id == obj.id
                     and not c.deleted and (stream or c.parent_id is None)]
        else:
            items = [c for c in world.fb_comments.values()
                     if c.parent_id == obj.id and not c.deleted]
        order = arg(request, "order") or "chronological"
        if order not in ("chronological", "reverse_chronological", "ranked"):
            raise graph_error(400, "(#100) order must be one of chronological, "
                              "reverse_chronological, ranked", 100)
        desc = order == "reverse_chronological"
        items.sort(key=lambda c: (round(c.created, 3), c.seq), reverse=desc)
        extra = None
        if (arg(request, "summary") or "").lower() in ("true", "1"):
            extra = {"summary": {"order": order, "total_count": len(items),
                                 "can_comment": True}}
        return json_response(graph_page(items, request, descending=desc, extra=extra,
                                        serialize=_serializer("fb_comment", request, world)))
    if kind in ("page", "ig_user") and edge == "conversations":
        return conversations_edge(request, world, kind)
    if kind == "conversation" and edge == "messages":
        return messages_edge(request, world, obj)
    if kind == "ig_user" and edge in ("media", "tags"):
        media = [m for m in world.ig_media.values() if not m.deleted
                 and m.tagged == (edge == "tags")]
        media.sort(key=lambda m: (round(m.created, 3), m.seq), reverse=True)
        return json_response(graph_page(media, request, descending=True, max_limit=100,
                                        serialize=_serializer("ig_media", request, world)))
    if (kind == "ig_media" and edge == "comments") or (kind == "ig_comment"
                                                       and edge == "replies"):
        if kind == "ig_media":
            ig_items = [c for c in world.ig_comments.values() if c.media_id == obj.id
                        and c.parent_id is None and not c.deleted]
        else:
            ig_items = [c for c in world.ig_comments.values()
                        if c.parent_id == obj.id and not c.deleted]
        ig_items.sort(key=lambda c: (round(c.created, 3), c.seq))
        return json_response(graph_page(ig_items, request, descending=False, max_limit=50,
                                        serialize=_serializer("ig_comment", request, world)))
    raise graph_error(400, f"(#100) Tried accessing nonexisting field ({edge}) on node type "
                      f"({kind})", 100)


def _message_arg(request: Request) -> str:
    message = arg(request, "message")
    if not message or not message.strip():
        raise graph_error(400, "(#100) Missing message or attachment", 100)
    return message


def graph_post(request: Request, world: World, object_id: str,
               edge: str | None = None) -> Response:
    kind, obj = _resolve(world, object_id)
    if kind == "missing":
        raise _no_object(object_id, "post")
    if edge == "messages" and kind in ("page", "ig_user"):
        return post_message(request, world, kind)
    if edge == "comments" and kind in ("fb_post", "fb_comment"):
        message = _message_arg(request)
        if kind == "fb_post":
            comment = world.add_fb_comment(message, post_id=obj.id, author="page")
        else:
            comment = world.add_fb_comment(message, parent_id=obj.id, author="page")
        world.record_sent("facebook_comment", platform="facebook", id=comment.id, text=message,
                          target_id=object_id, post_id=comment.post_id)
        return json_response({"id": comment.id})
    if edge == "feed" and kind == "page":
        post = world.add_fb_post(_message_arg(request), "page")
        world.record_sent("facebook_post", platform="facebook", id=post.id, text=post.message)
        return json_response({"id": post.id})
    if edge == "replies" and kind == "ig_comment":
        message = _message_arg(request)
        if obj.parent_id is not None:
            raise graph_error(400, "(#100) Invalid parameter: replies can only be made to "
                              "top-level comments", 100, subcode=2534023)
        reply = world.add_ig_comment(message, parent_id=obj.id, author="brand")
        world.record_sent("instagram_reply", platform="instagram", id=reply.id, text=message,
                          target_id=object_id, media_id=reply.media_id)
        return json_response({"id": reply.id})
    if edge == "comments" and kind == "ig_media":
        message = _message_arg(request)
        ig_comment = world.add_ig_comment(message, media_id=obj.id, author="brand")
        world.record_sent("instagram_comment", platform="instagram", id=ig_comment.id,
                          text=message, target_id=object_id, media_id=obj.id)
        return json_response({"id": ig_comment.id})
    raise _no_object(object_id, "post")


def graph_delete(request: Request, world: World, object_id: str) -> Response:
    kind, obj = _resolve(world, object_id)
    if obj is None or kind in ("conversation", "message"):
        raise _no_object(object_id, "delete")
    author = getattr(obj, "from_id", getattr(obj, "owner_id", None))
    if author not in (FB_PAGE_ID, IG_USER_ID) and kind not in ("fb_comment", "ig_comment"):
        raise graph_error(400, "(#200) Permissions error", 200)
    obj.deleted = True
    world.record_sent("graph_delete", platform="facebook" if kind.startswith("fb")
                      else "instagram", id=object_id, text=None)
    return json_response({"success": True})


# ------------------------------------------------------------------------ front door
def _graph_token(request: Request) -> str | None:
    token = arg(request, "access_token")
    if token:
        return token
    auth = request.headers.get("authorization", "")
    for prefix in ("bearer ", "oauth "):
        if auth.lower().startswith(prefix) and auth[len(prefix):].strip():
            return auth[len(prefix):].strip()
    return None


def _usage_headers(pct: int) -> dict[str, str]:
    app = {"call_count": pct, "total_time": max(0, pct // 2), "total_cputime": max(0, pct // 3)}
    buc = {FB_PAGE_ID: [{"type": "pages", "call_count": pct, "total_cputime": pct // 3,
                         "total_time": pct // 2, "estimated_time_to_regain_access":
                         0 if pct < 100 else 60}]}
    return {"x-app-usage": json.dumps(app), "x-business-use-case-usage": json.dumps(buc),
            "facebook-api-version": "v21.0"}


def _gate(request: Request, world: World, fault: Fault | None,
          handlers: dict[str, GraphHandler] | None) -> Response:
    """Faults, token, app usage, then the handler for the method (``None``: a path that is
    neither an object nor an object's edge)."""
    usage = _usage_headers(0)
    if fault is not None and fault.kind == "revoked":
        world.revoke("graph")
    if fault is not None and fault.kind == "429":
        world.limits.graph_block(fault.reset_after)
        err = graph_error(403, "(#4) Application request limit reached", 4, transient=True)
        return json_response(err.body, err.status, _usage_headers(100))
    if fault is not None and fault.kind in ("500", "502", "503", "504"):
        return json_response(graph_unavailable(traced=True), int(fault.kind), usage)
    if fault is not None and fault.kind == "empty":
        return json_response({"data": []}, 200, usage)
    if fault is not None and fault.kind == "malformed":
        return malformed_response(usage)
    token = request.state.token = _graph_token(request)
    try:
        if not token:
            raise graph_error(400, "An access token is required to request this resource.",
                              104)
        if world.is_revoked("graph", token):
            raise graph_error(400, "Error validating access token: The session has been "
                              "invalidated because the user changed their password.", 190,
                              subcode=460)
        allowed, pct = world.limits.graph_rate()
        usage = _usage_headers(pct)
        if not allowed:
            raise graph_error(403, "(#4) Application request limit reached", 4, transient=True)
        if handlers is None:
            raise graph_error(400, f"Unknown path components: {request.url.path}", 2500)
        method = request.method
        if method == "POST" and body_dict(request).get("method") in ("delete", "DELETE"):
            method = "DELETE"
        handler = handlers.get(method)
        if handler is None:
            raise graph_error(400, f"Unsupported {method.lower()} request.", 100)
        params = {k: v for k, v in request.path_params.items() if k in ("object_id", "edge")}
        with world.lock:
            names: dict[str, str] = {}
            if "object_id" in params:
                params["object_id"], names = graph_ids(world, params["object_id"],
                                                       params.get("edge"))
            resp = with_ids_renamed(handler(request, world, **params), names)
    except ApiError as exc:
        resp = error_response(exc)
    except KeyError as exc:
        resp = error_response(_no_object(str(exc)))
    resp.headers.update(usage)
    return resp


def _endpoint(handlers: dict[str, GraphHandler] | None) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        return await serve(request, "graph",
                           lambda req, world, fault: _gate(req, world, fault, handlers))

    return endpoint


#: Mounted under ``/vNN.N`` and at the root; a trailing slash is accepted.
GRAPH_ROUTES: list[BaseRoute] = [
    *slash_tolerant("/{object_id}", _endpoint(
        {"GET": graph_get_object, "POST": graph_post, "DELETE": graph_delete})),
    *slash_tolerant("/{object_id}/{edge}", _endpoint({"GET": graph_get_edge, "POST": graph_post})),
    Route("/{rest:path}", _endpoint(None), methods=METHODS),
]
