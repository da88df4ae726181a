"""Teamwork: who is on a mention, its status, canned replies and approvals.

Every change writes an audit row in the same transaction. Assignment is advisory for
reading (anyone may open a mention and is told who is on it) and enforced for replying
(responders.rules.check_assignment): a mention assigned to someone else can only be answered
or taken over by a manager or admin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from carewatch.domain import MentionRef, ReplyState, Role, Status
from carewatch.log import get_logger
from carewatch.settings import Settings
from responders.audit import audit
from responders.placeholders import check_template, fill
from responders.queue import resolve_actor
from responders.rules import (
    MANAGER_ROLES,
    AlreadyAssigned,
    RuleViolation,
    check_text,
    parse_ref,
)
from storage import outbox as q
from storage.canned import canned_replies, canned_reply_by_name, canned_reply_names
from storage.customers import routable_to_last_agent
from storage.db import Database
from storage.mentions import mention_by_ref
from storage.models import CannedReply, Mention, Reply, utcnow
from storage.users import existing_usernames

log = get_logger(__name__)

#: Allowed moves between statuses. `closed` can be reopened to `assigned`.
TRANSITIONS: dict[str, set[str]] = {
    Status.NEW.value: {Status.ASSIGNED.value, Status.REPLIED.value, Status.PRIVATE.value,
                       Status.CLOSED.value},
    Status.ASSIGNED.value: {Status.NEW.value, Status.REPLIED.value, Status.PRIVATE.value,
                            Status.CLOSED.value},
    Status.REPLIED.value: {Status.PRIVATE.value, Status.ASSIGNED.value, Status.CLOSED.value},
    Status.PRIVATE.value: {Status.REPLIED.value, Status.ASSIGNED.value, Status.CLOSED.value},
    Status.CLOSED.value: {Status.ASSIGNED.value},
}


def _mention(session: Session, ref: MentionRef) -> Mention:
    mention = mention_by_ref(session, ref, with_author=True)
    if mention is None or mention.is_own:
        raise RuleViolation(f"unknown mention {ref}: it is not in the inbox")
    return mention


def _is_manager(role: str | None) -> bool:
    return (role or "") in MANAGER_ROLES


# ------------------------------------------------------------------ assignment
@dataclass(frozen=True, slots=True)
class Holder:
    """Who is on a mention, for the agent who opens it."""

    assignee: str | None
    status: str

    def notice(self, viewer: str) -> str | None:
        if self.assignee and self.assignee != viewer:
            return f"{self.assignee} is on this mention"
        return None


def holder(db: Database, ref: MentionRef | str) -> Holder:
    parsed = parse_ref(ref)
    with db.session() as session:
        mention = _mention(session, parsed)
        return Holder(mention.assignee, mention.status)


def assign(db: Database, ref: MentionRef | str, agent: str | None, by: str, *,
           role: Role | str | None = None) -> Holder:
    """Put `agent` on the mention (None or empty: unassign, see `release`). Taking over
    someone else's mention needs a manager or admin; an agent who tries is told who is on
    it (AlreadyAssigned)."""
    agent = (agent or "").strip()
    if not agent:
        return release(db, ref, by, role=role)
    parsed = parse_ref(ref)
    with db.write() as session:
        actor = resolve_actor(session, by, role)
        mention = _mention(session, parsed)
        if mention.assignee == agent:
            return Holder(mention.assignee, mention.status)
        if mention.assignee and mention.assignee != actor.name and not _is_manager(actor.role):
            raise AlreadyAssigned(
                f"{parsed} is already assigned to {mention.assignee}; ask them or a manager "
                "to reassign it", mention.assignee)
        old = mention.assignee
        mention.assignee = agent
        audit(session, actor.name, "assigned", str(parsed), old=old, assignee=agent)
        if mention.status == Status.NEW.value:
            _set_status(session, mention, Status.ASSIGNED.value, actor.name, str(parsed))
        mention.updated_at = utcnow()
        return Holder(mention.assignee, mention.status)


def claim(db: Database, ref: MentionRef | str, agent: str, *,
          role: Role | str | None = None) -> Holder:
    """The agent takes the mention for themselves (AlreadyAssigned names who has it)."""
    return assign(db, ref, agent, agent, role=role)


def release(db: Database, ref: MentionRef | str, by: str, *,
            role: Role | str | None = None) -> Holder:
    """Give the mention back to the team: only its assignee or a manager may."""
    parsed = parse_ref(ref)
    with db.write() as session:
        actor = resolve_actor(session, by, role)
        mention = _mention(session, parsed)
        if mention.assignee is None:
            return Holder(None, mention.status)
        if mention.assignee != actor.name and not _is_manager(actor.role):
            raise AlreadyAssigned(f"{parsed} is assigned to {mention.assignee}; only they or "
                                  "a manager can release it", mention.assignee)
        audit(session, actor.name, "released", str(parsed), old=mention.assignee)
        mention.assignee = None
        if mention.status == Status.ASSIGNED.value:
            _set_status(session, mention, Status.NEW.value, actor.name, str(parsed))
        mention.updated_at = utcnow()
        return Holder(None, mention.status)


# ---------------------------------------------------------------------- status
def _set_status(session: Session, mention: Mention, new: str, actor: str, target: str,
                reason: str | None = None) -> None:
    old = mention.status
    if old == new:
        return
    mention.status = new
    mention.closed_at = utcnow() if new == Status.CLOSED.value else None
    audit(session, actor, "status_changed", target, old=old, new=new, reason=reason)


def set_status(db: Database, ref: MentionRef | str, status: Status | str, by: str, *,
               role: Role | str | None = None) -> str:
    """Move a mention along new → assigned → replied | private → closed (see TRANSITIONS)."""
    parsed = parse_ref(ref)
    try:
        new = Status(status).value
    except ValueError:
        known = "|".join(s.value for s in Status)
        raise RuleViolation(f"unknown status {status!r} (one of {known})") from None
    with db.write() as session:
        actor = resolve_actor(session, by, role)
        mention = _mention(session, parsed)
        if mention.status == new:
            return new
        if mention.assignee and mention.assignee != actor.name and not _is_manager(actor.role):
            raise AlreadyAssigned(f"{parsed} is assigned to {mention.assignee}; ask them or a "
                                  "manager", mention.assignee)
        if new not in TRANSITIONS.get(mention.status, set()):
            raise RuleViolation(f"{parsed} cannot go from {mention.status} to {new}")
        if new == Status.ASSIGNED.value and mention.assignee is None:
            mention.assignee = actor.name
            audit(session, actor.name, "assigned", str(parsed), assignee=actor.name)
        _set_status(session, mention, new, actor.name, str(parsed))
        mention.updated_at = utcnow()
        return new


def close(db: Database, ref: MentionRef | str, by: str, *,
          role: Role | str | None = None) -> str:
    return set_status(db, ref, Status.CLOSED, by, role=role)


# --------------------------------------------------------------------- routing
def put_on(session: Session, mention: Mention, agent: str, actor: str, **details: str) -> None:
    """Assign an unassigned item for the router or a rule (`actor`), in the caller's
    transaction: audited, and a new item becomes assigned."""
    ref = f"{mention.platform}:{mention.external_id}"
    mention.assignee = agent
    audit(session, actor, "assigned", ref, assignee=agent, **details)
    _set_status(session, mention, Status.ASSIGNED.value, actor, ref)
    mention.updated_at = utcnow()


def route_new_mentions(db: Database, mention_ids: Iterable[int]) -> dict[int, str]:
    """Assign new mentions from returning customers (any channel) to the agent who last
    helped them, when that agent is still a user. Returns {mention id: agent}. The listener
    calls this after each stored page (ids from UpsertResult.inserted_ids)."""
    ids = sorted(set(mention_ids))
    if not ids:
        return {}
    routed: dict[int, str] = {}
    # Looked for in a read first: most pages hold no returning customer with an agent, and
    # a write transaction per page (BEGIN IMMEDIATE, a commit) only to find that out cost
    # the listener ~15 ms a page. The write below reads again: its answer is the one used.
    with db.session() as session:
        if not routable_to_last_agent(session, ids):
            return {}
    with db.write() as session:
        rows = routable_to_last_agent(session, ids)
        if not rows:
            return {}
        known = existing_usernames(session, {a for _, a in rows})
        for mention, agent in rows:
            if agent not in known:
                continue
            put_on(session, mention, agent, "router", reason="returning customer")
            routed[mention.id] = agent
    if routed:
        log.info("routed_returning_customers", count=len(routed))
    return routed


# ---------------------------------------------------------------- canned replies
def seed_canned_replies(db: Database, settings: Settings) -> int:
    """Add the canned replies from `carewatch.toml` that the database does not have yet
    (edits made in the dashboard are kept). Returns how many were added."""
    added = 0
    with db.write() as session:
        existing = canned_reply_names(session)
        for item in settings.canned_replies:
            if item.name not in existing:
                check_template(item.text)
                session.add(CannedReply(name=item.name, text=item.text,
                                        topics=list(item.topics), lang=item.lang))
                audit(session, "config", "canned_added", item.name)
                added += 1
    return added


def save_canned(db: Database, name: str, text: str, by: str) -> None:
    name = name.strip()
    if not name:
        raise RuleViolation("a canned reply needs a name")
    if not text.strip():
        raise RuleViolation("the canned reply text is empty")
    check_template(text)
    with db.write() as session:
        row = canned_reply_by_name(session, name)
        if row is None:
            session.add(CannedReply(name=name, text=text, topics=[], lang=""))
            audit(session, by, "canned_added", name)
        else:
            row.text = text
            audit(session, by, "canned_changed", name)


def list_canned(db: Database) -> list[tuple[str, str]]:
    with db.session() as session:
        return [(r.name, r.text) for r in canned_replies(session)]


def render_canned(db: Database, name: str, ref: MentionRef | str, agent: str) -> str:
    """The canned reply `name` filled in for the mention (`responders.placeholders`)."""
    parsed = parse_ref(ref)
    with db.session() as session:
        return canned_text(session, name, _mention(session, parsed), agent)


def canned_text(session: Session, name: str, mention: Mention, agent: str) -> str:
    """`render_canned` in the caller's transaction, for a mention already loaded."""
    row = canned_reply_by_name(session, name)
    if row is None:
        raise RuleViolation(f"no canned reply named {name!r}")
    return fill(row.text, mention, agent)


