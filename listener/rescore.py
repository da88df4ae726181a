"""Urgency grows with waiting time: a periodic job re-scores open mentions.

Only customer mentions still waiting (`new` or `assigned`, not the brand's own) from the last
few days are touched, sentiment and language are reused from the stored score (no model run),
and only rows whose urgency or reasons actually change are written, in batches.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from carewatch.domain import Score, SentimentLabel, Status
from carewatch.log import get_logger
from carewatch.settings import Settings
from storage import repository
from storage.db import Database
from storage.models import Author as AuthorRow
from storage.models import Mention as MentionRow

log = get_logger(__name__)

OPEN_STATUSES = (Status.NEW.value, Status.ASSIGNED.value)


def rescore_open_mentions(db: Database, settings: Settings, scorer: Any = None, *,
                          days: float = 3.0, batch: int = 500,
                          now: datetime | None = None) -> int:
    """Recompute urgency of open mentions from the last `days`; returns how many changed.

    The queries live here for now; they are candidates for named queries in
    storage.repository (`open_mentions_for_rescore`, `set_urgency`).
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
            rows = session.execute(
                select(MentionRow.id, MentionRow.text, MentionRow.created_at,
                       MentionRow.sentiment, MentionRow.sentiment_label, MentionRow.lang,
                       MentionRow.urgency, MentionRow.urgency_reasons, MentionRow.like_count,
                       MentionRow.reply_count, MentionRow.repost_count,
                       AuthorRow.platform, AuthorRow.external_id, AuthorRow.followers)
                .outerjoin(AuthorRow, AuthorRow.id == MentionRow.author_pk)
                .where(MentionRow.id > last_id, MentionRow.is_own.is_(False),
                       MentionRow.status.in_(OPEN_STATUSES), MentionRow.created_at >= since,
                       MentionRow.sentiment.is_not(None))
                .order_by(MentionRow.id).limit(batch)
            ).all()
            if not rows:
                break
            last_id = rows[-1].id
            contacts = repository.recent_contacts(
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
                for item in updates:
                    session.execute(
                        update(MentionRow)
                        .where(MentionRow.id == item["id"],
                               MentionRow.status.in_(OPEN_STATUSES))
                        .values(urgency=item["urgency"],
                                urgency_reasons=item["urgency_reasons"]))
            changed += len(updates)
        if len(rows) < batch:
            break
    if changed:
        log.info("urgency_rescored", changed=changed)
    return changed
