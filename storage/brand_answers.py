"""The brand's own public replies, read back from the platforms, answer what they reply to.

A care team rarely works in one tool only: an agent answers a comment from the Facebook
page itself, or from the Instagram app, and the listener later reads that reply back as the
brand's own item (`is_own`) with the customer's comment as its parent. Until this, the
customer's comment stayed `new` in the inbox, waiting for an answer it already had, and its
SLA clock kept running into an `sla_breach`. Now the parent gets its first response (the
reply's time) and, when it was still waiting (`new` or `assigned`), the status `replied`,
with an audit row, in the transaction that stores the reply. A replayed page finds the work
done; replies carewatch sent itself already set both (`responders.outbox`), so reading them
back changes nothing.

Both orders: X backfills newest first, so the brand's reply is often stored BEFORE the
tweet it answers. Storing a customer's public item therefore also looks for own public
replies to it already stored: one look-up per page through the partial index
ix_mentions_own_parent (own items only, migration 0023), and only for items in a
conversation stored before their page (a reply lives in the conversation of what it
answers): a page of new conversations costs nothing.

The private side has its own rule (`storage.conversations.record_brand_answers`).
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from datetime import datetime

from sqlalchemy import bindparam, select, tuple_
from sqlalchemy.orm import Session

from carewatch import domain
from storage.models import AuditEntry, Mention, utcnow

ACTOR = "listener"
WAITING = (domain.Status.NEW.value, domain.Status.ASSIGNED.value)


def record_public_brand_answers(session: Session, mentions: Sequence[domain.Mention],
                                older_threads: Set[tuple[str, str]] | None = None) -> int:
    """Mark the customer items that the page's own public replies answer (see the module);
    returns how many got their first response. The page's own replies answer their parents
    (stored before or in this page); the page's customer items are answered by own replies
    stored earlier (one index look-up). A reply is in the conversation of what it answers,
    so only items in `older_threads` (`UpsertResult.older_threads`: threads stored before
    the page) or without a thread are looked up; None: all of them. A page of new
    conversations (new top-level posts: most pages) costs no query at all."""
    answered_at: dict[tuple[str, str], tuple[datetime, str]] = {}
    asked: dict[str, list[str]] = {}
    public = domain.Visibility.PUBLIC
    for m in mentions:
        if m.visibility is not public:
            continue
        if not m.is_own:
            if (older_threads is None or not m.thread_id
                    or (m.platform._value_, m.thread_id) in older_threads):
                asked.setdefault(m.platform._value_, []).append(m.external_id)
        elif m.parent_id:
            _earliest(answered_at, (m.platform._value_, m.parent_id), m.created_at,
                      m.external_id)
    for platform, parent_id, at, reply_id in _stored_replies(session, asked):
        _earliest(answered_at, (platform, parent_id), at, reply_id)
    if not answered_at:
        return 0
    waiting = session.execute(
        select(Mention)
        .where(tuple_(Mention.platform, Mention.external_id).in_(list(answered_at)),
               Mention.is_own.is_(False), Mention.first_response_at.is_(None))
    ).scalars().all()
    now = utcnow()
    answered = 0
    for mention in waiting:
        at, reply_id = answered_at[(mention.platform, mention.external_id)]
        if mention.created_at > at:
            continue  # a reply older than the item cannot answer it (clock skew, edits)
        answered += 1
        mention.first_response_at = at
        mention.updated_at = now
        if mention.status in WAITING:
            session.add(AuditEntry(
                actor=ACTOR, action="status_changed",
                target=f"{mention.platform}:{mention.external_id}",
                details={"old": mention.status, "new": domain.Status.REPLIED.value,
                         "reason": f"answered on the platform by the brand's reply "
                                   f"{mention.platform}:{reply_id}"}))
            mention.status = domain.Status.REPLIED.value
    return answered


def _earliest(answered_at: dict[tuple[str, str], tuple[datetime, str]], key: tuple[str, str],
              at: datetime, reply_id: str) -> None:
    earlier = answered_at.get(key)
    if earlier is None or at < earlier[0]:
        answered_at[key] = (at, reply_id)


def _stored_replies(session: Session, asked: dict[str, list[str]]
                    ) -> list[tuple[str, str, datetime, str]]:
    """(platform, parent id, time, reply id) of the stored own public replies to the asked
    items."""
    found: list[tuple[str, str, datetime, str]] = []
    for platform, parent_ids in asked.items():
        found.extend((p, parent, at, reply) for p, parent, at, reply in session.execute(
            OWN_REPLIES, {"platform": platform, "parent_ids": sorted(set(parent_ids))})
            if parent is not None)
    return found


#: The brand's public replies to some items of one platform (params `platform`,
#: `parent_ids`): built once, since a page pays for it. The bare `Mention.is_own` condition
#: is the partial index's own (ix_mentions_own_parent, migration 0023), so planners use it.
OWN_REPLIES = (
    select(Mention.platform, Mention.parent_id, Mention.created_at, Mention.external_id)
    .where(Mention.is_own, Mention.platform == bindparam("platform"),
           Mention.parent_id.in_(bindparam("parent_ids", expanding=True)),
           Mention.visibility == domain.Visibility.PUBLIC.value))