# ------------------------------------------------------------------ approvals
@dataclass(frozen=True)
class PendingReply:
    """A reply held for a manager: what `carewatch approvals` lists, oldest first."""

    id: int
    mention: str  # PLATFORM:EXTERNAL_ID of the mention it answers
    kind: str
    agent: str | None
    text: str
    queued_at: datetime


def pending_approvals(db: Database) -> list[PendingReply]:
    """Every reply waiting for a manager's approval or rejection, oldest first."""
    with db.session() as session:
        return [PendingReply(r.id, f"{r.mention.platform}:{r.mention.external_id}", r.kind,
                             r.agent, r.text, r.queued_at)
                for r in q.pending_approval(session)]


def approve(db: Database, reply_id: int, manager: str, *,
            role: Role | str | None = None, text: str | None = None) -> list[int]:
    """A manager releases a pending reply (and the rest of its move-private group) to the
    outbox; with `text`, edited first (checked against the platform's limit, the old and
    new text audited). Returns the ids now queued."""
    return _decide(db, reply_id, manager, role, approve=True, reason=None, text=text)


def reject(db: Database, reply_id: int, manager: str, reason: str | None = None, *,
           role: Role | str | None = None) -> list[int]:
    """A manager refuses a pending reply (and the rest of its move-private group): it is
    never sent, and its error says who rejected it and why. Returns the ids rejected."""
    return _decide(db, reply_id, manager, role, approve=False, reason=reason)


