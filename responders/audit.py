"""Audit rows: who did what, when. Written in the same transaction as the change they record,
so the log never claims something that was rolled back (nor misses something that was not)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from storage.models import AuditEntry, utcnow


def audit(session: Session, actor: str, action: str, target: str | None,
          at: datetime | None = None, **details: Any) -> AuditEntry:
    """Add one audit row (`action` like `reply_sent`, `assigned`, `status_changed`)."""
    entry = AuditEntry(at=at or utcnow(), actor=actor or "system", action=action,
                       target=target, details={k: v for k, v in details.items()
                                               if v is not None})
    session.add(entry)
    return entry
