"""Messenger and Instagram Direct: a page's conversations, read the same way for both
(`GET /{page-id}/conversations?platform=messenger|instagram`, through the linked page).

Conversations come newest updated first, each with its newest messages nested (newest first,
paged themselves). A poll reads conversations until one was not updated since the cursor,
takes the nested messages newer than it and, when the nested page is full and still newer,
pages the rest through `GET /{conversation-id}/messages`. The cursor is one time:

    {"updated": <epoch of the newest conversation update the poll has stored>}

Mid-run pages carry the old value, so a run cut short reads the same conversations again
(the upsert dedupes) and only the final page moves the cursor. Graph times have one-second
precision and a message can become visible late, so each poll looks back `OVERLAP_SECONDS`
before the cursor; the first poll looks back `backfill_days`.

Calls per poll: one per page of `CONVERSATION_PAGE` conversations updated since the cursor,
plus, for a conversation with more than `NESTED_MESSAGES` new messages, one per further
`MESSAGE_PAGE` messages: with up to 25 new messages a conversation costs 1/25 of a call.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from carewatch.domain import (
    UNKNOWN_AUTHOR_ID,
    Author,
    Mention,
    Page,
    Platform,
    Visibility,
    conversation_key,
)
from carewatch.settings import Settings, SourceConfig
from listener.sources.base import epoch, parse_time
from listener.sources.graph import GraphSource

OVERLAP_SECONDS = 300
CONVERSATION_PAGE = 25
#: Graph's default size of the nested `messages` page.
NESTED_MESSAGES = 25
MESSAGE_PAGE = 100
MESSAGE_FIELDS = "id,message,from,to,created_time"
CONVERSATION_FIELDS = f"id,updated_time,participants,messages{{{MESSAGE_FIELDS}}}"


class ConversationsSource(GraphSource):
    """The conversations of one page on one messaging platform, as private mentions."""

    #: The `platform` parameter of the conversations edge.
    channel = "messenger"
    #: carewatch's platform of the messages (Messenger belongs to Facebook).
    platform = Platform.FACEBOOK

    def __init__(self, config: SourceConfig, settings: Settings, **kwargs: Any) -> None:
        super().__init__(config, settings, **kwargs)
        self.page_id = str(config.page_id)

    @property
    def brand_id(self) -> str:
        """The brand's side of every conversation (the conversation key is made with it)."""
        return self.page_id

    def poll(self, cursor: dict[str, Any]) -> Iterator[Page]:
        stored = int(cursor["updated"]) if (cursor or {}).get("updated") else None
        since = (stored - OVERLAP_SECONDS if stored is not None
                 else epoch(self.now() - timedelta(days=self.config.backfill_days)))
        unchanged: dict[str, Any] = {"updated": stored} if stored is not None else {}
        newest = stored
        for batch in self.paging.pages(self.page_id, "conversations", platform=self.channel,
                                       fields=CONVERSATION_FIELDS, limit=CONVERSATION_PAGE):
            for conversation in batch:
                updated = epoch(parse_time(conversation["updated_time"]))
                if updated < since:
                    # Newest updated first: every conversation after this one is older too.
                    yield Page([], {"updated": newest} if newest is not None else unchanged)
                    return
                newest = max(newest or updated, updated)
                mentions = self.new_messages(conversation, since)
                if mentions:
                    yield Page(mentions, unchanged)
                if self.should_stop():
                    return  # the stored cursor reads these conversations again next time
        yield Page([], {"updated": newest} if newest is not None else unchanged)

    def new_messages(self, conversation: dict[str, Any], since: int) -> list[Mention]:
        """The conversation's messages created at `since` or later, as mentions."""
        conversation_id = str(conversation["id"])
        nested = conversation.get("messages") or {}
        messages = list(nested.get("data") or [])
        fresh = [m for m in messages if epoch(parse_time(m["created_time"])) >= since]
        after = ((nested.get("paging") or {}).get("cursors") or {}).get("after")
        if messages and len(fresh) == len(messages) and (nested.get("paging") or {}).get(
                "next") and after:
            for batch in self.paging.pages(conversation_id, "messages", fields=MESSAGE_FIELDS,
                                           limit=MESSAGE_PAGE, after=after):
                newer = [m for m in batch if epoch(parse_time(m["created_time"])) >= since]
                fresh.extend(newer)
                if len(newer) < len(batch):
                    break  # newest first: the rest is older still
        customer = self._customer_id(conversation, fresh)
        thread = conversation_key(self.brand_id, customer)
        return [self.to_mention(m, thread, conversation_id) for m in fresh]

    def _customer_id(self, conversation: dict[str, Any],
                     messages: list[dict[str, Any]]) -> str:
        """The other participant (a PSID or IGSID), from the participants or the messages."""
        people = list((conversation.get("participants") or {}).get("data") or [])
        for message in messages:
            people.append(message.get("from") or {})
            people.extend((message.get("to") or {}).get("data") or [])
        ids = (str(p.get("id")) for p in people if p.get("id"))
        return next((i for i in ids if not self._is_brand(i)), "unknown")

    def _is_brand(self, account_id: str) -> bool:
        return account_id in (self.page_id, self.brand_id)

    def author(self, sender: dict[str, Any]) -> Author:
        """Messenger names people (they have no handle)."""
        return Author(platform=self.platform,
                      external_id=str(sender.get("id") or UNKNOWN_AUTHOR_ID),
                      name=sender.get("name"))

    def to_mention(self, message: dict[str, Any], thread: str,
                   conversation_id: str) -> Mention:
        """One message: its conversation is its thread, its sender its author; the brand's
        own messages (sent by carewatch or from the platform's own apps) are context."""
        author = self.author(message.get("from") or {})
        return Mention(
            platform=self.platform,
            external_id=str(message["id"]),
            text=str(message.get("message") or ""),
            created_at=parse_time(message["created_time"]),
            author=author,
            thread_id=thread,
            is_own=self._is_brand(author.external_id),
            visibility=Visibility.PRIVATE,
            raw={**message, "conversation_id": conversation_id},
        )


class MessengerSource(ConversationsSource):
    """`kind = "messenger"`: the Facebook page's Messenger conversations."""


class InstagramDirectSource(ConversationsSource):
    """`kind = "direct"`: the Instagram professional account's Direct conversations, read
    through its linked page; the brand's side is the Instagram account."""

    channel = "instagram"
    platform = Platform.INSTAGRAM

    @property
    def brand_id(self) -> str:
        return str(self.config.ig_user_id)

    def author(self, sender: dict[str, Any]) -> Author:
        """Instagram people have a username, which is their handle."""
        return Author(platform=self.platform,
                      external_id=str(sender.get("id") or UNKNOWN_AUTHOR_ID),
                      handle=sender.get("username"))
