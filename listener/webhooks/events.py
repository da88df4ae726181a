"""A Meta webhook delivery → the domain mentions a poll of the same items produces.

Messenger and Instagram Direct `messaging` events become private mentions in the one-to-one
conversation of the brand account and the customer (`conversation_key`), authored by the
sender, the brand's echoes as its own; page `feed` comments and Instagram `comments` go
through the sources' own comment mapping, so a delivered item and the next poll of it upsert
one row. Mentions are grouped by the configured source they belong to (its key), else by
`webhooks:<object>`. Events that carry nothing to store (reads, reactions, edits, other
fields) are listed in `Delivery.ignored`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from carewatch.domain import Author, Mention, Platform, Visibility, conversation_key
from carewatch.settings import Settings
from listener.sources import facebook, instagram
from listener.sources.base import parse_time

OBJECTS = {"page": Platform.FACEBOOK, "instagram": Platform.INSTAGRAM}

# (object, what the entry carries) -> the source that polls the same items: its platform,
# kind and the field naming the account the entry's `id` is.
_SOURCES: dict[tuple[str, str], tuple[Platform, str, str]] = {
    ("page", "messaging"): (Platform.FACEBOOK, "messenger", "page_id"),
    ("instagram", "messaging"): (Platform.INSTAGRAM, "direct", "ig_user_id"),
    ("page", "feed"): (Platform.FACEBOOK, "page", "page_id"),
    ("instagram", "comments"): (Platform.INSTAGRAM, "media", "ig_user_id"),
}


class BadDelivery(ValueError):
    """A body that is not a Meta webhook delivery carewatch understands. `reason` is a short
    code for the log (never the body), `status` the HTTP answer."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(slots=True)
class Delivery:
    """What one delivery asks carewatch to store."""

    object: str
    batches: dict[str, list[Mention]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)

    def add(self, source_key: str, mention: Mention) -> None:
        self.batches.setdefault(source_key, []).append(mention)

    @property
    def count(self) -> int:
        return sum(len(batch) for batch in self.batches.values())


def parse_delivery(raw: bytes, settings: Settings) -> Delivery:
    """The mentions in a signed delivery body; raises `BadDelivery` for malformed JSON (400),
    an `object` other than `page` or `instagram` (422) or entries of the wrong shape (400)."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        # RecursionError: nesting deeper than the parser's stack, e.g. 100,000 `[`s
        raise BadDelivery("malformed_json") from None
    if not isinstance(body, dict):
        raise BadDelivery("malformed_json")
    obj = body.get("object")
    if obj not in OBJECTS:
        raise BadDelivery("unknown_object", status=422)
    entries = body.get("entry")
    if not isinstance(entries, list):
        raise BadDelivery("malformed_entry")
    delivery = Delivery(object=str(obj))
    try:
        for entry in entries:
            _read_entry(delivery, entry, settings)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, OSError):
        # OverflowError, OSError: a time no datetime can hold (epoch 1e20, -1e18)
        raise BadDelivery("malformed_entry") from None
    return delivery


def source_key(settings: Settings, obj: str, carries: str, account_id: str) -> str:
    """The key of the configured source that polls what this entry carries for this account,
    so webhook and poll share the source's health and counts; else `webhooks:<object>`."""
    platform, kind, account_field = _SOURCES[(obj, carries)]
    for config in settings.sources:
        if (config.platform == platform and config.kind == kind
                and str(getattr(config, account_field) or "") == account_id):
            return config.key
    return f"webhooks:{obj}"


def _read_entry(delivery: Delivery, entry: dict[str, Any], settings: Settings) -> None:
    obj = delivery.object
    account_id = str(entry["id"])
    for event in entry.get("messaging") or []:
        mention = message_mention(OBJECTS[obj], account_id, event, entry)
        if mention is None:
            delivery.ignored.append("messaging:" + _event_kind(event))
        else:
            delivery.add(source_key(settings, obj, "messaging", account_id), mention)
    for change in entry.get("changes") or []:
        what = str(change.get("field"))[:40]
        value = change["value"]
        if obj == "page" and what == "feed":
            mention = feed_mention(account_id, entry, value)
        elif obj == "instagram" and what == "comments":
            mention = instagram_comment_mention(account_id, entry, value, settings)
        else:
            mention = None
        if mention is None:
            item, verb = (str(value.get(k, ""))[:20] for k in ("item", "verb"))
            delivery.ignored.append(f"{what}:{item}:{verb}")
        else:
            delivery.add(source_key(settings, obj, what, account_id), mention)


def _event_kind(event: dict[str, Any]) -> str:
    known = ("delivery", "read", "reaction", "postback", "referral", "message_edit")
    return next((k for k in known if k in event), "other")


