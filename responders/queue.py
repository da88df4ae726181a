"""Queueing replies: the only way the CLI and the dashboard answer a customer.

Queueing writes `Reply` rows (and an audit row) in one transaction and never calls a
platform; the responder (`responders.outbox.run_due`) sends them.

Exactly once, as the agent means it: each call to `queue_*` is a deliberate message, so
running the same command twice queues two replies (the rules still refuse a second private
reply on one comment). A reply, once queued, is sent at most once, whatever crashes. A caller
that may repeat a submission by accident (a double click, a retried HTTP request) passes the
same `client_key` and gets the already queued rows back instead of new ones.

The item decides the channel: an answer to a public mention is a public reply; an answer to
a private message is a message in its conversation (`ReplyKind.MESSAGE`), checked against the
conversation's messaging window before it is queued and again right before it is sent.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from carewatch.domain import MentionRef, ReplyKind, ReplyState, Role, Visibility
from carewatch.log import get_logger
from carewatch.settings import Settings
from responders.audit import audit
from responders.base import MentionInfo
from responders.conversation import conversation_window
from responders.rules import (
    RuleViolation,
    check_assignment,
    check_mention,
    check_movable,
    check_private,
    check_text,
    check_window,
    parse_ref,
)
from responders.senders import sender_class
from responders.window import MessagingWindow
from storage.db import Database
from storage.mentions import mention_by_ref
from storage.models import Mention, Reply, utcnow
from storage.outbox import replies_for_mention, reply_ids_for_keys
from storage.users import user_by_exact_name

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is queueing: the name recorded everywhere, their role, whether a manager must
    approve their replies."""

    name: str
    role: str | None
    needs_approval: bool


def resolve_actor(session: Session, agent: str, role: Role | str | None) -> Actor:
    """The actor as the users table knows them; an explicit `role` (the dashboard's
    logged-in session) wins over the stored one."""
    name = (agent or "").strip() or "cli"
    user = user_by_exact_name(session, name)
    stored_role = user.role if user else None
    chosen = role.value if isinstance(role, Role) else role
    return Actor(name, chosen or stored_role, bool(user and user.needs_approval))


def mention_info(mention: Mention) -> MentionInfo:
    author = mention.author
    return MentionInfo(
        pk=mention.id, platform=mention.platform, external_id=mention.external_id,
        thread_id=mention.thread_id, parent_id=mention.parent_id,
        source_key=mention.source_key,
        author_external_id=author.external_id if author else None,
        author_handle=author.handle if author else None,
        created_at=mention.created_at, raw=dict(mention.raw or {}),
        thread_pk=mention.thread_pk,
    )


def reply_kind(mention: Mention) -> str:
    """How an answer to `mention` goes out: a message in the conversation of a private
    message, else a public reply."""
    return (ReplyKind.MESSAGE if mention.visibility == Visibility.PRIVATE.value
            else ReplyKind.PUBLIC).value


def message_window(db: Database, settings: Settings, ref: MentionRef | str, *,
                   now: datetime | None = None) -> MessagingWindow | None:
    """The messaging window an answer to the private message `ref` would be sent in now
    (open or not, time left, the reason in one line); None for a public mention.
    RuleViolation for an unknown or malformed ref."""
    parsed = parse_ref(ref)
    with db.session() as session:
        mention = check_mention(mention_by_ref(session, parsed, with_author=True), parsed)
        if reply_kind(mention) != ReplyKind.MESSAGE.value:
            return None
        return conversation_window(session, settings, mention_info(mention), now or utcnow())


def target_for(kind: str, mention: Mention) -> str:
    """The tweet, comment or participant a reply of `kind` goes to (the platform's sender
    knows how its platform nests comments and where private messages go)."""
    return sender_class(mention.platform).target(kind, mention_info(mention))


def _load_mention(session: Session, ref: MentionRef) -> Mention | None:
    # Locked: serialise queueing per mention so two agents cannot both pass the
    # one-private-reply rule (on PostgreSQL; SQLite's BEGIN IMMEDIATE already does).
    return mention_by_ref(session, ref, with_author=True, lock=True)


def _group_key(ref: MentionRef, agent: str, client_key: str | None) -> str:
    if client_key:
        digest = hashlib.sha256(f"{ref}|{agent}|{client_key}".encode()).hexdigest()[:40]
        return f"c{digest}"
    return f"u{uuid.uuid4().hex}"


