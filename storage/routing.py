"""What the `[[rules]]` did to each item: the once-per-item marker, rule runs, tags, priority,
and the round robin state of teams.

Once per item across processes: `claim_routing` inserts the item's `mention_routing` row with
ON CONFLICT DO NOTHING in the transaction that then applies the actions. Two processes racing
on one item both try; PostgreSQL makes the second wait for the first's commit and then do
nothing (SQLite serialises writers), and a rolled-back first attempt leaves the item free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Mention, MentionRouting, Reply, RuleRun, TeamTurn, utcnow
from storage.statements import dialect_insert


def claim_routing(session: Session, mention_pk: int, *, now: datetime | None = None) -> bool:
    """Mark the item as routed in this transaction; False when the rules already ran on it
    (or another process is running them and will commit first)."""
    statement = dialect_insert(session, MentionRouting.__table__).values(
        mention_pk=mention_pk, evaluated_at=now or utcnow(), tags=[], priority=None
    ).on_conflict_do_nothing(index_elements=["mention_pk"]).returning(
        MentionRouting.__table__.c.mention_pk)
    return session.execute(statement).first() is not None


def record_rule_run(session: Session, mention_pk: int, rule: str, actions: list[str], *,
                    now: datetime | None = None) -> bool:
    """Record that `rule` matched the item and did `actions`; False if it was already
    recorded (the unique key on (mention, rule) is the second guard against doing twice)."""
    statement = dialect_insert(session, RuleRun.__table__).values(
        mention_pk=mention_pk, rule=rule, actions=list(actions), at=now or utcnow()
    ).on_conflict_do_nothing(index_elements=["mention_pk", "rule"]).returning(
        RuleRun.__table__.c.id)
    return session.execute(statement).first() is not None


def set_routing(session: Session, mention_pk: int, *, tags: Sequence[str],
                priority: str | None) -> None:
    row = session.get(MentionRouting, mention_pk)
    if row is not None:
        row.tags = sorted(set(tags))
        row.priority = priority


def next_member(session: Session, team: str, available: Sequence[str]) -> str | None:
    """The team's next member in round robin order among `available` (sorted by name),
    recorded as the last one served; None when nobody is available. The team's row is
    locked for the transaction (PostgreSQL; SQLite writers are serialised), so processes
    take turns fairly."""
    members = sorted(set(available))
    if not members:
        return None
    session.execute(dialect_insert(session, TeamTurn.__table__).values(
        team=team, last_member=None, turns=0).on_conflict_do_nothing(
        index_elements=["team"]))
    turn = session.execute(select(TeamTurn).where(TeamTurn.team == team)
                           .with_for_update()).scalar_one()
    after = [m for m in members if turn.last_member is None or m > turn.last_member]
    chosen = (after or members)[0]
    turn.last_member = chosen
    turn.turns = (turn.turns or 0) + 1
    return chosen


def automatic_answer_waiting(session: Session, thread_pk: int, prefix: str) -> bool:
    """Whether a reply queued by a rule (agent starting with `prefix`) to an item of this
    conversation is still waiting to be approved or sent: one automatic answer covers every
    message the customer writes meanwhile."""
    waiting = ("pending_approval", "queued", "sending")
    return session.execute(
        select(Reply.id).join(Mention, Reply.mention_pk == Mention.id)
        .where(Mention.thread_pk == thread_pk, Reply.state.in_(waiting),
               Reply.agent.like(f"{prefix}%")).limit(1)).first() is not None


@dataclass(slots=True)
class Routing:
    """Why an item is where it is: the rules that matched, and the tags and priority."""

    runs: list[tuple[str, list[str]]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    priority: str | None = None

    def lines(self) -> list[str]:
        """`routed by rule 'bags to maria': assign maria, tag bags`, one per rule."""
        return [f"routed by rule {rule!r}: {', '.join(actions) or 'no action'}"
                for rule, actions in self.runs]


def routing_for(session: Session, mention_pk: int) -> Routing:
    row = session.get(MentionRouting, mention_pk)
    runs = session.execute(select(RuleRun.rule, RuleRun.actions)
                           .where(RuleRun.mention_pk == mention_pk)
                           .order_by(RuleRun.id)).all()
    return Routing([(rule, list(actions or [])) for rule, actions in runs],
                   list(row.tags or []) if row else [], row.priority if row else None)


def unrouted_recent(session: Session, *, since: datetime, window: int = 5000) -> list[int]:
    """Customer items among the newest `window` stored since `since` that the rules have not
    run on: what a process that died between storing a page and routing it left behind."""
    newest = (select(Mention.id).where(Mention.is_own.is_(False), Mention.is_echo.is_(False),
                                       Mention.fetched_at >= since)
              .order_by(Mention.id.desc()).limit(window).subquery())
    routed = select(MentionRouting.mention_pk).where(
        MentionRouting.mention_pk.in_(select(newest.c.id)))
    ids = set(session.execute(select(newest.c.id)).scalars())
    return sorted(ids - set(session.execute(routed).scalars()))
