"""Messenger and Instagram Direct on the Graph API: the page's conversations and their
messages, and ``POST /{page-id}/messages`` (the Send API, and private replies to comments).

The Send API enforces the messaging windows as Meta does: ``RESPONSE`` (or ``UPDATE``) within
24 h of the customer's last message in the conversation, ``MESSAGE_TAG`` + ``HUMAN_AGENT``
within 7 days, and after a private reply to a comment nothing until the customer answers.
Every message the brand sends is stored in its conversation, so a client that lost the answer
can read the conversation back and find it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from sandbox.errors import ApiError, graph_error
from sandbox.front import arg, json_response
from sandbox.graph_nodes import (
    Fields,
    encode_cursor,
    graph_page,
    parse_fields,
    select_fields,
)
from sandbox.records import (
    FB_PAGE_ID,
    HUMAN_AGENT_WINDOW_SECONDS,
    IG_USER_ID,
    PRIVATE_REPLY_WINDOW_SECONDS,
    RESPONSE_WINDOW_SECONDS,
    Conversation,
    FBComment,
    GraphMessage,
    iso_graph,
)
from sandbox.world import World

MESSAGE_DEFAULT = ["id", "created_time"]
CONVERSATION_DEFAULT = ["id", "updated_time"]
MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
MESSAGE_TAGS = ("ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "HUMAN_AGENT",
                "POST_PURCHASE_UPDATE")
NESTED_DEFAULT_LIMIT = 25


def outside_window() -> ApiError:
    return graph_error(400, "(#10) This message is sent outside of allowed window.", 10,
                       subcode=2018278)


# ------------------------------------------------------------------------------ reading
def message_full(m: GraphMessage, world: World) -> dict[str, Any]:
    return {"id": m.id, "message": m.text, "created_time": iso_graph(m.created),
            "from": world.graph_person(m.from_id, m.platform),
            "to": {"data": [world.graph_person(m.to_id, m.platform)]}}


def _message(m: GraphMessage, world: World, fields: Fields | None) -> dict[str, Any]:
    return select_fields(message_full(m, world), fields, MESSAGE_DEFAULT, "Message")


def _nested_messages(c: Conversation, world: World, request: Request,
                     fields: Fields | None, limit: int) -> dict[str, Any]:
    """The first page of a conversation's messages inside the conversation, newest first;
    ``paging.next`` continues on the conversation's own ``messages`` edge."""
    newest_first = c.messages[::-1]
    page = newest_first[:limit]
    out: dict[str, Any] = {"data": [_message(m, world, fields) for m in page]}
    if page:
        paging: dict[str, Any] = {"cursors": {
            "before": encode_cursor((round(page[0].created, 3), page[0].seq)),
            "after": encode_cursor((round(page[-1].created, 3), page[-1].seq))}}
        if len(newest_first) > limit:
            query = {"access_token": request.state.token or "", "limit": str(limit),
                     "after": paging["cursors"]["after"]}
            if fields:
                query["fields"] = ",".join(fields)
            version = request.path_params.get("version")
            prefix = f"/{version}" if version else ""
            paging["next"] = (f"{request.url.scheme}://{request.url.netloc}{prefix}/{c.id}/"
                              f"messages?{urlencode(query)}")
        out["paging"] = paging
    return out


def _limit(fields: Fields | None, name: str) -> int:
    raw = (fields.modifiers.get(name, {}) if fields is not None else {}).get("limit")
    try:
        return max(1, min(int(raw), 100)) if raw else NESTED_DEFAULT_LIMIT
    except ValueError:
        raise graph_error(400, f"(#100) Invalid limit for {name}", 100) from None


def conversation_node(c: Conversation, world: World, request: Request) -> dict[str, Any]:
    """A conversation with the requested fields; nested ``messages`` are paged themselves."""
    fields = parse_fields(arg(request, "fields"))
    newest = c.messages[-1] if c.messages else None
    full: dict[str, Any] = {
        "id": c.id, "updated_time": iso_graph(c.updated),
        "participants": {"data": [world.graph_person(c.customer_id, c.platform),
                                  world.graph_person(c.brand_id, c.platform)]},
        "message_count": len(c.messages), "unread_count": 0,
        "snippet": newest.text[:100] if newest else "",
        "can_reply": True, "messages": None,
    }
    wanted = fields
    if fields is not None and "messages" in fields:
        full["messages"] = _nested_messages(c, world, request, fields["messages"],
                                            _limit(fields, "messages"))
        wanted = Fields()
        wanted.update(fields)
        wanted["messages"] = None  # already selected inside
    return select_fields(full, wanted, CONVERSATION_DEFAULT, "Conversation")


def conversations_edge(request: Request, world: World, kind: str) -> Response:
    """``GET /{page-id}/conversations?platform=messenger|instagram`` (the IG account's own
    edge lists Instagram), newest updated first, cursor paged; ``user_id`` finds one."""
    platform = arg(request, "platform") or ("instagram" if kind == "ig_user" else "messenger")
    if platform not in ("messenger", "instagram"):
        raise graph_error(400, "(#100) param platform must be one of {MESSENGER, INSTAGRAM}",
                          100)
    user_id = arg(request, "user_id")
    items = [c for c in world.conversations.values() if c.platform == platform and c.messages
             and (user_id is None or c.customer_id == user_id)]
    items.sort(key=lambda c: c.position, reverse=True)
    return json_response(graph_page(items, request, descending=True,
                                    position=lambda c: c.position,
                                    serialize=lambda c: conversation_node(c, world, request)))


