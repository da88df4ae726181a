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

The private side has its own rule (`storage.conversations.record_brand_answers`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from carewatch import domain
from storage.models import AuditEntry, Mention, utcnow

ACTOR = "listener"
WAITING = (domain.Status.NEW.value, domain.Status.ASSIGNED.value)


def record_public_brand_answers(session: Session, mentions: Sequence[domain.Mention]) -> int:
    """Mark the customer items that the page's own public replies answer (see the module);
    returns how many got their first response. Costs nothing for a page without such
    replies (most pages: customers' mentions)."""
    answered_at: dict[tuple[str, str], tuple[datetime, str]] = {}
    for m in mentions:
        if m.is_own and m.parent_id and m.visibility is domain.Visibility.PUBLIC:
            key = (m.platform._value_, m.parent_id)
            earlier = answered_at.get(key)
            if earlier is None or m.created_at < earlier[0]:
                answered_at[key] = (m.created_at, m.external_id)
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