def _queue(db: Database, settings: Settings, ref: MentionRef | str,
           items: Sequence[tuple[str, str | None, str]], *, agent: str,
           role: Role | str | None, client_key: str | None) -> list[int]:
    parsed = parse_ref(ref)
    with db.write() as session:
        actor = resolve_actor(session, agent, role)
        group = _group_key(parsed, actor.name, client_key)
        keys = [f"{group}:{kind}" for kind, _, _ in items]
        if client_key:
            found = reply_ids_for_keys(session, keys)
            if found:
                return found
        mention = check_mention(_load_mention(session, parsed), parsed)
        check_assignment(mention, parsed, actor.name, actor.role)
        state = (ReplyState.PENDING_APPROVAL if actor.needs_approval
                 else ReplyState.QUEUED).value
        rows = add_replies(session, settings, parsed, mention, items, agent=actor.name,
                           state=state, keys=keys)
        ids = [row.id for row in rows]
    log.info("reply_queued", mention=str(parsed), reply_ids=ids, agent=actor.name,
             state=state)
    return ids


def add_replies(session: Session, settings: Settings, ref: MentionRef, mention: Mention,
                items: Sequence[tuple[str, str | None, str]], *, agent: str, state: str,
                keys: Sequence[str], by_person: bool = True) -> list[Reply]:
    """Check and add the reply rows for `items` ((kind, text, label)) in the caller's
    transaction, each audited as queued by `agent`. A private message's answer goes into its
    conversation, only while its messaging window is open (`by_person=False`: an automatic
    reply, which never gets the human-agent extension). RuleViolation when a rule is broken.
    """
    now = utcnow()
    if reply_kind(mention) == ReplyKind.MESSAGE.value:
        items = _in_conversation(ref, items)
        check_window(ref, conversation_window(session, settings, mention_info(mention), now,
                                              by_person=by_person))
    texts = [check_text(mention.platform, kind, text, label=label)
             for kind, text, label in items]
    if any(kind == ReplyKind.PRIVATE.value for kind, _, _ in items):
        check_private(mention, ref, replies_for_mention(session, mention.id))
    rows: list[Reply] = []
    for (kind, _, _), text, key in zip(items, texts, keys, strict=True):
        target = target_for(kind, mention)
        if not target:
            raise RuleViolation(f"{ref}: cannot tell where to send the {kind} reply")
        row = Reply(mention_pk=mention.id, kind=kind, text=text, state=state,
                    idempotency_key=key, agent=agent, queued_at=now,
                    attempts=0, target_id=target)
        session.add(row)
        rows.append(row)
    session.flush()
    for row in rows:
        audit(session, agent, "reply_queued", str(ref), at=now, reply_id=row.id,
              kind=row.kind, state=row.state, target_id=row.target_id, text=row.text)
    return rows


def _in_conversation(ref: MentionRef, items: Sequence[tuple[str, str | None, str]]
                     ) -> list[tuple[str, str | None, str]]:
    """The answers to a private message: each goes into its conversation as a message;
    moving it private (a private message, a public note) makes no sense there."""
    check_movable(ref, [kind for kind, _, _ in items])
    return [(ReplyKind.MESSAGE.value, text, "message") for _, text, _ in items]


def queue_reply(db: Database, settings: Settings, ref: MentionRef | str, text: str, *,
                agent: str, role: Role | str | None = None,
                client_key: str | None = None) -> list[int]:
    """Queue the answer to the mention; returns the new reply id in a list. A public mention
    gets a public reply; a private message gets a message in its conversation (`message`).

    Raises RuleViolation (one line) for empty or over-long text, an unknown or malformed
    mention, the brand's own post, a mention assigned to someone else, or a private
    conversation whose messaging window is closed (the window's reason).
    """
    return _queue(db, settings, ref, [(ReplyKind.PUBLIC.value, text, "reply")],
                  agent=agent, role=role, client_key=client_key)


def queue_move_private(db: Database, settings: Settings, ref: MentionRef | str, text: str, *,
                       public_note: str | None = None, agent: str,
                       role: Role | str | None = None,
                       client_key: str | None = None) -> list[int]:
    """Queue a private message to the mention's author (X: a direct message; Facebook and
    Instagram: a private reply to the comment) and, with `public_note`, a short public reply
    in the thread. The note is sent only after the private message went out (a note saying
    "we've sent you a message" must not appear when the message failed). A private message
    is refused (RuleViolation): it is already in a private conversation."""
    items: list[tuple[str, str | None, str]] = [(ReplyKind.PRIVATE.value, text, "private")]
    if public_note is not None:
        items.append((ReplyKind.PUBLIC_NOTE.value, public_note, "public note"))
    return _queue(db, settings, ref, items, agent=agent, role=role, client_key=client_key)
