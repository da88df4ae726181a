"""Graph API nodes as the Graph API writes them: every field of a Page, IG user, post, comment
or media; field selection (``fields=a,b{c}``, unknown fields are error #100); cursor and
time-based paging with ``next`` URLs that carry the access token, as facebook-sdk follows them.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from sandbox.errors import graph_error
from sandbox.front import arg
from sandbox.records import (
    BRAND_NAME,
    FB_PAGE_ID,
    IG_USER_ID,
    IG_USERNAME,
    PRIVATE_REPLY_WINDOW_SECONDS,
    FBComment,
    FBPost,
    IGComment,
    IGMedia,
    iso_graph,
    parse_time,
)
from sandbox.world import World


class Fields(dict[str, Any]):
    """Requested fields (name -> nested ``Fields`` or None), with each field's modifiers:
    ``messages.limit(5){id}`` gives ``modifiers["messages"] == {"limit": "5"}``."""

    def __init__(self) -> None:
        super().__init__()
        self.modifiers: dict[str, dict[str, str]] = {}


_NAME = re.compile(r"\s*([A-Za-z_][\w]*)")
_MODIFIER = re.compile(r"\.(\w+)\(([^)]*)\)")


def parse_fields(spec: str | None) -> Fields | None:
    """Parse ``a,b{c,d},e.limit(5){f}`` into ``{"a": None, "b": {...}, "e": {...}}``."""
    if not spec:
        return None
    pos = 0

    def parse_list() -> Fields:
        nonlocal pos
        out = Fields()
        while pos < len(spec):
            m = _NAME.match(spec, pos)
            if not m:
                break
            name = m.group(1)
            pos = m.end()
            while pos < len(spec) and spec[pos] == ".":  # modifiers like .limit(0)
                mod = _MODIFIER.match(spec, pos)
                if mod is None:
                    close = spec.find(")", pos)
                    pos = close + 1 if close != -1 else len(spec)
                    continue
                out.modifiers.setdefault(name, {})[mod.group(1)] = mod.group(2).strip()
                pos = mod.end()
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
            if isinstance(value.get("data"), list):  # an edge: select within each item
                value = {**value, "data": [{k: v for k, v in item.items() if k in sub}
                                           for item in value["data"]]}
            else:
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
        "from": None if c.from_hidden else _fb_from(c.from_id, c.from_name),
        "parent": {"id": parent.id, "message": parent.message,
                   "created_time": iso_graph(parent.created),
                   "from": None if parent.from_hidden
                   else _fb_from(parent.from_id, parent.from_name)} if parent else None,
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


#: Where an item sorts in an edge: (time, sequence number).  Most items by creation.
Position = Callable[[Any], tuple[float, int]]


def by_creation(item: Any) -> tuple[float, int]:
    return (item.created, item.seq)


def encode_cursor(position: tuple[float, int]) -> str:
    created, seq = position
    return base64.urlsafe_b64encode(f"{created:.3f}:{seq}".encode()).decode()


def decode_cursor(raw: str) -> tuple[float, int]:
    try:
        created, seq = base64.urlsafe_b64decode(raw.encode() + b"==").decode().split(":")
        return float(created), int(seq)
    except (ValueError, UnicodeDecodeError):
        raise graph_error(400, "(#100) Invalid cursor", 100) from None


def graph_page(items: list[Any], request: Request, *, descending: bool, default_limit: int = 25,
               max_limit: int = 100, serialize: Callable[[Any], dict[str, Any]],
               extra: dict[str, Any] | None = None, time_based: bool = False,
               position: Position = by_creation) -> dict[str, Any]:
    """Cursor paging; ``next`` is a full URL with ``access_token`` (facebook-sdk needs it).

    With ``time_based`` (a page's feed, as on the real Graph API) there are no ``cursors``:
    ``next`` carries ``until`` and a ``__paging_token`` that marks the last item shown.
    ``position`` gives the time and sequence number items are sorted, filtered and paged by."""
    try:
        limit = int(arg(request, "limit") or default_limit)
    except ValueError:
        limit = default_limit
    limit = max(1, min(limit, max_limit))

    def key(it: Any) -> tuple[float, int]:
        created, seq = position(it)
        return (round(created, 3), seq)

    def after_of(ck: tuple[float, int], it: Any) -> bool:
        return key(it) < ck if descending else key(it) > ck

    since, until = arg(request, "since"), arg(request, "until")
    try:
        if since:
            lo = parse_time(since)
            items = [it for it in items if position(it)[0] >= lo]
        if until:
            hi = parse_time(until)
            items = [it for it in items if position(it)[0] <= hi]
    except ValueError:
        raise graph_error(400, "(#100) The since/until parameter is not a valid time",
                          100) from None
    after, before = arg(request, "after") or arg(request, "__paging_token"), arg(request, "before")
    if after:
        ck = decode_cursor(after)
        items = [it for it in items if after_of(ck, it)]
        page, more, has_prev = items[:limit], len(items) > limit, True
    elif before:
        ck = decode_cursor(before)
        earlier = [it for it in items if not after_of(ck, it) and key(it) != ck]
        page, more, has_prev = earlier[-limit:], True, len(earlier) > limit
    else:
        page, more, has_prev = items[:limit], len(items) > limit, False
    out: dict[str, Any] = {"data": [serialize(it) for it in page]}
    if page:
        paging: dict[str, Any] = {"cursors": {"before": encode_cursor(key(page[0])),
                                              "after": encode_cursor(key(page[-1]))}}
        base_q = {k: v for k, v in request.query_params.items()
                  if k not in ("after", "before", "__paging_token", "until")}
        base_q["access_token"] = request.state.token or ""
        base_q["limit"] = str(limit)
        url = f"{request.url.scheme}://{request.url.netloc}{request.url.path}?"
        if time_based:
            paging = {}
            if more:
                paging["next"] = url + urlencode({
                    **base_q, "until": str(int(key(page[-1])[0]) + 1),
                    "__paging_token": encode_cursor(key(page[-1]))})
            if has_prev:
                paging["previous"] = url + urlencode({**base_q,
                                                      "before": encode_cursor(key(page[0]))})
        else:
            if until:
                base_q["until"] = until
            if more:
                paging["next"] = url + urlencode({**base_q,
                                                  "after": encode_cursor(key(page[-1]))})
            if has_prev:
                paging["previous"] = url + urlencode({**base_q,
                                                      "before": encode_cursor(key(page[0]))})
        out["paging"] = paging
    if extra:
        out.update(extra)
    return out


FB_POST_DEFAULT = ["id", "message", "created_time"]
FB_COMMENT_DEFAULT = ["id", "message", "created_time", "from"]
IG_MEDIA_DEFAULT = ["id"]
IG_COMMENT_DEFAULT = ["id", "text", "timestamp"]
