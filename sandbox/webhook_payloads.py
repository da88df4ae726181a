"""Meta webhook bodies for what the world stores: Messenger and Instagram Direct messages
(``messaging``, the brand's own with ``is_echo``), new Facebook comments (``changes`` field
``feed``) and new comments on the brand's Instagram media (``changes`` field ``comments``).

Shapes follow Meta's: a messaging entry's ``time`` and ``timestamp`` are milliseconds, a
``changes`` entry's ``time`` and a feed comment's ``created_time`` are epoch seconds, and a
top-level Facebook comment's ``parent_id`` is its post's id.
"""

from __future__ import annotations

from typing import Any

from sandbox.records import (
    FB_PAGE_ID,
    IG_USER_ID,
    FBComment,
    GraphMessage,
    IGComment,
)
from sandbox.world import MESSAGING_BRANDS, World

Body = dict[str, Any]


def messaging_body(m: GraphMessage) -> Body:
    brand = MESSAGING_BRANDS[m.platform]
    message: dict[str, Any] = {"mid": m.id, "text": m.text}
    if m.from_id == brand:
        message["is_echo"] = True
    ms = int(m.created * 1000)
    return {"object": "page" if m.platform == "messenger" else "instagram",
            "entry": [{"id": brand, "time": ms, "messaging": [{
                "sender": {"id": m.from_id}, "recipient": {"id": m.to_id},
                "timestamp": ms, "message": message}]}]}


def feed_body(c: FBComment) -> Body:
    return {"object": "page", "entry": [{"id": FB_PAGE_ID, "time": int(c.created), "changes": [{
        "field": "feed",
        "value": {"item": "comment", "verb": "add", "comment_id": c.id, "post_id": c.post_id,
                  "parent_id": c.parent_id or c.post_id,
                  "from": {"id": c.from_id, "name": c.from_name}, "message": c.message,
                  "created_time": int(c.created)}}]}]}


def ig_comment_body(c: IGComment) -> Body:
    value: dict[str, Any] = {"from": {"id": c.from_id, "username": c.username},
                             "media": {"id": c.media_id, "media_product_type": "FEED"},
                             "id": c.id, "text": c.text}
    if c.parent_id is not None:
        value["parent_id"] = c.parent_id
    return {"object": "instagram", "entry": [{"id": IG_USER_ID, "time": int(c.created),
                                              "changes": [{"field": "comments",
                                                           "value": value}]}]}


def body_for(world: World, event: str, record: Any) -> Body | None:
    """The webhook body Meta would send for a world event, or None when it sends none
    (X events, writes, the brand's own Instagram comments, comments on others' media)."""
    if event == "graph_message":
        return messaging_body(record)
    if event == "fb_comment":
        return feed_body(record)
    if event == "ig_comment":
        media = world.ig_media.get(record.media_id)
        if media is None or media.tagged or record.from_id == IG_USER_ID:
            return None
        return ig_comment_body(record)
    return None
