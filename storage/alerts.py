"""Named queries behind reputation-risk alerts and their notifications.

The detectors in `listener/alerts/` decide; this module is the only place that reads and
writes the `alerts` and `alert_notifications` tables and the few mention/source facts the
detectors need. Mention queries are range queries on `created_at` (indexed, also per platform)
or lookups by primary key, so no detector ever loads a whole table.

"Open" means not closed: an acknowledged alert stays open (and listed, with who acknowledged
it) until its episode has been quiet for the cooldown and the engine closes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Integer, and_, case, cast, func, or_, select, text, update
from sqlalchemy.orm import Session

from carewatch.domain import OPEN_STATUSES, Visibility
from storage.models import Alert, AlertNotification, AuditEntry, Author, Mention, Source, utcnow
from storage.statements import rowcount

_BATCH = 500
NOTIFY_PENDING = "pending"
NOTIFY_SENT = "sent"
NOTIFY_FAILED = "failed"


class AlertNotFound(LookupError):
    """No alert with that id; the message is one line for the user."""


# ------------------------------------------------------------------ alerts for people


def open_alerts(session: Session, *, kinds: Iterable[str] | None = None,
                limit: int | None = None) -> list[Alert]:
    """Alerts not closed yet, newest first (by last activity, then id)."""
    stmt = select(Alert).where(Alert.closed_at.is_(None))
    if kinds is not None:
        stmt = stmt.where(Alert.kind.in_(list(kinds)))
    stmt = stmt.order_by(Alert.last_seen.desc(), Alert.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.execute(stmt).scalars())


def get_alert(session: Session, alert_id: int) -> Alert | None:
    return session.get(Alert, alert_id)


def acknowledge(session: Session, alert_id: int, user: str, *,
                now: datetime | None = None) -> Alert:
    """Record that `user` has seen the alert (who, when) and audit it.

    Acknowledging again keeps the first acknowledgement: the audit log still shows each try.
    """
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise AlertNotFound(f"no alert with id {alert_id}")
    moment = now or utcnow()
    if alert.acknowledged_by is None:
        alert.acknowledged_by = user
        alert.acknowledged_at = moment
    session.add(AuditEntry(at=moment, actor=user, action="alert.ack", target=f"alert:{alert_id}",
                           details={"kind": alert.kind, "episode_key": alert.episode_key}))
    session.flush()
    return alert


def alert_episodes(session: Session, since: datetime) -> list[dict[str, Any]]:
    """Alert episodes overlapping the range, for marking charts (open and closed ones)."""
    rows = session.execute(
        select(Alert).where(Alert.last_seen >= since).order_by(Alert.first_seen).limit(500)
    ).scalars()
    return [{"id": a.id, "kind": a.kind, "severity": a.severity, "start": a.first_seen,
             "end": a.closed_at or a.last_seen, "open": a.closed_at is None} for a in rows]


def alerts_between(session: Session, since: datetime, until: datetime, *,
                   kinds: Iterable[str] | None = None) -> list[Alert]:
    """Alerts whose episode overlaps [since, until], oldest first: for marking charts."""
    stmt = select(Alert).where(Alert.first_seen <= until, Alert.last_seen >= since)
    if kinds is not None:
        stmt = stmt.where(Alert.kind.in_(list(kinds)))
    return list(session.execute(stmt.order_by(Alert.first_seen, Alert.id)).scalars())


# ------------------------------------------------------------------ episodes


def open_episode(session: Session, episode_key: str) -> Alert | None:
    """The newest not-closed alert of an episode (uses ix_alerts_open)."""
    return session.execute(
        select(Alert).where(Alert.episode_key == episode_key, Alert.closed_at.is_(None))
        .order_by(Alert.id.desc()).limit(1)
    ).scalar_one_or_none()


def open_episodes(session: Session, episode_keys: Iterable[str]) -> dict[str, Alert]:
    """`open_episode` for many keys in one query: {key: its newest not-closed alert}; keys
    without one are left out."""
    keys = sorted(set(episode_keys))
    found: dict[str, Alert] = {}
    for start in range(0, len(keys), _BATCH):
        for alert in session.execute(
            select(Alert).where(Alert.episode_key.in_(keys[start:start + _BATCH]),
                                Alert.closed_at.is_(None))
            .order_by(Alert.id)
        ).scalars():
            found[alert.episode_key] = alert  # ordered by id: the newest wins
    return found


def close_quiet(session: Session, quiet_before: datetime, now: datetime) -> list[int]:
    """Close every open alert whose last activity is older than `quiet_before`."""
    ids = list(session.execute(
        select(Alert.id).where(Alert.closed_at.is_(None), Alert.last_seen < quiet_before)
    ).scalars())
    if ids:
        session.execute(update(Alert).where(Alert.id.in_(ids)).values(closed_at=now))
    return ids


def add_notifications(session: Session, alert_id: int, target_keys: Iterable[str],
                      now: datetime) -> int:
    """Queue the alert for each target that has no row yet (one row per alert and target).
    No targets (none configured, or none the severity reaches): nothing to read or write,
    which spares a query per alert opened after each stored page."""
    target_keys = list(target_keys)
    if not target_keys:
        return 0
    existing = set(session.execute(
        select(AlertNotification.target_key).where(AlertNotification.alert_id == alert_id)
    ).scalars())
    added = 0
    for key in target_keys:
        if key in existing:
            continue
        session.add(AlertNotification(alert_id=alert_id, target_key=key, state=NOTIFY_PENDING,
                                      attempts=0, next_attempt_at=now))
        existing.add(key)
        added += 1
    session.flush()
    return added


# ------------------------------------------------------------------ notifications


def due_notifications(session: Session, now: datetime, *, limit: int = 200) -> list[
        tuple[int, int, str]]:
    """(notification id, alert id, target key) of pending notifications due by `now`."""
    rows = session.execute(
        select(AlertNotification.id, AlertNotification.alert_id, AlertNotification.target_key)
        .where(AlertNotification.state == NOTIFY_PENDING,
               or_(AlertNotification.next_attempt_at.is_(None),
                   AlertNotification.next_attempt_at <= now))
        .order_by(AlertNotification.next_attempt_at, AlertNotification.id)
        .limit(limit)
    ).all()
    return [(int(a), int(b), str(c)) for a, b, c in rows]


def claim_notification(session: Session, notification_id: int, now: datetime,
                       lease_until: datetime) -> bool:
    """Take a due notification for one delivery attempt; False if someone else has it.

    The conditional update is the lock: two schedulers never send the same notification.
    """
    result = session.execute(
        update(AlertNotification)
        .where(AlertNotification.id == notification_id,
               AlertNotification.state == NOTIFY_PENDING,
               or_(AlertNotification.next_attempt_at.is_(None),
                   AlertNotification.next_attempt_at <= now))
        .values(next_attempt_at=lease_until, attempts=AlertNotification.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(rowcount(result))


def finish_notification(session: Session, notification_id: int, *, state: str,
                        now: datetime, error: str | None = None,
                        next_attempt_at: datetime | None = None) -> None:
    values: dict[str, Any] = {"state": state, "last_error": error,
                              "next_attempt_at": next_attempt_at}
    if state == NOTIFY_SENT:
        values["sent_at"] = now
    session.execute(update(AlertNotification).where(AlertNotification.id == notification_id)
                    .values(**values).execution_options(synchronize_session=False))


# ------------------------------------------------------------------ facts for detectors

_FACT_COLUMNS = (
    Mention.id, Mention.platform, Mention.external_id, Mention.source_key, Mention.text,
    Mention.created_at, Mention.sentiment_label, Mention.urgency, Mention.urgency_reasons,
    Mention.is_own, Mention.url, Author.handle, Author.external_id.label("author_id"),
    Author.followers, Mention.visibility,
)


def mentions_by_ids(session: Session, ids: Sequence[int]) -> list[Any]:
    """The alert-relevant facts of the given mentions (author joined), by primary key."""
    out: list[Any] = []
    unique = sorted(set(ids))
    for start in range(0, len(unique), _BATCH):
        chunk = unique[start:start + _BATCH]
        out.extend(session.execute(
            select(*_FACT_COLUMNS).outerjoin(Author, Author.id == Mention.author_pk)
            .where(Mention.id.in_(chunk))
        ).all())
    return out


def mentions_by_refs(session: Session, refs: Sequence[str], *, limit: int = 10) -> list[Any]:
    """Facts of up to `limit` mentions named by `PLATFORM:EXTERNAL_ID` refs, in ref order."""
    wanted: list[tuple[str, str]] = []
    for ref in refs[:limit]:
        platform, _, external_id = ref.partition(":")
        wanted.append((platform, external_id))
    if not wanted:
        return []
    rows = session.execute(
        select(*_FACT_COLUMNS).outerjoin(Author, Author.id == Mention.author_pk)
        .where(or_(*(and_(Mention.platform == p, Mention.external_id == e) for p, e in wanted)))
    ).all()
    by_key = {(r.platform, r.external_id): r for r in rows}
    return [by_key[k] for k in wanted if k in by_key]


def window_mentions(session: Session, platform: str, since: datetime,
                    until: datetime) -> list[Any]:
    """(id, platform, external_id, created_at, sentiment_label, urgency_reasons) of non-own
    PUBLIC mentions on one platform created in [since, until], oldest first (uses
    ix_mentions_platform_created; visibility is checked on the rows it finds, like is_own).
    A reputation spike is about public volume: private messages are not part of it."""
    return list(session.execute(
        select(Mention.id, Mention.platform, Mention.external_id, Mention.created_at,
               Mention.sentiment_label, Mention.urgency_reasons)
        .where(Mention.platform == platform, Mention.created_at >= since,
               Mention.created_at <= until, Mention.is_own.is_(False),
               Mention.visibility == Visibility.PUBLIC.value)
        .order_by(Mention.created_at, Mention.id)
    ).all())


def _bucket(session: Session, width_seconds: float) -> Any:
    """floor(epoch seconds of created_at / width), per dialect."""
    width = float(width_seconds)
    if session.get_bind().dialect.name == "postgresql":
        return func.floor(cast(func.extract("epoch", Mention.created_at), Float) / width)
    # SQLite keeps UTC timestamps as text; julianday parses them, fractions included. Epochs
    # are positive, so truncation is floor (SQLite may lack the floor() math function).
    seconds = (func.julianday(Mention.created_at) - 2440587.5) * 86400.0
    return cast(seconds / width, Integer)


def bucket_counts(session: Session, platform: str, since: datetime, until: datetime,
                  width_seconds: float) -> list[tuple[int, int, int]]:
    """Counts of non-own public mentions per fixed window on one platform in [since, until):
    (window index = floor(epoch / width), total, negative). Aggregated in the database from
    mentions (not hourly_stats: its hours are coarser than a spike window), so private
    messages are left out by their `visibility` like the window itself leaves them out."""
    bucket = _bucket(session, width_seconds)
    negative = func.sum(case((Mention.sentiment_label == "negative", 1), else_=0))
    rows = session.execute(
        select(bucket.label("b"), func.count(Mention.id), negative)
        .where(Mention.platform == platform, Mention.created_at >= since,
               Mention.created_at < until, Mention.is_own.is_(False),
               Mention.visibility == Visibility.PUBLIC.value)
        .group_by(bucket).order_by(bucket)
    ).all()
    return [(int(b), int(total), int(neg or 0)) for b, total, neg in rows]


def unanswered_urgent(session: Session, *, created_before: datetime, created_after: datetime,
                      min_urgency: float, reasons: Sequence[str], limit: int = 500) -> list[Any]:
    """Urgent mentions still waiting for a first response, oldest first.

    Urgent = urgency >= `min_urgency` or a reason code in `reasons`; waiting = status new or
    assigned and no first response recorded.
    """
    reason_match = [func.coalesce(Mention.urgency_reasons, "").like(f"%{r}%") for r in reasons]
    return list(session.execute(
        select(*_FACT_COLUMNS).outerjoin(Author, Author.id == Mention.author_pk)
        .where(Mention.created_at < created_before, Mention.created_at >= created_after,
               Mention.is_own.is_(False), Mention.status.in_(OPEN_STATUSES),
               Mention.first_response_at.is_(None),
               or_(Mention.urgency >= min_urgency, *reason_match))
        .order_by(Mention.created_at, Mention.id).limit(limit)
    ).all())


def listening_since(session: Session) -> datetime | None:
    """When carewatch first connected any source (None before the first poll)."""
    return session.execute(select(func.min(Source.connected_at))).scalar_one_or_none()


def all_sources(session: Session) -> list[Source]:
    return list(session.execute(select(Source).order_by(Source.key)).scalars())


def recent_item_times(session: Session, source_key: str, platform: str, *,
                      limit: int = 50) -> list[datetime]:
    """Creation times of a source's newest non-own mentions, newest first."""
    return list(session.execute(
        select(Mention.created_at)
        .where(Mention.platform == platform, Mention.source_key == source_key,
               Mention.is_own.is_(False))
        .order_by(Mention.created_at.desc()).limit(limit)
    ).scalars())


_EPISODE_LOCK_KEY = 0x6361_7265_7761  # "carewa": one advisory lock for episode bookkeeping


def lock_episodes(session: Session) -> None:
    """Serialise episode bookkeeping across processes for the rest of this transaction.

    SQLite write transactions already run one at a time (BEGIN IMMEDIATE); on PostgreSQL two
    listeners could both find no open episode and both open one, so take an advisory lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _EPISODE_LOCK_KEY})
