"""Sources: each listened feed's cursor and health, as polls succeed and fail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Source, utcnow


def ensure_source(session: Session, key: str, platform: str, kind: str) -> Source:
    source = session.get(Source, key)
    if source is None:
        source = Source(key=key, platform=platform, kind=kind, cursor={}, healthy=True,
                        connected_at=utcnow(),
                        token_state="ok", consecutive_failures=0, items_total=0)
        session.add(source)
        session.flush()
    return source


def get_cursor(session: Session, key: str) -> dict[str, Any]:
    source = session.get(Source, key)
    return dict(source.cursor or {}) if source else {}


def save_cursor(session: Session, key: str, platform: str, kind: str, cursor: dict[str, Any],
                *, new_items: int = 0, last_item_at: datetime | None = None) -> None:
    """Store the cursor that follows the page just upserted, in the same transaction."""
    source = ensure_source(session, key, platform, kind)
    source.cursor = dict(cursor)
    source.items_total = (source.items_total or 0) + new_items
    if last_item_at is not None and (source.last_item_at is None
                                     or last_item_at > source.last_item_at):
        source.last_item_at = last_item_at


def _polled(session: Session, key: str, platform: str, kind: str) -> tuple[Source, datetime]:
    """The source, stamped as polled now (whatever the outcome), and that moment."""
    source = ensure_source(session, key, platform, kind)
    now = utcnow()
    source.last_poll_at = now
    return source, now


def mark_source_polled(session: Session, key: str, platform: str, kind: str) -> None:
    """A poll finished without error: the source is healthy again."""
    source, now = _polled(session, key, platform, kind)
    source.last_success_at = now
    source.healthy = True
    source.health_message = None
    source.token_state = "ok"
    source.consecutive_failures = 0


def mark_source_failed(session: Session, key: str, platform: str, kind: str, message: str,
                       *, token_state: str | None = None, healthy: bool = False) -> None:
    """A poll failed: keep the reason (never a token) and the next step for the user."""
    source, now = _polled(session, key, platform, kind)
    source.last_error = message
    source.last_error_at = now
    source.healthy = healthy
    source.health_message = message
    source.consecutive_failures = (source.consecutive_failures or 0) + 1
    if token_state:
        source.token_state = token_state


def source_health(session: Session) -> list[dict[str, Any]]:
    """Every source's connection state, for the health panels (one row per source)."""
    out = []
    for s in session.execute(select(Source).order_by(Source.key)).scalars():
        out.append({"source": s.key, "platform": s.platform, "kind": s.kind,
                    "healthy": bool(s.healthy), "token_state": s.token_state,
                    "last_poll_at": s.last_poll_at, "last_success_at": s.last_success_at,
                    "last_item_at": s.last_item_at, "last_error": s.last_error or "",
                    "health_message": s.health_message or "",
                    "consecutive_failures": s.consecutive_failures or 0,
                    "items_total": s.items_total or 0})
    return out
