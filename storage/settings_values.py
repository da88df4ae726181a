"""Settings values: the small key-value store behind the dashboard's Settings page.

An admin's changes to the first-response target and the urgency weights and keywords are
kept here under the `KV_*` keys; running listeners read them back (`stored_overrides`) and
apply them over `carewatch.toml` without a restart. Every write leaves an audit row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from storage.models import AuditEntry, KeyValue, utcnow

KV_FIRST_RESPONSE = "alerts.first_response_minutes"
KV_URGENCY_WEIGHTS = "urgency.weights"
KV_URGENCY_KEYWORDS = "urgency.keywords"
OVERRIDE_KEYS = (KV_FIRST_RESPONSE, KV_URGENCY_WEIGHTS, KV_URGENCY_KEYWORDS)


def get_kv(session: Session, key: str, default: Any = None) -> Any:
    """The value stored under `key`, or `default` when none is."""
    row = session.get(KeyValue, key)
    return default if row is None else row.value


def set_kv(session: Session, key: str, value: Any, *, actor: str) -> None:
    """Store `value` under `key`, with who changed it, when, and an audit row."""
    row = session.get(KeyValue, key)
    if row is None:
        session.add(KeyValue(key=key, value=value, updated_by=actor, updated_at=utcnow()))
    else:
        row.value = value
        row.updated_by = actor
        row.updated_at = utcnow()
    session.add(AuditEntry(actor=actor, action="setting", target=key, details={}))


def stored_overrides(session: Session) -> dict[str, Any]:
    """The stored overrides, by key (absent or emptied keys are not overridden)."""
    values = {key: get_kv(session, key) for key in OVERRIDE_KEYS}
    return {k: v for k, v in values.items() if v not in (None, {}, [])}
