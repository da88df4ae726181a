"""AlertEngine: run the detectors, keep one alert per episode, deliver notifications.

Called from two places at once: the listener thread after each committed page
(`on_new_mentions`) and the scheduler (`evaluate_periodic` every minute, `notify_pending`
every few seconds).
Every method uses its own short sessions: detection reads in a read session, bookkeeping runs
in one short write transaction (`db.write()`, BEGIN IMMEDIATE on SQLite, an advisory lock on
PostgreSQL, and a process-wide lock), and network I/O for notifications happens outside any
transaction. None of the three raises: an alerting problem is logged and listening goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from carewatch.log import get_logger
from carewatch.settings import Settings
from listener.alerts import episodes, high_reach, sla, source_health, spike
from listener.alerts.base import RECENT, Candidate, aware, log_failure
from listener.alerts.notify.dispatch import Dispatcher
from listener.alerts.risk_words import RiskWords
from storage import alerts as store
from storage.db import Database

log = get_logger(__name__)

#: One page's candidates and the time they were judged at (`AlertEngine.judge_page`).
Judged = tuple[list[Candidate], datetime]

# One lock per process: the listener thread and the scheduler thread share it.
_BOOKKEEPING = threading.Lock()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AlertEngine:
    """Reputation-risk alerts for one database and configuration."""

    def __init__(self, db: Database, settings: Settings, *,
                 now: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self.settings = settings
        self.now = now or _utcnow
        self.risk_words = RiskWords(settings.urgency.keywords)
        self.dispatcher = Dispatcher(db, settings, self.now)

    @property
    def cooldown(self) -> timedelta:
        return timedelta(minutes=self.settings.alerts.cooldown_minutes)

    @property
    def targets(self) -> list[tuple[str, str]]:
        return [(t.key, t.min_severity) for t in self.settings.notify]

    # -------------------------------------------------------------- entry points

    def on_new_mentions(self, mention_ids: Sequence[int]) -> list[int]:
        """Spike, high-reach and risk-word detectors on newly stored mentions.

        Returns ids of alerts opened or extended. Own posts are ignored.
        """
        ids = [int(i) for i in mention_ids]
        if not ids:
            return []
        try:
            with self.db.session() as session:
                facts = store.mentions_by_ids(session, ids)
        except Exception as exc:
            log_failure(log, "alert detection failed", exc)
            return []
        return self.on_new_facts(facts)

    def on_new_facts(self, facts: Sequence[Any]) -> list[int]:
        """`on_new_mentions` for a caller that has the new mentions' facts at hand (the
        listener, from the page it just stored: `base.MentionFacts`), so they are not read
        back from the database."""
        try:
            now = self.now()
            return self._record_pages([(self._detect(facts, now), now)])
        except Exception as exc:
            log_failure(log, "alert detection failed", exc)
            return []

    def facts_since(self) -> datetime:
        """The oldest mention time the per-page detectors look at from now on (`judge_page`,
        `on_new_facts`): risk words and high reach only `RECENT` mentions, spikes only
        those inside `spike.horizon`. A caller may leave older mentions (and own posts, which
        no detector reads) out of the facts it passes: the candidates are the same, and a
        backfill's old pages cost no facts at all. Ask before detection runs (the clock
        only moves on: the later detection's bound is no earlier)."""
        now = self.now()
        return min(now - RECENT, spike.horizon(self.settings.alerts, now))

    def judge_page(self, session: Session, facts: Sequence[Any]) -> Judged | None:
        """Detection for one page, in the transaction that stores it (`session`), right
        after its upsert: the listener stores several pages in one transaction, and the
        spike detector then reads the mentions stored up to this page, no later one, as
        when each page committed alone. Recorded after the commit (`record_judged`).
        Never raises, nor breaks the transaction (the reads run in a savepoint)."""
        try:
            now = self.now()
            candidates = self._detect(facts, now, session)
            return (candidates, now) if candidates else None
        except Exception as exc:
            log_failure(log, "alert detection failed", exc)
            return None

    def record_judged(self, judged: Sequence[Judged]) -> list[int]:
        """Record pages' candidates (`judge_page`), in order, in one bookkeeping transaction
        instead of one per page: the same alerts, a write transaction and a read of the
        open episodes less per page (a backfill's recent pages nearly all have some)."""
        try:
            return self._record_pages(judged)
        except Exception as exc:
            log_failure(log, "alert detection failed", exc)
            return []

    def _detect(self, facts: Sequence[Any], now: datetime,
                session: Session | None = None) -> list[Candidate]:
        """Spike, risk-word and high-reach candidates for one page's new mentions (own
        posts ignored); the spike detector reads in `session` if given (in a savepoint)."""
        facts = [f for f in facts if not f.is_own]
        if not facts:
            return []
        candidates: list[Candidate] = []
        if spike.any_recent(facts, self.settings.alerts, now):  # else no query at all
            if session is None:
                with self.db.session() as reading:
                    candidates = spike.detect(reading, facts, self.settings.alerts, now)
            else:
                with session.begin_nested():
                    candidates = spike.detect(session, facts, self.settings.alerts, now)
        recent = [f for f in facts if aware(f.created_at) >= now - RECENT]
        candidates += self.risk_words.detect(recent, now)
        candidates += high_reach.detect(recent, self.settings.alerts)
        return candidates

    def evaluate_periodic(self) -> list[int]:
        """SLA breaches and source health; closes episodes quiet past the cooldown.

        Returns ids of alerts opened or extended.
        """
        try:
            now = self.now()
            with self.db.session() as session:
                candidates = sla.detect(session, self.settings.alerts, now)
                candidates += source_health.detect(session, self.settings, now)
            touched = self._record_pages([(candidates, now)])
            with _BOOKKEEPING, self.db.write() as session:
                store.lock_episodes(session)
                episodes.close_quiet(session, now=now, cooldown=self.cooldown)
            return touched
        except Exception as exc:
            log_failure(log, "periodic alert evaluation failed", exc)
            return []

    def notify_pending(self) -> int:
        """Deliver due notifications; returns how many were sent. Never raises."""
        return self.dispatcher.run()

    # -------------------------------------------------------------- internals

    def _record_pages(self, judged: Sequence[Judged]) -> list[int]:
        """Record each page's candidates (`episodes.record_pages`, at its own detection time)
        in order, in one transaction; the ids of the alerts opened or extended, each once."""
        judged = [(c, now) for c, now in judged if c]
        if not judged:
            return []
        with _BOOKKEEPING, self.db.write() as session:
            store.lock_episodes(session)
            return episodes.record_pages(session, judged, cooldown=self.cooldown,
                                         targets=self.targets)
