"""X direct messages: the acting user's DM events (all, one conversation, or with one
participant) and sending into a one-to-one conversation by its id or by the participant.

A one-to-one conversation is named ``"<smaller user id>-<larger user id>"``; the five routes
read and write the same events, so a message sent one way is read back every other way.
DM routes act for a user (OAuth 1.0a): an app-only bearer token is refused as X refuses it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.errors import ApiError, x_invalid, x_problem
from sandbox.front import body_dict, json_response
from sandbox.records import DMEvent
from sandbox.world import World
from sandbox.x_payload import (
    csv_set,
    decode_token,
    encode_token,
    int_param,
    required_text,
    user_context_id,
)

#: ``dm_event.fields`` X accepts (the sandbox fills id, event_type, text, sender_id,
#: dm_conversation_id, created_at and participant_ids; the others have no value here).
DM_EVENT_FIELDS = ("attachments", "created_at", "dm_conversation_id", "event_type", "id",
                   "participant_ids", "referenced_tweets", "sender_id", "text")
DM_EVENT_TYPES = ("MessageCreate", "ParticipantsJoin", "ParticipantsLeave")
DM_EXPANSIONS = ("attachments.media_keys", "participant_ids", "referenced_tweets.id",
                 "sender_id")


def _require_user_context(request: Request) -> None:
    """DM endpoints act for a user: an app-only bearer token is refused with X's 403."""
    if not request.headers.get("authorization", "").lower().startswith("oauth "):
        raise x_problem(
            403, "Unsupported Authentication",
            "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  "
            "Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User "
            "Context].", "https://api.twitter.com/2/problems/unsupported-authentication")


def _require_lookup_access(world: World) -> None:
    """An app without DM read access (Basic tier) gets X's client-not-enrolled 403."""
    if not world.x_dm_lookup:
        raise ApiError(403, {
            "client_id": "sandbox", "required_enrollment": "Appropriate Level of API Access",
            "registration_url": "https://developer.x.com/en/portal/product",
            "title": "Client Forbidden", "reason": "client-not-enrolled",
            "detail": "When authenticating requests to the Twitter API v2 endpoints, you must "
                      "use keys and tokens from a Twitter developer App that is attached to a "
                      "Project. You can create a project via the developer portal.",
            "type": "https://api.twitter.com/2/problems/client-forbidden"})


def _enum_csv(request: Request, name: str, allowed: tuple[str, ...]) -> set[str]:
    values = csv_set(request.query_params.get(name))
    for value in sorted(values):
        if value not in allowed:
            raise x_invalid(name, value, f"The `{name}` query parameter value [{value}] is not "
                                         f"one of [{','.join(allowed)}]")
    return values


def _other_participant(request: Request, world: World) -> str:
    """The acting user's counterpart in the ``:dm_conversation_id`` of the path."""
    conversation_id = request.path_params["conversation_id"]
    me = user_context_id(request, world)
    ids = conversation_id.split("-")
    if me not in ids:
        raise x_problem(403, "Forbidden", "You are not a participant of this conversation.",
                        "https://api.twitter.com/2/problems/dm-permissions")
    others = [i for i in ids if i != me]
    return others[0] if others else me


def _events_page(request: Request, world: World, events: list[DMEvent]) -> Response:
    """Newest-first events with fields, type filter, expansions and an opaque paging token."""
    fields = _enum_csv(request, "dm_event.fields", DM_EVENT_FIELDS)
    types = _enum_csv(request, "event_types", DM_EVENT_TYPES)
    expansions = _enum_csv(request, "expansions", DM_EXPANSIONS)
    max_results = int_param(request.query_params, "max_results", 100, 1, 100)
    token = request.query_params.get("pagination_token")
    before = decode_token("pagination_token", token) if token else None
    selected = [e for e in events if (not types or e.event_type in types)
                and (before is None or e.id < before)]
    page = selected[:max_results]
    if not page:
        return json_response({"meta": {"result_count": 0}})
    out: dict[str, Any] = {"data": [e.to_api(fields) for e in page]}
    user_ids: list[str] = []
    for event in page:
        if "sender_id" in expansions:
            user_ids.append(event.sender_id)
        if "participant_ids" in expansions:
            user_ids += [event.sender_id, event.participant_id]
    if user_ids:
        user_fields = csv_set(request.query_params.get("user.fields"))
        out["includes"] = {"users": [world.x_users[u].to_api(user_fields)
                                     for u in dict.fromkeys(user_ids) if u in world.x_users]}
    meta: dict[str, Any] = {"result_count": len(page)}
    if len(selected) > max_results:
        meta["next_token"] = encode_token(page[-1].id)
    out["meta"] = meta
    return json_response(out)


def _lookup(request: Request, world: World, other: str | None) -> Response:
    _require_user_context(request)
    _require_lookup_access(world)
    with world.lock:
        me = user_context_id(request, world)
        events = (world.dm_conversation(me, other) if other is not None
                  else world.dm_events_of(me))
        return _events_page(request, world, events)


def x_dm_events(request: Request, world: World) -> Response:
    """``GET /2/dm_events``: every DM event of the acting user, newest first."""
    return _lookup(request, world, None)


def x_dm_events_with(request: Request, world: World) -> Response:
    """``GET /2/dm_conversations/with/:participant_id/dm_events``."""
    return _lookup(request, world, request.path_params["id"])


def x_dm_events_in(request: Request, world: World) -> Response:
    """``GET /2/dm_conversations/:dm_conversation_id/dm_events``."""
    _require_user_context(request)
    return _lookup(request, world, _other_participant(request, world))


def _send(request: Request, world: World, participant: str) -> Response:
    text = required_text(body_dict(request))
    if len(text) > 10_000:
        raise x_invalid("text", text[:40], "The `text` field is too long (10000 maximum)")
    with world.lock:
        user = world.x_users.get(participant)
        if user is None:
            raise x_invalid("participant_id", participant,
                            f"The `participant_id` [{participant}] is not a valid user")
        if not user.dms_open:
            raise x_problem(403, "Forbidden",
                            "You are not permitted to send a message to this user.",
                            "https://api.twitter.com/2/problems/dm-permissions")
        event = world.add_dm(user_context_id(request, world), participant, text)
        world.record_sent("x_dm", platform="x", id=str(event.id), text=text,
                          participant_id=participant, sender_id=event.sender_id,
                          dm_conversation_id=event.conversation_id)
    return json_response({"data": {"dm_conversation_id": event.conversation_id,
                                   "dm_event_id": str(event.id)}}, 201)


def x_dm_with(request: Request, world: World) -> Response:
    """``POST /2/dm_conversations/with/:participant_id/messages``: starts or continues the
    one-to-one conversation."""
    _require_user_context(request)
    return _send(request, world, request.path_params["id"])


def x_dm_in(request: Request, world: World) -> Response:
    """``POST /2/dm_conversations/:dm_conversation_id/messages``."""
    _require_user_context(request)
    with world.lock:
        other = _other_participant(request, world)
    return _send(request, world, other)
