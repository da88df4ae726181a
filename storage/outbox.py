"""Named queries for the outbox (the `replies` table): claim with a lease, mark, record.

Why a lease and not a lock held while sending: a platform call can take seconds, and no
database transaction may stay open across it. The claim is a short transaction that moves a
due reply to `sending` with a random `claim_token` and `lease_until`; whoever holds a live
lease is the only one allowed to send. A lease that expires (the responder crashed or hung)
makes the reply claimable again, and the next holder reconciles before any resend.

- PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED`, so concurrent responders skip each other's
  rows instead of waiting for them.
- SQLite: the write transaction is `BEGIN IMMEDIATE` (one writer at a time) and the claim is a
  conditional `UPDATE ... WHERE id = ? AND <still claimable>`, checked by its row count.

Lease times are the database's clock (`now=None`), so responders on hosts whose clocks
disagree still agree on when a lease runs out; a `now` given explicitly replaces it (tests
shift it to expire leases without waiting).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session, joinedload

from carewatch.domain import OPEN_STATUSES, ReplyState
from storage.db_clock import read_db_now
from storage.models import Mention, Reply
from storage.statements import chunks, rowcount

QUEUED = ReplyState.QUEUED.value
SENDING = ReplyState.SENDING.value
SENT = ReplyState.SENT.value
FAILED = ReplyState.FAILED.value
PENDING_APPROVAL = ReplyState.PENDING_APPROVAL.value


@dataclass(frozen=True, slots=True)
class Claim:
    """A reply this responder holds until `lease_until`.

    `stale` says the reply was taken over from a holder whose lease expired while it was
    `sending`: that holder may have reached the platform, so the outcome is unknown.
    """

    reply_id: int
    token: str
    lease_until: datetime
    stale: bool


def _now(session: Session, now: datetime | None) -> datetime:
    return read_db_now(session) if now is None else now


def _claimable(now: datetime) -> ColumnElement[bool]:
    due = and_(Reply.state == QUEUED,
               or_(Reply.next_attempt_at.is_(None), Reply.next_attempt_at <= now))
    expired = and_(Reply.state == SENDING, Reply.lease_until.is_not(None),
                   Reply.lease_until < now)
    return or_(due, expired)


def claim_next(session: Session, *, now: datetime | None = None, lease: timedelta,
               exclude: set[int] | None = None) -> Claim | None:
    """Claim the oldest due reply (or one whose lease expired); None when nothing is due.

    Call inside `Database.write()` and commit at once: the claim must be visible to other
    responders before anything is sent.
    """
    now = _now(session, now)
    stmt = select(Reply.id, Reply.state).where(_claimable(now)).order_by(Reply.id)
    if exclude:
        stmt = stmt.where(Reply.id.not_in(sorted(exclude)))
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt = stmt.limit(1).with_for_update(skip_locked=True, of=Reply)
        candidates = session.execute(stmt).all()
    else:
        candidates = session.execute(stmt.limit(5)).all()
    for reply_id, state in candidates:
        token = secrets.token_hex(16)
        until = now + lease
        result = session.execute(
            update(Reply)
            .where(Reply.id == reply_id, _claimable(now))
            .values(state=SENDING, claim_token=token, claimed_at=now, lease_until=until)
            .execution_options(synchronize_session=False)
        )
        if rowcount(result) == 1:
            return Claim(reply_id, token, until, stale=(state == SENDING))
    return None


def begin_attempt(session: Session, claim: Claim, *, now: datetime | None = None,
                  lease: timedelta) -> bool:
    """Count one send attempt and renew the lease, only while the claim is still ours.

    Committed BEFORE the platform call: after a crash, `attempts > 0` and the doubt
    `unknown` are the record that a write may have reached the platform, which forces
    reconciliation before any resend. The outcome of the call replaces the doubt.
    """
    result = session.execute(
        update(Reply)
        .where(Reply.id == claim.reply_id, Reply.claim_token == claim.token,
               Reply.state == SENDING)
        .values(attempts=Reply.attempts + 1, lease_until=_now(session, now) + lease,
                doubt="unknown")
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def renew_lease(session: Session, claim: Claim, *, now: datetime | None = None,
                lease: timedelta) -> bool:
    """Extend the lease to `now + lease` while the claim is still ours; False once it is
    not (another responder took the reply over after the lease ran out)."""
    result = session.execute(
        update(Reply)
        .where(Reply.id == claim.reply_id, Reply.claim_token == claim.token,
               Reply.state == SENDING)
        .values(lease_until=_now(session, now) + lease)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def uncount_attempt(session: Session, claim: Claim, *, doubt: str | None) -> None:
    """Take back an attempt the platform provably refused (a rate limit: nothing written);
    `doubt` is what earlier attempts left, which this one did not change."""
    session.execute(
        update(Reply)
        .where(Reply.id == claim.reply_id, Reply.claim_token == claim.token,
               Reply.attempts > 0)
        .values(attempts=Reply.attempts - 1, doubt=doubt)
        .execution_options(synchronize_session=False)
    )


def lock_for_record(session: Session, reply_id: int) -> Reply | None:
    """The reply row, locked on PostgreSQL, for the transaction that records an outcome."""
    stmt = select(Reply).where(Reply.id == reply_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def release(session: Session, claim: Claim, *, next_attempt_at: datetime, error: str,
            doubt: str | None, uncount_attempt: bool = False) -> bool:
    """Back to `queued` for a later retry (a transient failure), with the doubt the attempts
    so far leave. `uncount_attempt` takes back an attempt the platform provably refused (a
    rate limit), so it does not use up retries."""
    values: dict[str, object] = {"state": QUEUED, "claim_token": None, "lease_until": None,
                                 "next_attempt_at": next_attempt_at, "last_error": error,
                                 "doubt": doubt}
    if uncount_attempt:
        values["attempts"] = Reply.attempts - 1
    result = session.execute(
        update(Reply)
        .where(Reply.id == claim.reply_id, Reply.claim_token == claim.token,
               Reply.state == SENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def mark_failed(session: Session, reply_id: int, error: str, *,
                doubt: str | None) -> Reply | None:
    """`failed` with the reason and the doubt left by its attempts (whether one of them may
    have arrived); a reply already `sent` stays sent (the truth wins)."""
    reply = lock_for_record(session, reply_id)
    if reply is None or reply.state == SENT:
        return None
    reply.state = FAILED
    reply.last_error = error
    reply.doubt = doubt
    reply.claim_token = None
    reply.lease_until = None
    reply.next_attempt_at = None
    return reply


def taken_platform_ids(session: Session, candidates: Sequence[str], *,
                       exclude_reply: int) -> set[str]:
    """Which of `candidates` (platform ids a read-back found) are already recorded for other
    replies: reconciliation must never adopt the message of an earlier, deliberate reply
    with the same text. Looks up only the candidates (`ix_replies_platform_id`)."""
    taken: set[str] = set()
    for batch in chunks(sorted(set(candidates))):
        taken.update(pid for pid in session.execute(
            select(Reply.platform_id).where(Reply.platform_id.in_(batch),
                                            Reply.id != exclude_reply)
        ).scalars() if pid)
    return taken


def replies_for_mention(session: Session, mention_pk: int) -> list[Reply]:
    return list(session.execute(
        select(Reply).where(Reply.mention_pk == mention_pk).order_by(Reply.id)
    ).scalars())


def reply_with_mention(session: Session, reply_id: int) -> Reply | None:
    """The reply by id with its mention and the mention's author loaded in one statement: the
    responder snapshots all three before it leaves the session to call the platform."""
    return session.get(Reply, reply_id, options=[
        joinedload(Reply.mention).joinedload(Mention.author)])


def reply_ids_for_keys(session: Session, keys: Sequence[str]) -> list[int]:
    """Ids of replies already queued under these idempotency keys, oldest first: a repeated
    submission (same client key) gets the rows it queued the first time instead of new ones."""
    return list(session.execute(
        select(Reply.id).where(Reply.idempotency_key.in_(keys)).order_by(Reply.id)
    ).scalars().all())


def any_held(session: Session, reply_ids: Sequence[int]) -> bool:
    """Whether any of these replies waits for a manager's approval: what was just queued is
    then said to be held, not on its way."""
    if not reply_ids:
        return False
    return session.execute(
        select(Reply.id).where(Reply.id.in_(list(reply_ids)), Reply.state == PENDING_APPROVAL)
        .limit(1)).first() is not None


def pending_approval(session: Session) -> list[Reply]:
    """Replies held for a manager (queued by a user who `needs_approval`), oldest first."""
    return list(session.execute(
        select(Reply).where(Reply.state == PENDING_APPROVAL).order_by(Reply.id)
        .options(joinedload(Reply.mention))).scalars())


def pending_approval_group(session: Session, reply: Reply) -> list[Reply]:
    """Every reply of `reply`'s idempotency group still waiting for approval: a move-private
    (private message + public note) is approved or rejected as a whole, never half."""
    group = reply.idempotency_key.rsplit(":", 1)[0]
    return list(session.execute(
        select(Reply).where(Reply.idempotency_key.like(f"{group}:%"),
                            Reply.state == PENDING_APPROVAL)
    ).scalars())


def sibling(session: Session, reply: Reply, kind: str) -> Reply | None:
    """The reply of `kind` queued together with `reply` (same idempotency group)."""
    group = reply.idempotency_key.rsplit(":", 1)[0]
    return session.execute(
        select(Reply).where(Reply.idempotency_key == f"{group}:{kind}")
    ).scalar_one_or_none()


def open_items_in_conversation(session: Session, thread_pk: int, *,
                               before: datetime) -> list[Mention]:
    """The customer's items still waiting in a conversation, written up to `before`: a
    message the brand sends there answers every one of them."""
    return list(session.execute(
        select(Mention).where(Mention.thread_pk == thread_pk, Mention.is_own.is_(False),
                              Mention.status.in_(OPEN_STATUSES), Mention.created_at <= before)
        .order_by(Mention.id)
    ).scalars())