def messages_edge(request: Request, world: World, c: Conversation) -> Response:
    """``GET /{conversation-id}/messages``: newest first, cursor paged."""
    fields = parse_fields(arg(request, "fields"))
    return json_response(graph_page(c.messages[::-1], request, descending=True,
                                    serialize=lambda m: _message(m, world, fields)))


def message_node(request: Request, world: World, m: GraphMessage) -> Response:
    return json_response(_message(m, world, parse_fields(arg(request, "fields"))))


# ------------------------------------------------------------------------------ sending
def _json_param(request: Request, name: str) -> dict[str, Any]:
    try:
        value = json.loads(arg(request, name) or "")
    except ValueError:
        raise graph_error(400, "(#100) param recipient and message must be JSON objects",
                          100) from None
    if not isinstance(value, dict):
        raise graph_error(400, f"(#100) param {name} must be an object", 100)
    return value


def _text(message: dict[str, Any], limit: int) -> str:
    text = message.get("text")
    if not isinstance(text, str) or not text.strip():
        raise graph_error(400, "(#100) Message text is required", 100)
    if len(text) > limit:
        raise graph_error(400, "(#100) Length of param message[text] must be less than or "
                          f"equal to {limit}", 100)
    return text


def check_window(c: Conversation, messaging_type: str | None, tag: str | None,
                 now: float) -> None:
    """Raise Meta's answer when the brand may not write to this conversation now."""
    if messaging_type not in MESSAGING_TYPES:
        raise graph_error(400, "(#100) param messaging_type must be one of {RESPONSE, UPDATE, "
                          "MESSAGE_TAG}", 100)
    if messaging_type == "MESSAGE_TAG" and tag not in MESSAGE_TAGS:
        raise graph_error(400, "(#100) param tag must be one of {" + ", ".join(MESSAGE_TAGS)
                          + "}", 100)
    last = c.last_customer_time()
    if c.awaiting_customer or last is None:
        raise outside_window()
    human_agent = messaging_type == "MESSAGE_TAG" and tag == "HUMAN_AGENT"
    window = HUMAN_AGENT_WINDOW_SECONDS if human_agent else RESPONSE_WINDOW_SECONDS
    if now - last > window:
        raise outside_window()


def _send(request: Request, world: World, kind: str, recipient_id: str,
          message: dict[str, Any]) -> Response:
    """The Send API: a message to a customer of an existing conversation, inside the window
    (Instagram Direct takes up to 1000 characters, Messenger 2000)."""
    conversation = world.find_conversation(recipient_id, "instagram" if kind == "ig_user"
                                           else None)
    if conversation is None:
        raise graph_error(400, "(#100) No matching user found", 100, subcode=2018001)
    text = _text(message, 1000 if conversation.platform == "instagram" else 2000)
    messaging_type, tag = arg(request, "messaging_type"), arg(request, "tag")
    check_window(conversation, messaging_type, tag, world.now())
    sent = world.add_graph_message(conversation.id, text, from_brand=True)
    world.record_sent("message", platform=_platform(conversation), id=sent.id, text=text,
                      recipient_id=recipient_id, conversation_id=conversation.id,
                      messaging_type=messaging_type, tag=tag)
    return json_response({"recipient_id": recipient_id, "message_id": sent.id})


def _platform(c: Conversation) -> str:
    """carewatch's platform of a conversation: Messenger belongs to Facebook."""
    return "facebook" if c.platform == "messenger" else "instagram"


def _private_reply(world: World, comment_id: Any, text: str) -> Response:
    """The one private reply to a comment: it lands in the brand's conversation with the
    commenter, who must answer before the brand may write again (unless the customer wrote
    within the last 24 h, when the ordinary window is open anyway)."""
    comment = world.fb_comments.get(str(comment_id)) or world.ig_comments.get(str(comment_id))
    if comment is None or comment.deleted:
        raise graph_error(400, f"(#100) Invalid comment_id {comment_id}: the comment does not "
                          "exist or was deleted", 100, subcode=2018001)
    if comment.from_id in (FB_PAGE_ID, IG_USER_ID):
        raise graph_error(400, "(#100) Cannot send a private reply to your own comment", 100)
    if comment.private_replied:
        raise graph_error(400, "(#10900) Activity already replied to", 10900)
    if world.now() - comment.created > PRIVATE_REPLY_WINDOW_SECONDS:
        raise outside_window()
    comment.private_replied = True
    platform = "messenger" if isinstance(comment, FBComment) else "instagram"
    conversation = world.open_conversation(platform, {"id": comment.from_id})
    last = conversation.last_customer_time()
    window_open = last is not None and world.now() - last <= RESPONSE_WINDOW_SECONDS
    message = world.add_graph_message(conversation.id, text, from_brand=True)
    conversation.awaiting_customer = not window_open
    world.record_sent("private_reply", platform=_platform(conversation), id=message.id,
                      text=text, comment_id=comment.id, recipient_id=comment.from_id,
                      conversation_id=conversation.id)
    return json_response({"recipient_id": comment.from_id, "message_id": message.id})


def post_message(request: Request, world: World, kind: str) -> Response:
    """``POST /{page-id}/messages``: ``recipient={"comment_id"}`` is a private reply,
    ``recipient={"id"}`` the Send API."""
    recipient = _json_param(request, "recipient")
    message = _json_param(request, "message")
    if recipient.get("comment_id") is not None:
        return _private_reply(world, recipient["comment_id"], _text(message, 2000))
    if recipient.get("id") is None:
        raise graph_error(400, "(#100) param recipient must name an id or a comment_id", 100)
    return _send(request, world, kind, str(recipient["id"]), message)
