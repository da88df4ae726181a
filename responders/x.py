"""X: public replies (`POST /2/tweets`), direct messages that move a case private (`POST
/2/dm_conversations/with/:participant_id/messages`) and messages in a DM conversation that
is going on (`POST /2/dm_conversations/:dm_conversation_id/messages`), through tweepy with
OAuth 1.0a user context. X DMs have no messaging window.

Reconciliation: a public reply is looked up with recent search, `conversation_id:<id>
from:<brand>`, matching the tweet it answers and the text. A direct message is looked up in
the 1-1 conversation's events (`GET /2/dm_conversations/with/:participant_id/dm_events`, or
`/2/dm_conversations/:dm_conversation_id/dm_events`, newest first): a `MessageCreate` the
brand sent with the same text, created after the reply was queued, is the earlier attempt's
DM, so after a 5xx, a timeout or a crash a DM is looked up before it is resent and goes out
exactly once, like a public reply.

Residual risk: an app without DM read access (X answers the lookup 403) cannot check, so
`find_existing` raises `Unverifiable` and the outbox fails such a DM with a reason rather
than risk sending it twice, whatever the doubt (a 5xx too: it may come after the write). A
lookup X answers 404 (the conversation or the person is gone) fails the reply with that
reason. And a DM with the same text sent by hand to the same person since the reply was
queued would be taken for ours.

A resend of a public reply that X refuses as "duplicate content" raises `DuplicateContent`:
after an uncertain attempt the tweet X compares it with is most likely ours, which the
search index had not shown yet, so the outbox looks once more.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import tweepy

from carewatch.errors import PermanentError
from carewatch.platforms.x import X
from carewatch.retry import classify
from carewatch.settings import Settings
from responders.base import (
    CLOCK_SKEW,
    MESSAGE,
    MESSAGE_LOOKUP_PAGES,
    PUBLIC_KINDS,
    DuplicateContent,
    MentionInfo,
    OutboundReply,
    SentRef,
    Unverifiable,
    same_text,
)

#: How X words its refusal of a tweet whose text the account already posted.
DUPLICATE = "duplicate content"


class XSender:
    """Sends as the brand account whose user-context keys are configured."""

    platform = "x"
    brand_id_attr = "user_id"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: tweepy.Client | None = None

    @property
    def client(self) -> tweepy.Client:
        if self._client is None:
            self._client = X.client(self.settings, writing=True)
        return self._client

    @staticmethod
    def target(kind: str, mention: MentionInfo) -> str:
        """A direct message goes to the author's account, a message in a DM conversation to
        the conversation (its id is the thread of the customer's message); a reply to the
        tweet itself."""
        if kind == "private":
            return mention.author_external_id or ""
        if kind == MESSAGE:
            return mention.thread_id or ""
        return mention.external_id

    def _brand(self) -> str:
        """`from:` takes a handle or a numeric id: the brand's configured handle or id."""
        for source in self.settings.sources:
            if source.platform.value == "x" and source.user_id:
                return source.user_id
        handles = self.settings.brand.handles
        if handles:
            return handles[0]
        raise Unverifiable("no brand handle configured ([brand] handles) to search replies by")

    def send(self, reply: OutboundReply, mention: MentionInfo) -> SentRef:
        try:
            if reply.kind in PUBLIC_KINDS:
                resp = self.client.create_tweet(text=reply.text,
                                                in_reply_to_tweet_id=reply.target_id,
                                                user_auth=True)
                return SentRef(str(resp.data["id"]), reply.target_id)
            resp = self.client.create_direct_message(**self._dm_where(reply),
                                                     text=reply.text, user_auth=True)
            return SentRef(str(resp.data["dm_event_id"]), reply.target_id,
                           conversation_ref=str(resp.data["dm_conversation_id"]))
        except tweepy.Forbidden as exc:
            if reply.kind in PUBLIC_KINDS and any(
                    DUPLICATE in str(m).lower() for m in exc.api_messages or []):
                raise DuplicateContent(
                    "X refused the reply as a duplicate of a tweet the brand already posted "
                    "(X 403 duplicate content)", code=403) from exc
            if reply.kind != "public":
                who = f"@{mention.author_handle}" if mention.author_handle else "this user"
                raise PermanentError(
                    f"{who} does not accept direct messages from the brand (X 403); "
                    "answer publicly or ask them to follow the brand or open their DMs",
                    code=403) from exc
            raise classify(exc, platform="X") from exc
        except tweepy.BadRequest as exc:
            detail = "; ".join(str(m) for m in (exc.api_messages or []))
            if "deleted" in detail or "not visible" in detail:
                raise PermanentError(
                    f"the tweet {reply.target_id} was deleted or is no longer visible; "
                    "nothing was sent", code=400) from exc
            raise classify(exc, platform="X") from exc

    def find_existing(self, reply: OutboundReply, mention: MentionInfo) -> list[SentRef]:
        if reply.kind in PUBLIC_KINDS:
            return self._find_tweet(reply, mention)
        return self._find_dm(reply, mention)

    @staticmethod
    def _dm_where(reply: OutboundReply) -> dict[str, str]:
        """Where a DM goes, as tweepy names it: the conversation of a message, else the
        customer (X opens or continues the one-to-one conversation)."""
        if reply.kind == MESSAGE:
            return {"dm_conversation_id": reply.target_id}
        return {"participant_id": reply.target_id}

    def _find_tweet(self, reply: OutboundReply, mention: MentionInfo) -> list[SentRef]:
        conversation = mention.thread_id or reply.target_id
        resp = self.client.search_recent_tweets(
            query=f"conversation_id:{conversation} from:{self._brand()}", max_results=100,
            tweet_fields=["conversation_id", "referenced_tweets", "created_at"],
            user_auth=True,
        )
        found: list[SentRef] = []
        for tweet in resp.data or []:
            replied_to = {str(r.id) for r in (tweet.referenced_tweets or [])
                          if r.type == "replied_to"}
            if replied_to and reply.target_id not in replied_to:
                continue
            if tweet.created_at and tweet.created_at < reply.queued_at - timedelta(minutes=5):
                continue
            if same_text(tweet.text, reply.text):
                found.append(SentRef(str(tweet.id), reply.target_id, reconciled=True,
                                     note="found in the conversation after an uncertain "
                                          "attempt"))
        return found

    def _find_dm(self, reply: OutboundReply, mention: MentionInfo) -> list[SentRef]:
        """The brand's DM to the customer with this text, sent since the reply was queued.

        Events come newest first, so paging stops at the first event older than the reply
        (minus clock skew): nothing before it can be an attempt of this reply.
        """
        customer = mention.author_external_id or reply.target_id
        oldest = reply.queued_at - CLOCK_SKEW
        token: str | None = None
        found: list[SentRef] = []
        for _ in range(MESSAGE_LOOKUP_PAGES):
            try:
                resp = self.client.get_direct_message_events(
                    **self._dm_where(reply), event_types="MessageCreate",
                    dm_event_fields=["id", "text", "event_type", "created_at", "sender_id",
                                     "dm_conversation_id"],
                    max_results=100, pagination_token=token, user_auth=True,
                )
            except tweepy.Forbidden as exc:
                raise Unverifiable(
                    "X offers this account no way to read sent direct messages",
                    blind_resend=False) from exc
            except tweepy.NotFound as exc:
                raise PermanentError(
                    "X no longer knows the direct message conversation (X 404)",
                    code=404) from exc
            except tweepy.HTTPException as exc:
                raise classify(exc, platform="X") from exc
            for event in resp.data or []:
                created = _get(event, "created_at")
                if created is not None and created < oldest:
                    return found  # older than the reply: the rest are older still
                if (_get(event, "event_type") or "MessageCreate") != "MessageCreate":
                    continue
                if str(_get(event, "sender_id") or "") == customer:
                    continue  # the customer's message, not ours
                if same_text(str(_get(event, "text") or ""), reply.text):
                    conversation = _get(event, "dm_conversation_id")
                    found.append(SentRef(
                        str(_get(event, "id")), reply.target_id, reconciled=True,
                        note="found in the DM conversation after an uncertain attempt",
                        conversation_ref=str(conversation) if conversation else None))
            token = (resp.meta or {}).get("next_token")
            if not token:
                break
        return found


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


SENDER = XSender
