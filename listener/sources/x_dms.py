"""X direct messages of the brand account (`GET /2/dm_events`, user context).

X lists every DM event of the last 30 days newest first and has no `since_id`, so a poll
pages down from the newest event until it reaches the newest event already stored. The
cursor is never ahead of the stored data:

    mid-run pages:  {"newest_id": <old>, "pending_newest": <newest of this run>,
                     "until_id": <oldest event stored by this run>}
    the final page: {"newest_id": <newest of this run>}

A `pagination_token` may expire and X offers no `until_id` here, so a run cut short starts
again from the top with the old `newest_id`; the events between `until_id` and
`pending_newest` are already stored, so they are passed over rather than written again, and
the upsert on (platform, external_id) makes any other overlap harmless. The first poll looks
back `backfill_days`, never more than the 30 days X keeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import tweepy

from carewatch.domain import Author, Mention, Page, Platform, Visibility, conversation_key
from carewatch.settings import Settings, SourceConfig
from listener.sources.base import BaseSource, parse_time

DM_WINDOW = timedelta(days=30)
DM_EVENT_FIELDS = ["id", "text", "event_type", "dm_conversation_id", "created_at",
                   "sender_id", "participant_ids"]
DM_USER_FIELDS = ["username", "name", "public_metrics"]
PAGE_SIZE = 100


class XDirectMessageSource(BaseSource):
    """`kind = "dms"`: the brand account's one-to-one conversations, as private mentions."""

    def __init__(self, config: SourceConfig, settings: Settings, **kwargs: Any) -> None:
        # The client reads in the brand account's user context (OAuth 1.0a): the `dms` kind
        # `reads_as_user`.
        super().__init__(config, settings, **kwargs)
        self.brand_id = str(config.user_id)

    def _fetch(self, token: str | None) -> tweepy.Response:
        return self.client.get_direct_message_events(
            dm_event_fields=DM_EVENT_FIELDS, event_types="MessageCreate",
            expansions=["sender_id"], user_fields=DM_USER_FIELDS, max_results=PAGE_SIZE,
            pagination_token=token, user_auth=True)

    def poll(self, cursor: dict[str, Any]) -> Iterator[Page]:
        """Every MessageCreate event newer than the stored newest one, newest first."""
        cursor = dict(cursor or {})
        old_newest = int(cursor["newest_id"]) if cursor.get("newest_id") else None
        stored_from = int(cursor.get("until_id") or 0)
        stored_to = int(cursor.get("pending_newest") or 0)
        oldest_time = self.now() - min(DM_WINDOW, timedelta(days=self.config.backfill_days))
        newest_of_run: int | None = None
        token: str | None = None
        while True:
            response = self.call(lambda t=token: self._fetch(t))
            users = {str(u.id): u for u in (response.includes or {}).get("users", [])}
            events = [dict(e.data) for e in (response.data or [])]
            fresh = [e for e in events if old_newest is None or int(e["id"]) > old_newest]
            if old_newest is None:
                fresh = [e for e in fresh if "created_at" not in e
                         or parse_time(e["created_at"]) >= oldest_time]
            if fresh and newest_of_run is None:
                newest_of_run = int(fresh[0]["id"])
            token = (response.meta or {}).get("next_token")
            if token and events and len(fresh) == len(events):
                mentions = [self.to_mention(e, users) for e in fresh
                            if not stored_from <= int(e["id"]) <= stored_to]
                yield Page(mentions, {"newest_id": _text(old_newest),
                                      "pending_newest": _text(newest_of_run),
                                      "until_id": str(min(int(e["id"]) for e in fresh))})
                if self.should_stop():
                    return  # the stored cursor resumes this run next time
                continue
            # The last page, or the page that reached what is already stored.
            final = newest_of_run if newest_of_run is not None else old_newest
            yield Page([self.to_mention(e, users) for e in fresh],
                       {"newest_id": _text(final)})
            return

    def to_mention(self, event: dict[str, Any], users: dict[str, Any]) -> Mention:
        """One MessageCreate event: its conversation is its thread, its sender its author."""
        sender = str(event.get("sender_id") or "")
        user = users.get(sender)
        user_data: dict[str, Any] = dict(user.data) if user is not None else {}
        followers = (user_data.get("public_metrics") or {}).get("followers_count")
        participants = [str(p) for p in event.get("participant_ids") or []]
        other = next((p for p in participants if p != self.brand_id), sender)
        conversation = str(event.get("dm_conversation_id")
                           or conversation_key(self.brand_id, other))
        return Mention(
            platform=Platform.X,
            external_id=str(event["id"]),
            text=str(event.get("text") or ""),
            created_at=(parse_time(event["created_at"]) if event.get("created_at")
                        else self.now()),
            author=Author(platform=Platform.X, external_id=sender,
                          handle=user_data.get("username"), name=user_data.get("name"),
                          followers=int(followers) if followers is not None else None),
            thread_id=conversation,
            is_own=sender == self.brand_id,
            visibility=Visibility.PRIVATE,
            raw=event,
        )


def _text(event_id: int | None) -> str | None:
    return str(event_id) if event_id is not None else None
