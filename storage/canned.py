"""Canned replies: the named texts agents fill in (`{name}`, `{handle}`, ...), seeded from
`carewatch.toml` and edited in the dashboard.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import AuditEntry, CannedReply


def canned_replies(session: Session) -> list[CannedReply]:
    return list(session.execute(select(CannedReply).order_by(CannedReply.name)).scalars())


def canned_reply_names(session: Session) -> set[str]:
    """Names of the stored canned replies: seeding from `carewatch.toml` adds only the
    missing ones, so edits made in the dashboard survive a restart."""
    return set(session.execute(select(CannedReply.name)).scalars())


def canned_reply_by_name(session: Session, name: str) -> CannedReply | None:
    """The canned reply called exactly `name` (names are unique), or None."""
    return session.execute(
        select(CannedReply).where(CannedReply.name == name)).scalar_one_or_none()


def save_canned_reply(session: Session, name: str, text: str, *, actor: str,
                      reply_id: int | None = None) -> CannedReply:
    name, text = name.strip(), text.strip()
    if not name or not text:
        raise ValueError("a canned reply needs a name and a text")
    row = session.get(CannedReply, reply_id) if reply_id else None
    clash = canned_reply_by_name(session, name)
    if clash is not None and (row is None or clash.id != row.id):
        raise ValueError(f"a canned reply named {name!r} already exists")
    if row is None:
        row = CannedReply(name=name, text=text)
        session.add(row)
    else:
        row.name, row.text = name, text
    session.add(AuditEntry(actor=actor, action="canned_reply_saved", target=name, details={}))
    session.flush()
    return row


def delete_canned_reply(session: Session, reply_id: int, *, actor: str) -> None:
    session.execute(delete(CannedReply).where(CannedReply.id == reply_id))
    session.add(AuditEntry(actor=actor, action="canned_reply_deleted", target=str(reply_id),
                           details={}))