def message_mention(platform: Platform, brand_id: str, event: dict[str, Any],
                    entry: dict[str, Any] | None = None) -> Mention | None:
    """A Messenger or Instagram Direct message event, or None for events that are not a new
    message. An echo (`is_echo`) is the brand's own message: its sender is the brand and the
    customer is the recipient."""
    message = event.get("message")
    if not isinstance(message, dict) or not message.get("mid"):
        return None
    sender = str(event["sender"]["id"])
    own = bool(message.get("is_echo"))
    customer = str(event["recipient"]["id"]) if own else sender
    return Mention(
        platform=platform, external_id=str(message["mid"]), text=_text(message.get("text")),
        created_at=_time(_when(event.get("timestamp"), entry)),
        author=Author(platform=platform, external_id=sender),
        thread_id=conversation_key(brand_id, customer), parent_id=None, is_own=own,
        visibility=Visibility.PRIVATE, raw=event,
    )


#: `feed` items that are a post on the page (a visitor's, or the page's own as context).
POST_ITEMS = frozenset({"post", "status", "photo", "video", "share", "link"})


def feed_mention(page_id: str, entry: dict[str, Any], value: dict[str, Any]) -> Mention | None:
    """A new post, comment or reply on the page (`feed`, verb `add`); None for other items
    and verbs (reactions, edits, removals)."""
    if value.get("verb") != "add":
        return None
    if value.get("item") == "comment":
        return feed_comment_mention(page_id, value, entry)
    if value.get("item") in POST_ITEMS:
        return feed_post_mention(page_id, value, entry)
    return None


def feed_post_mention(page_id: str, value: dict[str, Any],
                      entry: dict[str, Any] | None = None) -> Mention:
    """A new post on the page (a visitor post is a mention; the page's own is context),
    mapped as the page source maps a polled post, so the next poll upserts the same row."""
    post = {"id": str(value["post_id"]), "message": _text(value.get("message")),
            "from": value.get("from"), "permalink_url": value.get("permalink_url"),
            "created_time": _time(_when(value.get("created_time"), entry))}
    return replace(facebook.post_mention(post, page_id=page_id), raw=value)


def feed_comment_mention(page_id: str, value: dict[str, Any],
                         entry: dict[str, Any] | None = None) -> Mention:
    """A new comment or reply on the page (`feed`, item `comment`, verb `add`: `feed_mention`
    checked both); a top-level comment's `parent_id` is its post, as Graph sends it."""
    post_id = str(value["post_id"])
    parent = value.get("parent_id")
    comment = {
        "id": value["comment_id"], "message": _text(value.get("message")),
        "from": value.get("from"),
        "created_time": _time(_when(value.get("created_time"), entry)),
        "parent": {"id": str(parent)} if parent and str(parent) != post_id else None,
    }
    mention = facebook.comment_mention(comment, post_id, None, page_id=page_id)
    return replace(mention, raw=value)


def instagram_comment_mention(ig_user_id: str, entry: dict[str, Any], value: dict[str, Any],
                              settings: Settings) -> Mention:
    """A new comment or reply on the account's media (`comments`); it carries no time of its
    own, so the entry's time is the comment's."""
    frm = value.get("from") or {}
    comment = {"id": value["id"], "text": _text(value.get("text")), "from": frm,
               "username": frm.get("username"),
               "timestamp": _time(_when(value.get("timestamp"), entry))}
    parent = value.get("parent_id")
    mention = instagram.comment_mention(
        comment, str(value["media"]["id"]), None, parent_id=str(parent) if parent else None,
        ig_user_id=ig_user_id, brand_handles={h.lower() for h in settings.brand.handles})
    return replace(mention, raw=value)


def _text(value: Any) -> str:
    """A message or comment text: a string, or absent (an attachment, a sticker); anything
    else is a malformed delivery (TypeError), never a row the scorer or database chokes on."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError("text is not a string")
    return value


def _when(value: Any, entry: dict[str, Any] | None) -> Any:
    """An event's own time, else its entry's, else now (a delivery is news as it arrives):
    a delivery without a time is still stored, never refused for it."""
    if value not in (None, ""):
        return value
    if entry is not None and entry.get("time") not in (None, ""):
        return entry["time"]
    return datetime.now(UTC)


def _time(value: Any) -> datetime:
    """A webhook time: epoch milliseconds (messaging), epoch seconds (entries, feed) or, in
    some fields, Graph's ISO form."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float) or str(value).isdigit():
        number = int(value)
        return datetime.fromtimestamp(number / 1000 if number > 10**11 else number, UTC)
    return parse_time(value)
