"""Facebook: comment replies (`POST /{comment-id}/comments`), private replies (`POST
/{page-id}/messages` with `recipient={"comment_id": ...}`) and Messenger messages in a
conversation that is going on (the same call with `recipient={"id": PSID}` and the window's
`messaging_type`/`tag`), through facebook-sdk.

Facebook nests comments one level deep, so a reply to a reply goes to the top-level comment.
Reconciliation: a public reply is looked up among the target's comments, from the page, with
the same text; a Messenger message in the conversation's messages. Sent private replies
cannot be read back; a resend after an uncertain attempt is answered with code 10900
("already replied"), which the outbox records as sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import facebook

from carewatch.errors import MissingCredentials, PermanentError
from carewatch.graph_paging import next_page_params
from carewatch.retry import classify
from responders.base import (
    MESSAGE,
    PUBLIC_KINDS,
    AlreadyReplied,
    GraphSender,
    MentionInfo,
    OutboundReply,
    SentRef,
    Unverifiable,
    same_text,
)

MAX_PAGES = 10


def public_target(mention: MentionInfo) -> str:
    """Where a public answer goes: the top-level comment of a reply, else the item itself
    (a comment, or a visitor post when the mention is the post)."""
    parent = (mention.raw or {}).get("parent")
    if isinstance(parent, dict) and parent.get("id"):
        return str(parent["id"])
    if isinstance(parent, str) and parent:
        return parent
    if mention.parent_id and mention.parent_id != mention.thread_id:
        return mention.parent_id
    return mention.external_id


def is_post(mention: MentionInfo) -> bool:
    """The mention is the post that starts its thread (a visitor post), not a comment."""
    return bool(mention.thread_id) and mention.thread_id == mention.external_id


def graph_error(exc: BaseException, *, platform: str, account: str = "", kind: str = "",
                conversation_ref: str | None = None) -> Exception:
    """Graph errors in words an agent understands, with the permanent ones named. `kind`:
    the reply kind sent (a closed window means something else for a message than for a
    private reply); `conversation_ref`: where a private reply that was already sent went.
    Missing credentials stay themselves: the outbox names the variable to set (they used to
    read "Facebook call failed: MissingCredentials")."""
    if isinstance(exc, MissingCredentials):
        return exc
    if isinstance(exc, facebook.GraphAPIError):
        result = getattr(exc, "result", None)
        err = result.get("error", {}) if isinstance(result, dict) else {}
        code = err.get("code", getattr(exc, "code", None))
        subcode = err.get("error_subcode")
        message = str(err.get("message") or exc)
        if code == 10900:
            already = AlreadyReplied(
                "this comment already got its one private reply (Graph 10900); "
                "continue in the conversation the customer opened", code=10900)
            already.conversation_ref = conversation_ref
            return already
        if (code == 10 or subcode == 2018278) and kind == MESSAGE:
            return PermanentError(
                f"{platform} refused the message: the messaging window of this conversation "
                "is closed (Graph 10/2018278); nothing was sent, and the brand can write "
                "again once the customer does", code=code)
        if code == 10 or subcode == 2018278:
            return PermanentError(
                "the window for a private reply has passed (comments older than 7 days "
                "cannot be answered privately); answer publicly instead", code=code)
        if code == 100 and (subcode in (2018001, 33) or "does not exist" in message
                            or "nonexisting" in message.lower()):
            return PermanentError(
                f"the {platform} comment was deleted or is no longer visible; nothing was sent",
                code=code)
    return classify(exc, platform=platform, account=account)


def iter_edge(graph: facebook.GraphAPI, version: str, object_id: str, edge: str,
              args: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item of an edge, at most MAX_PAGES pages (see carewatch.graph_paging)."""
    params: dict[str, Any] | None = dict(args)
    for _ in range(MAX_PAGES):
        if params is None:
            return
        page = graph.request(f"{version}/{object_id}/{edge}", args=dict(params))
        yield from page.get("data") or []
        params = next_page_params(page, params)


class FacebookSender(GraphSender):
    """Answers as the page whose token is configured."""

    platform = "facebook"
    brand_id_attr = "page_id"
    conversation_platform = "messenger"

    public_target = staticmethod(public_target)

    def page_id(self, mention: MentionInfo) -> str:
        return self.configured(mention, "page_id", "Facebook page")

    def send(self, reply: OutboundReply, mention: MentionInfo) -> SentRef:
        try:
            if reply.kind in PUBLIC_KINDS:
                result = self.graph.put_object(reply.target_id, "comments", message=reply.text)
                return SentRef(str(result["id"]), reply.target_id)
            if reply.kind == MESSAGE:
                return self.send_message(self.message_page(mention) or self.page_id(mention),
                                         reply)
            return self.private_reply(self.page_id(mention), reply.target_id, reply.text)
        except (PermanentError, AlreadyReplied):
            raise
        except Exception as exc:
            raise graph_error(exc, platform="Facebook", kind=reply.kind,
                              conversation_ref=self.moved_to(mention)) from exc

    def find_existing(self, reply: OutboundReply, mention: MentionInfo) -> list[SentRef]:
        if reply.kind == "private":
            raise Unverifiable("the Graph API cannot read back sent private replies")
        page = self.page_id(mention)
        if reply.kind == MESSAGE:
            page = self.message_page(mention) or page
            try:
                return self.find_message(reply, mention, page, {page})
            except Exception as exc:
                raise graph_error(exc, platform="Facebook") from exc
        try:
            items = list(iter_edge(self.graph, self.settings.graph_api_version,
                                   reply.target_id, "comments",
                                   {"fields": "id,message,from,created_time",
                                    "order": "reverse_chronological", "limit": 100}))
        except Exception as exc:
            raise graph_error(exc, platform="Facebook") from exc
        return [SentRef(str(item.get("id")), reply.target_id, reconciled=True,
                        note="found among the comment's replies after an uncertain attempt")
                for item in items
                if str((item.get("from") or {}).get("id")) == page
                and same_text(str(item.get("message") or ""), reply.text)]


SENDER = FacebookSender
