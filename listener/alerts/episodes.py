"""One alert per episode: open on the first candidate, extend while active, close when quiet.

An episode is identified by its key (e.g. `spike:x`, `risk_words:safety`). A candidate whose
key has an open alert that was active within the cooldown EXTENDS it: new mention refs are
appended and last_seen bumped, and no one is notified again (targets that the episode now
qualifies for through a higher severity are notified once). An episode quiet for longer than
the cooldown is closed, so a later burst opens a new alert and notifies again.

first_seen/last_seen are the engine's clock at detection, not the mentions' own times: a
backfill or a platform clock that runs late must not make an episode look cold at birth.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from carewatch.log import get_logger
from listener.alerts.base import MAX_REFS, Candidate, aware, max_severity, severity_rank
from storage import alerts as store
from storage.models import Alert

log = get_logger(__name__)

OPENED = "opened"
EXTENDED = "extended"
UNCHANGED = "unchanged"


def qualifying_targets(targets: Sequence[tuple[str, str]], severity: str) -> list[str]:
    """Keys of targets whose `min_severity` this severity reaches."""
    return [key for key, minimum in targets if severity_rank(severity) >= severity_rank(minimum)]


def record(session: Session, candidate: Candidate, *, now: datetime, cooldown: timedelta,
           targets: Sequence[tuple[str, str]],
           open_alerts: dict[str, Alert | None] | None = None) -> tuple[int, str]:
    """Open or extend the candidate's episode; returns (alert id, OPENED|EXTENDED|UNCHANGED).

    Call inside a write transaction after `store.lock_episodes(session)`. `open_alerts`:
    the open alert of each episode already read in this transaction (`preload`), kept up to
    date here, so a batch of candidates reads the episodes once instead of once each.
    """
    key = candidate.episode_key
    if open_alerts is not None and key in open_alerts:
        alert = open_alerts[key]
    else:
        alert = store.open_episode(session, key)
    result = _record(session, candidate, alert, now=now, cooldown=cooldown, targets=targets)
    if open_alerts is not None:
        open_alerts[key] = result[2]
    return result[0], result[1]


def record_all(session: Session, candidates: Sequence[Candidate], *, now: datetime,
               cooldown: timedelta, targets: Sequence[tuple[str, str]],
               known: dict[str, Alert | None] | None = None) -> list[int]:
    """`record` for a batch (one stored page's candidates), in order; returns the ids of
    the alerts opened or extended, each once, in the order they were first touched.

    Why a batch: a page can open many episodes (a high-reach author each), and opening
    one alone needs a flush to learn its id for its notifications. Here the episodes are
    read once and the alerts opened are flushed together at the end, then queued for the
    targets their final severity reaches (the same rows as opening at the first severity
    and escalating later in the batch). Call after `store.lock_episodes(session)`.

    `known`: the open alert of each episode already read or written in this transaction
    (by `record_all` on the pages before, under the same lock), kept up to date here: only
    the episodes not in it are read. What a read would find for those is what it holds (the
    newest alert not closed, as the pages before left it), and their changes are flushed
    once, at the end, instead of before each page's read."""
    if known is None:
        known = {}
    missing = [c for c in candidates if c.episode_key not in known]
    if missing:
        known.update(preload(session, missing))
    touched: list[Alert] = []
    opened: list[Alert] = []
    for candidate in candidates:
        key = candidate.episode_key
        _, action, alert = _record(session, candidate, known[key], now=now,
                                   cooldown=cooldown, targets=targets, defer=True)
        known[key] = alert
        if action == OPENED:
            opened.append(alert)
        if action != UNCHANGED and not any(alert is t for t in touched):
            touched.append(alert)
    if opened:
        session.flush()
        for alert in opened:
            store.add_notifications(session, alert.id,
                                    qualifying_targets(targets, alert.severity), now)
            log.info("alert opened", alert_id=alert.id, kind=alert.kind,
                     severity=alert.severity, episode=alert.episode_key,
                     mentions=(alert.details or {}).get("mention_count"))
    return [alert.id for alert in touched]


def preload(session: Session, candidates: Sequence[Candidate]) -> dict[str, Alert | None]:
    """The open alert (or None) of every candidate's episode, in one query."""
    keys = {c.episode_key for c in candidates}
    found = store.open_episodes(session, keys)
    return {key: found.get(key) for key in keys}


def _record(session: Session, candidate: Candidate, alert: Alert | None, *, now: datetime,
            cooldown: timedelta, targets: Sequence[tuple[str, str]], defer: bool = False
            ) -> tuple[int, str, Alert]:
    # A persisting condition (refresh) is the same episode even if no evaluation ran for a
    # while (listener down); only evidence-based episodes go cold between two candidates.
    if alert is not None and not candidate.refresh and aware(alert.last_seen) < now - cooldown:
        alert.closed_at = now
        alert = None
    if alert is None:
        refs = list(dict.fromkeys(candidate.refs))
        details = dict(candidate.details)
        details["mention_count"] = len(refs)
        alert = Alert(kind=candidate.kind, severity=candidate.severity,
                      episode_key=candidate.episode_key, summary=candidate.summary,
                      mention_ids=refs[:MAX_REFS], details=details, first_seen=now,
                      last_seen=now)
        session.add(alert)
        if defer:  # `record_all` flushes, queues and logs the batch's new alerts at once
            return 0, OPENED, alert
        session.flush()
        store.add_notifications(session, alert.id,
                                qualifying_targets(targets, candidate.severity), now)
        log.info("alert opened", alert_id=alert.id, kind=alert.kind, severity=alert.severity,
                 episode=alert.episode_key, mentions=len(refs))
        return alert.id, OPENED, alert
    known = set(alert.mention_ids or [])
    new_refs = [r for r in dict.fromkeys(candidate.refs) if r not in known]
    if not new_refs and not candidate.refresh:
        return alert.id, UNCHANGED, alert
    severity = max_severity(alert.severity, candidate.severity)
    details = dict(alert.details or {})
    details.update(candidate.details)
    details["mention_count"] = int((alert.details or {}).get("mention_count", len(known))) + len(
        new_refs)
    if severity_rank(candidate.severity) >= severity_rank(alert.severity):
        alert.summary = candidate.summary
    if new_refs:
        alert.mention_ids = (list(alert.mention_ids or []) + new_refs)[:MAX_REFS]
    escalated = severity != alert.severity
    alert.severity = severity
    alert.details = details
    alert.last_seen = now
    if escalated and alert.id is not None:  # else opened in this batch: queued then
        store.add_notifications(session, alert.id, qualifying_targets(targets, severity), now)
    if new_refs or escalated:
        log.info("alert extended", alert_id=alert.id, kind=alert.kind, severity=severity,
                 episode=alert.episode_key, new_mentions=len(new_refs))
        return alert.id, EXTENDED, alert
    return alert.id, UNCHANGED, alert


def close_quiet(session: Session, *, now: datetime, cooldown: timedelta) -> list[int]:
    """Close every episode quiet for longer than the cooldown."""
    closed = store.close_quiet(session, now - cooldown, now)
    if closed:
        log.info("alerts closed", alert_ids=closed)
    return closed