def _decide(db: Database, reply_id: int, manager: str, role: Role | str | None, *,
            approve: bool, reason: str | None, text: str | None = None) -> list[int]:
    with db.write() as session:
        actor = resolve_actor(session, manager, role)
        if not _is_manager(actor.role):
            raise RuleViolation(f"{actor.name} is not a manager: only managers and admins "
                                "approve replies")
        reply = session.get(Reply, reply_id)
        if reply is None:
            raise RuleViolation(f"no reply #{reply_id}")
        if reply.state != ReplyState.PENDING_APPROVAL.value:
            raise RuleViolation(f"reply #{reply_id} is {reply.state}, not waiting for approval")
        rows = q.pending_approval_group(session, reply)
        mention = session.get(Mention, reply.mention_pk)
        target = f"{mention.platform}:{mention.external_id}" if mention else None
        if approve and text is not None and text != reply.text and mention is not None:
            edited = check_text(mention.platform, reply.kind, text)
            audit(session, actor.name, "reply_edited", target, reply_id=reply.id,
                  old=reply.text, new=edited)
            reply.text = edited
        for row in rows:
            row.approved_by = actor.name
            if approve:
                row.state = ReplyState.QUEUED.value
            else:
                row.state = ReplyState.FAILED.value
                row.last_error = f"rejected by {actor.name}: {reason or 'no reason given'}"
            audit(session, actor.name, "reply_approved" if approve else "reply_rejected",
                  target, reply_id=row.id, agent=row.agent, reason=reason)
        return [r.id for r in rows]
