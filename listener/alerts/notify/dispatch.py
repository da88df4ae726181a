"""Deliver due notifications: claim, send outside any transaction, record, back off.

Why a queue in the database: the alert and its notification rows are written in the same
transaction, so a crash between detecting and sending loses nothing; the conditional claim
lets two schedulers run side by side without sending twice. A failed attempt is retried after
min(cap, base · 2^(attempts-1)); after `max_attempts` the row is `failed`. A target that fails
is skipped for the rest of the run, so a dead SMTP host costs one timeout, not one per alert,
and never delays the other targets. `run` never raises: listening must go on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import requests

from carewatch.log import get_logger, scrub
from carewatch.settings import NotifyConfig, Settings
from listener.alerts.base import log_failure, one_line
from listener.alerts.notify.email import send_email
from listener.alerts.notify.message import Message, compose
from listener.alerts.notify.webhook import new_session, send_webhook
from storage import alerts as store
from storage.db import Database
from storage.models import Alert, AlertNotification

log = get_logger(__name__)

Sender = Callable[[NotifyConfig, Message], None]


class Dispatcher:
    def __init__(self, db: Database, settings: Settings, now: Callable[[], datetime], *,
                 base_backoff_seconds: float = 30.0, max_backoff_seconds: float = 900.0,
                 max_attempts: int = 12, lease_seconds: float = 120.0) -> None:
        self.db = db
        self.settings = settings
        self.now = now
        self.base_backoff = base_backoff_seconds
        self.max_backoff = max_backoff_seconds
        self.max_attempts = max_attempts
        self.lease = timedelta(seconds=lease_seconds)

    def backoff(self, attempts: int) -> timedelta:
        """Capped exponential: base, 2·base, 4·base, ... up to the cap."""
        return timedelta(seconds=min(self.max_backoff,
                                     self.base_backoff * 2 ** max(0, attempts - 1)))

    def run(self) -> int:
        """Send every due notification once; returns how many were delivered."""
        try:
            return self._run()
        except Exception as exc:  # never let a notifier stop the listener
            log_failure(log, "notify run failed", exc)
            return 0

    def _run(self) -> int:
        targets = {t.key: t for t in self.settings.notify}
        with self.db.session() as session:
            due = store.due_notifications(session, self.now())
        if not due:
            return 0
        http = new_session()
        broken: set[str] = set()
        sent = 0
        try:
            for notification_id, alert_id, target_key in due:
                if target_key in broken:
                    continue
                target = targets.get(target_key)
                if target is None:
                    with self.db.write() as session:
                        store.finish_notification(
                            session, notification_id, state=store.NOTIFY_FAILED,
                            now=self.now(), error="target no longer configured")
                    continue
                try:
                    delivered = self._deliver(notification_id, alert_id, target, http)
                except Exception as exc:
                    log_failure(log, "notification bookkeeping failed", exc)
                    continue
                if delivered is None:
                    continue
                if delivered:
                    sent += 1
                else:
                    broken.add(target_key)
        finally:
            http.close()
        return sent

    def _deliver(self, notification_id: int, alert_id: int, target: NotifyConfig,
                 http: requests.Session) -> bool | None:
        """True sent, False failed (will be retried), None not ours to send now."""
        now = self.now()
        with self.db.write() as session:
            if not store.claim_notification(session, notification_id, now, now + self.lease):
                return None
            alert = session.get(Alert, alert_id)
            if alert is None:
                store.finish_notification(session, notification_id, state=store.NOTIFY_FAILED,
                                          now=now, error="alert deleted")
                return None
            facts = store.mentions_by_refs(session, list(alert.mention_ids or []), limit=5)
            message = compose(alert, facts)
        error: str | None = None
        try:
            if target.kind == "email":
                send_email(target, message)
            else:
                send_webhook(target, message, session=http)
        except Exception as exc:
            error = scrub(one_line(str(exc), 300)) or type(exc).__name__
        finished = self.now()
        with self.db.write() as session:
            row = session.get(AlertNotification, notification_id)
            attempts = int(row.attempts if row is not None else 1)
            if error is None:
                store.finish_notification(session, notification_id, state=store.NOTIFY_SENT,
                                          now=finished)
                log.info("alert notified", alert_id=alert_id, target=target.label)
                return True
            if attempts >= self.max_attempts:
                store.finish_notification(session, notification_id, state=store.NOTIFY_FAILED,
                                          now=finished, error=error)
                log.error("alert notification gave up", alert_id=alert_id,
                          target=target.label, attempts=attempts, error=error)
            else:
                retry_at = finished + self.backoff(attempts)
                store.finish_notification(session, notification_id, state=store.NOTIFY_PENDING,
                                          now=finished, error=error, next_attempt_at=retry_at)
                log.warning("alert notification failed; will retry", alert_id=alert_id,
                            target=target.label, attempts=attempts, error=error,
                            retry_at=retry_at.isoformat())
        return False
