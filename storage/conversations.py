"""One conversation, one case: private conversations linked to the public mention an agent
moved into them, and the customer's messages there routed to that case's agent.

When a move to private is sent, the responder stores on the reply the platform's own key of
the conversation it went into (`replies.conversation_ref`: X's `dm_conversation_id`, or the
key of page (or Instagram account) id and the recipient id Meta answered with). A private
thread whose key matches is that case: its `case_mention_pk` is the moved mention, and the
customer's private account joins the customer of the mention's author. The evidence is the
platform's ids, never a matching name.

The ingestor calls `settle_private_conversations` inside the transaction that stores a page
(polled or delivered by a webhook), so a conversation is linked and routed exactly when its
messages become visible, and a replayed page finds the work done.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from carewatch import domain
from storage.customer_links import merge_customers
from storage.models import AuditEntry, Author, Mention, Reply, Thread
from storage.statements import chunks, rowcount
from storage.users import existing_usernames

ROUTER = "router"


@dataclass(frozen=True, slots=True)
class CaseReply:
    """The sent move to private that opened a conversation: its mention and its agent."""

    mention_pk: int
    agent: str | None


def case_reply(session: Session, platform: str, conversation: str) -> CaseReply | None:
    """The latest sent private reply on `platform` whose conversation is `conversation` (a
    thread's external id), or None when no move to private went there."""
    row = session.execute(
        select(Reply.mention_pk, Reply.agent)
        .join(Mention, Mention.id == Reply.mention_pk)
        .where(Reply.kind == domain.ReplyKind.PRIVATE.value,
               Reply.state == domain.ReplyState.SENT.value,
               Reply.conversation_ref == conversation, Mention.platform == platform)
        .order_by(Reply.sent_at.desc(), Reply.id.desc()).limit(1)
    ).first()
    return CaseReply(row.mention_pk, row.agent) if row is not None else None


def link_cases(session: Session, threads: Iterable[tuple[str, str]]) -> dict[int, int]:
    """Link each of these private threads ((platform, external id)) that has no case yet to
    the mention whose move to private opened it, and merge its customer into that mention's
    customer. Returns {thread pk: case mention pk} for the threads linked now."""
    by_platform: dict[str, list[str]] = {}
    for platform, external_id in set(threads):
        by_platform.setdefault(platform, []).append(external_id)
    linked: dict[int, int] = {}
    for platform, ids in by_platform.items():
        for chunk in chunks(sorted(ids)):
            for thread in session.execute(
                select(Thread).where(Thread.platform == platform,
                                     Thread.external_id.in_(chunk),
                                     Thread.visibility == domain.Visibility.PRIVATE.value,
                                     Thread.case_mention_pk.is_(None))
            ).scalars():
                found = case_reply(session, platform, thread.external_id)
                if found is None:
                    continue
                thread.case_mention_pk = found.mention_pk
                _join_customer(session, thread.id, found.mention_pk)
                linked[thread.id] = found.mention_pk
    return linked


def _join_customer(session: Session, thread_pk: int, case_mention_pk: int) -> None:
    """The conversation's customer accounts join the customer of the case mention's author:
    the platform's answer to the private reply named this conversation, which is evidence
    the two ids are one person. Each joining customer is a `merge_customers` (actor: the
    router), so an agent sees why and can split it."""
    row = session.execute(
        select(Author.customer_id, Mention.platform, Mention.external_id)
        .join(Mention, Mention.author_pk == Author.id).where(Mention.id == case_mention_pk)
    ).first()
    if row is None or row.customer_id is None:
        return
    customer_id = row.customer_id
    customer_authors = (select(Mention.author_pk)
                        .where(Mention.thread_pk == thread_pk, Mention.is_own.is_(False),
                               Mention.author_pk.is_not(None)))
    joining: dict[int, list[int]] = {}
    for author_id, other in session.execute(
        select(Author.id, Author.customer_id)
        .where(Author.id.in_(customer_authors), Author.is_brand.is_(False),
               Author.customer_id.is_not(None), Author.customer_id != customer_id)
    ):
        if other is None:  # the WHERE excludes it; this narrows the type
            continue
        joining.setdefault(other, []).append(author_id)
    reason = f"platform evidence: the private reply to {row.platform}:{row.external_id} " \
             "opened this conversation"
    for other, author_ids in sorted(joining.items()):
        merge_customers(session, customer_id, other, actor=ROUTER, reason=reason,
                        author_ids=author_ids)


def route_to_case_agents(session: Session, mention_ids: Sequence[int]) -> dict[int, str]:
    """Assign each of these new customer messages that sits in a conversation linked to a
    case to that case's agent (the case mention's assignee, else the agent who sent the move
    to private), with status `assigned`; audited. Returns {mention id: agent}."""
    if not mention_ids:
        return {}
    rows = session.execute(
        select(Mention, Thread.platform, Thread.external_id, Thread.case_mention_pk)
        .join(Thread, Thread.id == Mention.thread_pk)
        .where(Mention.id.in_(mention_ids),
               Mention.visibility == domain.Visibility.PRIVATE.value,
               Mention.is_own.is_(False), Mention.is_echo.is_(False),
               Mention.assignee.is_(None), Mention.status == domain.Status.NEW.value,
               Thread.case_mention_pk.is_not(None))
    ).all()
    agents: dict[int | None, tuple[str | None, str]] = {}
    for _, platform, conversation, case_pk in rows:
        if case_pk not in agents:
            case = session.get(Mention, case_pk)
            sender = case_reply(session, platform, conversation)
            agent = (case.assignee if case is not None else None) or (
                sender.agent if sender is not None else None)
            ref = f"{case.platform}:{case.external_id}" if case is not None else str(case_pk)
            agents[case_pk] = (agent, ref)
    known = existing_usernames(session, {a for a, _ in agents.values() if a})
    routed: dict[int, str] = {}
    for mention, _, _, case_pk in rows:
        agent, case_ref = agents[case_pk]
        if agent is None or agent not in known:
            continue
        target = f"{mention.platform}:{mention.external_id}"
        reason = f"private conversation of {case_ref}"
        mention.assignee = agent
        mention.status = domain.Status.ASSIGNED.value
        session.add_all([
            AuditEntry(actor=ROUTER, action="assigned", target=target,
                       details={"assignee": agent, "reason": reason}),
            AuditEntry(actor=ROUTER, action="status_changed", target=target,
                       details={"old": domain.Status.NEW.value,
                                "new": domain.Status.ASSIGNED.value, "reason": reason}),
        ])
        routed[mention.id] = agent
    return routed


def record_brand_answers(session: Session, mention_ids: Sequence[int]) -> int:
    """The brand's own private messages among these (sent by carewatch, or from the
    platform's own apps and only seen when read back) are a first response to every earlier
    customer message in their conversation that has none yet. Returns how many got one."""
    if not mention_ids:
        return 0
    answers = session.execute(
        select(Mention.thread_pk, func.max(Mention.created_at))
        .where(Mention.id.in_(mention_ids), Mention.is_own.is_(True),
               Mention.visibility == domain.Visibility.PRIVATE.value,
               Mention.thread_pk.is_not(None))
        .group_by(Mention.thread_pk)
    ).all()
    answered = 0
    for thread_pk, at in answers:
        answered += rowcount(session.execute(
            update(Mention)
            .where(Mention.thread_pk == thread_pk, Mention.is_own.is_(False),
                   Mention.first_response_at.is_(None), Mention.created_at <= at)
            .values(first_response_at=at)))
    return answered


def settle_private_conversations(session: Session, mentions: Sequence[domain.Mention],
                                 inserted_ids: Sequence[int]) -> dict[int, str]:
    """After a page is upserted (same transaction): link the private conversations it
    touched to their cases, record the brand's new messages as first responses, then route
    its new customer messages in linked conversations. Returns {mention id: agent} for the
    messages routed."""
    threads = {(m.platform._value_, m.thread_id) for m in mentions
               if m.visibility == domain.Visibility.PRIVATE and m.thread_id}
    if not threads:
        return {}
    link_cases(session, threads)
    record_brand_answers(session, inserted_ids)
    return route_to_case_agents(session, inserted_ids)
