"""What the inbox's buttons do: queue replies, move to private, assign, change status.

The dashboard never calls a platform. Every action goes through the responders' queueing
API (`responders.queue`, `responders.teamwork`), which checks the rules (length limits,
messaging windows, one private reply per comment) and writes the outbox and audit rows; the
`carewatch respond` worker sends later. Rule violations come back as a sentence to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carewatch.log import get_logger, scrub
from carewatch.settings import Settings
from dashboard import outage
from storage.db import Database

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    message: str


def _rule_violation() -> type[Exception]:
    from responders.rules import RuleViolation

    return RuleViolation


def _run(action: str, call: Any) -> Outcome:
    """Run one responders call; a RuleViolation or bad input becomes its message in words."""
    try:
        result = call()
    except _rule_violation() as exc:
        return Outcome(False, str(exc))
    except (ValueError, LookupError) as exc:
        return Outcome(False, str(exc))
    except outage.FAILURES as exc:  # the driver's first line; never the SQL or its values
        log.error("dashboard_action_failed", action=action, error=scrub(str(exc)))
        return Outcome(False, outage.message(exc))
    except Exception as exc:  # shown in words (its first line), logged for the team
        log.error("dashboard_action_failed", action=action, error=scrub(str(exc)))
        first = str(exc).strip().splitlines()[:1] or [type(exc).__name__]
        return Outcome(False, f"{action} failed: {scrub(first[0])}")
    return Outcome(True, result if isinstance(result, str) else "")


def _queued(db: Database, ids: list[int], sent: str, held: str) -> Outcome:
    """What the agent is told once their text is queued: `held` when a manager must approve
    it first (a user marked `needs_approval`), else `sent`."""
    from storage.outbox import any_held

    with db.session() as session:
        waiting = any_held(session, ids)
    return Outcome(True, held if waiting else sent)


def queue_reply(db: Database, settings: Settings, ref: str, text: str, *, agent: str,
                role: str, client_key: str | None = None, what: str = "Reply") -> Outcome:
    """Answer the item where it was said: in its public thread, or in its private
    conversation (the responders choose the kind from the item). `what` names it in the
    message shown: "Reply", "Message"."""
    from responders.queue import queue_reply as queue

    ids: list[int] = []
    outcome = _run(f"Queue {what.lower()}", lambda: ids.extend(queue(
        db, settings, ref, text, agent=agent, role=role, client_key=client_key)))
    if not outcome.ok:
        return outcome
    return _queued(db, ids, f"{what} queued; it is sent by the responder.",
                   f"{what} queued for a manager's approval; it is sent once approved.")


def move_private(db: Database, settings: Settings, ref: str, text: str, *, public_note: str,
                 agent: str, role: str, client_key: str | None = None) -> Outcome:
    from responders.queue import queue_move_private

    ids: list[int] = []
    outcome = _run("Move to private", lambda: ids.extend(queue_move_private(
        db, settings, ref, text, public_note=public_note or None, agent=agent, role=role,
        client_key=client_key)))
    if not outcome.ok:
        return outcome
    queued = "Private message queued" + (" with a public note" if public_note else "")
    return _queued(db, ids, f"{queued}.",
                   f"{queued} for a manager's approval; it is sent once approved.")


def assign(db: Database, ref: str, agent: str | None, *, by: str, role: str) -> Outcome:
    from responders import teamwork

    outcome = _run("Assign", lambda: teamwork.assign(db, ref, agent, by, role=role))
    if outcome.ok:
        return Outcome(True, f"Assigned to {agent}." if agent else "Unassigned.")
    return outcome


def set_status(db: Database, ref: str, status: str, *, by: str, role: str) -> Outcome:
    from responders import teamwork

    outcome = _run("Status change", lambda: teamwork.set_status(db, ref, status, by, role=role))
    return Outcome(True, f"Status set to {status}.") if outcome.ok else outcome


def render_canned(db: Database, name: str, ref: str, agent: str, fallback: str) -> str:
    """The canned reply with its placeholders ({first_name}, {handle}, {agent}, {case_id})
    filled in for this mention; the raw text when it cannot be rendered."""
    from responders import teamwork

    try:
        return teamwork.render_canned(db, name, ref, agent)
    except (_rule_violation(), ValueError, KeyError):
        return fallback


def save_canned(db: Database, name: str, text: str, *, by: str) -> Outcome:
    """Add or change a canned reply by name (placeholders checked by the responders)."""
    from responders import teamwork

    outcome = _run("Save canned reply", lambda: teamwork.save_canned(db, name, text, by))
    return Outcome(True, f"Canned reply {name.strip()!r} saved.") if outcome.ok else outcome


def approve_reply(db: Database, reply_id: int, *, by: str, role: str,
                  text: str | None = None) -> Outcome:
    """A manager approves a held reply (with `text`: their edited version)."""
    from responders import teamwork

    outcome = _run("Approve", lambda: teamwork.approve(db, reply_id, by, role=role, text=text))
    if outcome.ok:
        edited = " (edited)" if text is not None else ""
        return Outcome(True, f"Reply #{reply_id} approved{edited}; it is sent by the "
                             "responder.")
    return outcome


def reject_reply(db: Database, reply_id: int, *, by: str, role: str,
                 reason: str | None = None) -> Outcome:
    from responders import teamwork

    outcome = _run("Reject", lambda: teamwork.reject(db, reply_id, by, reason, role=role))
    return Outcome(True, f"Reply #{reply_id} rejected; it will not be sent.") if outcome.ok \
        else outcome
