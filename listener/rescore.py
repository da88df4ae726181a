"""Urgency grows with waiting time: a periodic job re-scores open mentions.

Only customer mentions still waiting (`new` or `assigned`, not the brand's own) from the last
few days are touched, sentiment and language are reused from the stored score (no model run),
and only rows whose urgency or reasons actually change are written, in batches.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from carewatch.domain import Score, SentimentLabel
from carewatch.log import get_logger
from carewatch.settings import Settings
from storage.customers import recent_contacts
from storage.db import Database
from storage.mentions import open_mentions_for_rescore, set_open_urgency

log = get_logger(__name__)


def rescore_open_mentions(db: Database, settings: Settings, scorer: Any = None, *,
                          days: float = 3.0, batch: int = 500,
                          now: datetime | None = None) -> int:
    """Recompute urgency of open mentions from the last `days`; returns how many changed.

    Reads a batch in a short session, scores outside any transaction, then writes only the
    changes in one write transaction per batch (storage.mentions
    `open_mentions_for_rescore` / `set_open_urgency`).
    """
    if scorer is None:
        from listener.scoring import Scorer

        scorer = Scorer(settings.urgency, settings.alerts.first_response_minutes)
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    changed = 0
    last_id = 0
    while True:
        with db.session() as session:
            rows = open_mentions_for_rescore(session, after_id=last_id,
                                             since=since, limit=batch)
            if not rows:
                break
            last_id = rows[-1].id
            contacts = recent_contacts(
                session, {(r.platform, r.external_id) for r in rows if r.platform}, now=now)
        updates: list[dict[str, Any]] = []
        for r in rows:
            stored = Score(float(r.sentiment), SentimentLabel(r.sentiment_label or "neutral"),
                           float(r.urgency or 0.0),
                           [x for x in (r.urgency_reasons or "").split(";") if x], r.lang)
            fresh = scorer.rescore_urgency(
                stored, r.text, followers=r.followers,
                engagement=int(r.like_count or 0) + int(r.reply_count or 0)
                + int(r.repost_count or 0),
                waiting_minutes=max(0.0, (now - r.created_at).total_seconds() / 60),
                repeat_contacts=contacts.get((r.platform, r.external_id), 0))
            reasons = ";".join(fresh.urgency_reasons)
            if abs(fresh.urgency - stored.urgency) > 1e-6 or reasons != (r.urgency_reasons or ""):
                updates.append({"id": r.id, "urgency": fresh.urgency,
                                "urgency_reasons": reasons})
        if updates:
            with db.write() as session:
                # Only rows still open are changed: an agent may have replied meanwhile.
                set_open_urgency(session, updates)
            changed += len(updates)
        if len(rows) < batch:
            break
    if changed:
        log.info("urgency_rescored", changed=changed)
    return changed
