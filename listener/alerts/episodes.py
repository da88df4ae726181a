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

from sqlalchemy import insert
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


#: Notifications to queue once the alerts have ids: (alert, target keys, queued at).
_Queue = list[tuple[Alert, list[str], datetime]]


def record_pages(session: Session, pages: Sequence[tuple[Sequence[Candidate], datetime]], *,
                 cooldown: timedelta, targets: Sequence[tuple[str, str]]) -> list[int]:
    """`record` for consecutive pages' candidates (each page's at its own detection time),
    in order, in one transaction; returns the ids of the alerts opened or extended, each
    once, in the order they were first touched.

    Why batches: a page can open many episodes (a high-reach author each), and opening
    one alone needs a flush to learn its id for its notifications. Here the pages'
    episodes are read in one query before the first page (the open episodes cannot change
    meanwhile but through these pages: the caller holds the bookkeeping lock in a write
    transaction, and each page works on the alerts as the pages before it left them, kept
    in memory), and the alerts opened are flushed together at the end, then queued in the
    order recording a page at a time queued them: an alert opened for the targets its
    severity reaches at the end of its page, at that page's time; one escalated in a later
    page for the targets it reaches then, at that later page's time (add_notifications
    skips the targets already queued). Measured on the listener benchmark (20k mentions,
    ~400 alerts opened, 8 pages a batch): a read and a flush per page were most of the
    bookkeeping's CPU (cProfile: `record_judged` 0.67 -> 0.44 s, profiled).
    Call after `store.lock_episodes(session)`."""
    known = preload(session, [c for candidates, _ in pages for c in candidates])
    queue: _Queue = []
    opened_all: list[Alert] = []
    touched: dict[int, Alert] = {}  # by id(): an alert opened here has no id yet
    for candidates, now in pages:
        opened: list[Alert] = []
        fresh: set[int] = set()  # id() of those
        for candidate in candidates:
            key = candidate.episode_key
            alert = known[key]
            # One opened in this page is queued at its end, at its severity then.
            later = None if id(alert) in fresh else queue
            _, action, alert = _record(session, candidate, alert, now=now,
                                       cooldown=cooldown, targets=targets, defer=True,
                                       queue=later)
            known[key] = alert
            if action == OPENED:
                opened.append(alert)
                fresh.add(id(alert))
            if action != UNCHANGED:
                touched.setdefault(id(alert), alert)
        queue.extend((alert, qualifying_targets(targets, alert.severity), now)
                     for alert in opened)
        opened_all.extend(opened)
    if opened_all:
        _insert_opened(session, opened_all)
    for alert, keys, queued_at in queue:
        store.add_notifications(session, alert.id, keys, queued_at)
    for alert in opened_all:
        log.info("alert opened", alert_id=alert.id, kind=alert.kind,
                 severity=alert.severity, episode=alert.episode_key,
                 mentions=(alert.details or {}).get("mention_count"))
    return [alert.id for alert in touched.values()]


#: The columns an alert opened in `record_pages` is inserted with (all but its id).
_ALERT_COLUMNS = tuple(c.key for c in Alert.__table__.columns if c.key != "id")


def _insert_opened(session: Session, opened: Sequence[Alert]) -> None:
    """Insert the alerts `record_pages` opened (never added to the session) in one Core
    statement, in the order they were opened (so they get the ids a flush gave them), and
    put their ids on them. Why not the ORM: its flush of the new objects was most of the
    bookkeeping's CPU (20k mentions, ~400 alerts opened: flush 0.16 s of `record_judged`'s
    0.38 s, cProfile). What the ORM had pending (episodes closed or extended) is flushed
    first, as its flush wrote updates before inserts."""
    session.flush()
    table = Alert.__table__
    rows = [{name: getattr(alert, name) for name in _ALERT_COLUMNS} for alert in opened]
    ids = session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                          rows).scalars().all()
    for alert, pk in zip(opened, ids, strict=True):
        alert.id = pk


def preload(session: Session, candidates: Sequence[Candidate]) -> dict[str, Alert | None]:
    """The open alert (or None) of every candidate's episode, in one query."""
    keys = {c.episode_key for c in candidates}
    found = store.open_episodes(session, keys)
    return {key: found.get(key) for key in keys}


def _record(session: Session, candidate: Candidate, alert: Alert | None, *, now: datetime,
            cooldown: timedelta, targets: Sequence[tuple[str, str]], defer: bool = False,
            queue: _Queue | None = None) -> tuple[int, str, Alert]:
    """`record` of one candidate on its episode's open alert (or None). `defer`: an alert
    opened is only built (`record_pages` inserts and queues it); `queue`: an escalation's
    notifications are queued there instead of at once."""
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
        if defer:  # `record_pages` inserts, queues and logs the batch's new alerts at once
            return 0, OPENED, alert
        session.add(alert)
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
    if escalated and queue is not None:
        queue.append((alert, qualifying_targets(targets, severity), now))
    elif escalated and alert.id is not None:  # else opened in this batch: queued then
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
