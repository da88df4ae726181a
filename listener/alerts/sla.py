"""SLA breach: urgent mentions still unanswered past the first-response target.

One rolling episode (`sla_breach`) rather than one alert per mention: a backlog after a busy
night is one problem for the social lead, and one notification per mention would bury the
other alerts. Newly breached mentions extend the episode; while any breach remains the episode
stays open (its last_seen is refreshed); once the backlog is answered it closes after the
cooldown, and a later breach opens a new alert.

Urgent = urgency >= URGENT_SCORE or a `safety`/`legal` reason code; unanswered = status new or
assigned with no first response recorded. Only mentions that could have been answered in time
once carewatch was listening count: a backlog inherited from a backfill (created more than the
target before the first source connected) is shown in the inbox, not raised as a breach.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from carewatch.settings import AlertsConfig
from listener.alerts.base import Candidate, aware, fmt_minutes, ref
from storage import alerts as store

URGENT_SCORE = 0.6
URGENT_REASONS = ("safety", "legal")
LOOKBACK_DAYS = 7
EPISODE_KEY = "sla_breach"


def detect(session: Session, cfg: AlertsConfig, now: datetime) -> list[Candidate]:
    target = timedelta(minutes=cfg.first_response_minutes)
    since = now - timedelta(days=LOOKBACK_DAYS)
    listening_since = store.listening_since(session)
    if listening_since is not None:
        since = max(since, aware(listening_since) - target)
    rows: list[Any] = store.unanswered_urgent(
        session, created_before=now - target, created_after=since,
        min_urgency=URGENT_SCORE, reasons=URGENT_REASONS)
    if not rows:
        return []
    oldest = rows[0]
    waited = (now - aware(oldest.created_at)).total_seconds() / 60
    reasons = {r for row in rows for r in (row.urgency_reasons or "").split(";") if r}
    severity = "medium"
    if reasons & set(URGENT_REASONS) or waited >= 4 * cfg.first_response_minutes or len(rows) >= 10:
        severity = "high"
    if len(rows) >= 25:
        severity = "critical"
    noun = "mention" if len(rows) == 1 else "mentions"
    oldest_ref = ref(oldest.platform, oldest.external_id)
    return [Candidate(
        kind="sla_breach", episode_key=EPISODE_KEY, severity=severity,
        summary=(f"{len(rows)} urgent {noun} unanswered past the "
                 f"{cfg.first_response_minutes:g} min first-response target "
                 f"(oldest waiting {fmt_minutes(waited)}: {oldest_ref})"),
        refs=[ref(r.platform, r.external_id) for r in rows],
        details={"waiting": len(rows), "oldest_minutes": round(waited, 1),
                 "target_minutes": cfg.first_response_minutes,
                 "reasons": sorted(reasons & set(URGENT_REASONS))},
        seen_at=now, refresh=True,
    )]
