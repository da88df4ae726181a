"""The team's sent replies, with the items they answered: what reply suggestions retrieve
similar past answers from.

Bounded to the most recent `limit` sent replies (newest first, by id, which the primary key
index serves without a sort), so retrieval stays fast however long the outbox grows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from carewatch.domain import ReplyKind, ReplyState
from storage.models import Author, Mention, Reply

#: The kinds that answer the customer's words (a public note only says "we've sent a DM").
ANSWER_KINDS = (ReplyKind.PUBLIC.value, ReplyKind.PRIVATE.value, ReplyKind.MESSAGE.value)


@dataclass(frozen=True, slots=True)
class SentReply:
    """A sent reply and the item it answered."""

    reply_id: int
    text: str
    agent: str | None
    kind: str
    mention_pk: int
    platform: str
    external_id: str
    item_text: str
    topic: str | None
    author_handle: str | None
    author_name: str | None


def recent_sent_replies(session: Session, *, limit: int = 2000,
                        exclude_mention_pk: int | None = None) -> list[SentReply]:
    """The newest `limit` sent answers (public replies, private replies, messages), newest
    first, leaving out the replies to `exclude_mention_pk` (the item being answered)."""
    author = aliased(Author)
    stmt = (
        select(Reply.id, Reply.text, Reply.agent, Reply.kind, Mention.id, Mention.platform,
               Mention.external_id, Mention.text, Mention.topic, author.handle, author.name)
        .join(Mention, Mention.id == Reply.mention_pk)
        .outerjoin(author, author.id == Mention.author_pk)
        .where(Reply.state == ReplyState.SENT.value, Reply.kind.in_(ANSWER_KINDS))
        .order_by(Reply.id.desc())
        .limit(limit)
    )
    if exclude_mention_pk is not None:
        stmt = stmt.where(Reply.mention_pk != exclude_mention_pk)
    return [SentReply(*row) for row in session.execute(stmt).all()]
