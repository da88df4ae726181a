"""Instagram: comment replies (`POST /{ig-comment-id}/replies`), private replies
(`POST /{ig-user-id}/messages` with `recipient={"comment_id": ...}`) and Instagram Direct
messages in a conversation that is going on (`POST /{page-id}/messages` through the linked
page, `recipient={"id": IGSID}`), through facebook-sdk.

Only top-level comments take replies, so a reply to a reply goes to its top-level comment;
a comment on media the brand is tagged in is answered the same way, and the media itself
(when the mention is the media) with `POST /{ig-media-id}/comments`. Reconciliation reads the
comment's replies and matches the brand's account and the text, a Direct message the
conversation's messages; private replies behave like Facebook's (no read-back, 10900 on a
resend).
"""

from __future__ import annotations

from carewatch.errors import PermanentError
from responders.base import (
    AlreadyReplied,
    GraphSender,
    MentionInfo,
    OutboundReply,
    SentRef,
    Unverifiable,
    same_text,
    source_value,
)
from responders.facebook import MESSAGE, PUBLIC_KINDS, graph_error, is_post, iter_edge


def public_target(mention: MentionInfo) -> str:
    """The top-level comment for a reply, else the comment (or media) itself."""
    raw = mention.raw or {}
    parent = raw.get("parent_id")
    if parent:
        return str(parent)
    if mention.parent_id and mention.parent_id != mention.thread_id:
        return mention.parent_id
    return mention.external_id


class InstagramSender(GraphSender):
    """Answers as the Instagram professional account linked to the page token."""

    platform = "instagram"
    brand_id_attr = "ig_user_id"
    conversation_platform = "instagram"

    public_target = staticmethod(public_target)

    def account_id(self, mention: MentionInfo) -> str:
        return self.configured(mention, "ig_user_id", "Instagram account")

    def _edge(self, reply: OutboundReply, mention: MentionInfo) -> str:
        return "comments" if is_post(mention) and reply.target_id == mention.external_id \
            else "replies"

    def send(self, reply: OutboundReply, mention: MentionInfo) -> SentRef:
        try:
            if reply.kind in PUBLIC_KINDS:
                result = self.graph.put_object(reply.target_id, self._edge(reply, mention),
                                               message=reply.text)
                return SentRef(str(result["id"]), reply.target_id)
            if reply.kind == MESSAGE:
                return self.send_message(self._message_account(mention), reply)
            account = source_value(self.settings, mention, "ig_user_id") or source_value(
                self.settings, mention, "page_id")
            if not account:
                raise PermanentError("no Instagram account configured ([[sources]] "
                                     "ig_user_id); cannot send a private reply")
            return self.private_reply(account, reply.target_id, reply.text)
        except (PermanentError, AlreadyReplied):
            raise
        except Exception as exc:
            raise graph_error(exc, platform="Instagram", kind=reply.kind,
                              conversation_ref=self.moved_to(mention)) from exc

    def _message_account(self, mention: MentionInfo) -> str:
        """Direct messages go through the linked page; the account itself where no page id
        is configured for Instagram."""
        return self.message_page(mention) or self.account_id(mention)

    def find_existing(self, reply: OutboundReply, mention: MentionInfo) -> list[SentRef]:
        if reply.kind == "private":
            raise Unverifiable("the Graph API cannot read back sent private replies")
        account = self.account_id(mention)
        if reply.kind == MESSAGE:
            try:
                return self.find_message(reply, mention, self._message_account(mention),
                                         {account})
            except Exception as exc:
                raise graph_error(exc, platform="Instagram") from exc
        handles = {h.lower() for h in self.settings.brand.handles}
        try:
            items = list(iter_edge(self.graph, self.settings.graph_api_version,
                                   reply.target_id, self._edge(reply, mention),
                                   {"fields": "id,text,username,from,timestamp",
                                    "limit": 50}))
        except Exception as exc:
            raise graph_error(exc, platform="Instagram") from exc
        found: list[SentRef] = []
        for item in items:
            sender = item.get("from") or {}
            ours = str(sender.get("id") or "") == account or str(
                item.get("username") or sender.get("username") or "").lower() in handles
            if ours and same_text(str(item.get("text") or ""), reply.text):
                found.append(SentRef(str(item.get("id")), reply.target_id, reconciled=True,
                                     note="found among the comment's replies after an "
                                          "uncertain attempt"))
        return found


SENDER = InstagramSender
