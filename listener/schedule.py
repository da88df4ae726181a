"""APScheduler wiring: one job per source at its `every`, plus periodic jobs from the caller.

Jobs coalesce (a backlog of missed runs becomes one run) and never overlap themselves
(`max_instances=1`), so a slow poll or a long rate-limit wait simply delays that source's next
run. Every listener process keeps this schedule, but a source job only *tries*: the database
decides (`Ingestor.poll_source(scheduled=True)`) whether the source is due and free, so
several listeners make the API calls of one.

`run_forever` is shared by `carewatch listen` and `carewatch demo`: it returns once
`stop_event` is set, after every running job has finished or aborted (each platform wait checks
the same event), so Ctrl-C and SIGTERM stop cleanly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from carewatch.log import get_logger
from carewatch.settings import Settings
from listener.ingest import Ingestor, default_alert_engine
from storage.db import Database
from storage.search import catch_up

log = get_logger(__name__)

Job = tuple[str, Callable[[], Any], float]

ALERTS_EVERY_SECONDS = 60.0
#: Notifications queued by the per-page detectors go out within this, not at the next
#: periodic evaluation (a due-rows query; a failing target is skipped for the round).
NOTIFY_EVERY_SECONDS = 5.0
RESCORE_EVERY_SECONDS = 300.0
SEARCH_INDEX_EVERY_SECONDS = 15.0


def _guarded(name: str, fn: Callable[[], Any]) -> Callable[[], None]:
    """A job that logs its failure instead of raising into the scheduler."""

    def run() -> None:
        try:
            fn()
        except Exception:
            log.exception("job_failed", job=name)

    run.__name__ = f"job_{name}"
    return run


def listener_jobs(db: Database, settings: Settings, alert_engine: Any = None,
                  scorer: Any = None) -> list[Job]:
    """The listener's own periodic jobs: alert evaluation + notification, urgency rescoring,
    and on SQLite the search index's catch-up.

    (The responder job is added by the CLI: the listener never imports responders.)
    """
    jobs: list[Job] = []
    if alert_engine is not None:
        def alerts() -> None:
            alert_engine.evaluate_periodic()
            alert_engine.notify_pending()

        jobs.append(("alerts", alerts, ALERTS_EVERY_SECONDS))
        jobs.append(("notify", alert_engine.notify_pending, NOTIFY_EVERY_SECONDS))

    def rescore() -> None:
        from listener.rescore import rescore_open_mentions

        rescore_open_mentions(db, settings, scorer)

    jobs.append(("rescore", rescore, RESCORE_EVERY_SECONDS))
    jobs.append(("search_index", lambda: index_new_mentions(db), SEARCH_INDEX_EVERY_SECONDS))
    return jobs


def index_new_mentions(db: Database) -> int:
    """Add the mentions stored since the last run to the search indexes
    (`storage.search.catch_up`): here, not in the ingest transaction, so storing a page
    never pays for it; one short transaction per batch. Returns how many were added."""
    total = 0
    while True:
        with db.write() as session:
            added = catch_up(session)
        if not added:
            return total
        total += added


def build_scheduler(ingestor: Ingestor, settings: Settings,
                    extra_jobs: Sequence[Job] = ()) -> BackgroundScheduler:
    """A scheduler (not started) with one job per source and one per extra job."""
    workers = max(4, len(settings.sources) + len(extra_jobs) + 1)
    scheduler = BackgroundScheduler(
        timezone=UTC,
        executors={"default": ThreadPoolExecutor(max_workers=workers)},
        job_defaults={"coalesce": True, "max_instances": 1},
    )
    start = datetime.now(UTC)
    for config in settings.sources:
        scheduler.add_job(
            _guarded(config.key, lambda c=config: ingestor.poll_source(c, scheduled=True)),
            IntervalTrigger(seconds=config.every, timezone=UTC),
            id=f"source:{config.key}", name=f"poll {config.key}",
            next_run_time=start, misfire_grace_time=max(1, int(config.every)),
        )
    for index, (name, fn, seconds) in enumerate(extra_jobs):
        scheduler.add_job(
            _guarded(name, fn), IntervalTrigger(seconds=seconds, timezone=UTC),
            id=f"job:{name}", name=name,
            # Let the first polls begin before the periodic jobs join in.
            next_run_time=start + timedelta(seconds=2 + index),
            misfire_grace_time=max(1, int(seconds)),
        )
    return scheduler


def run_forever(db: Database, settings: Settings, extra_jobs: Sequence[Job] = (),
                stop_event: threading.Event | None = None, *, alert_engine: Any = None,
                scorer: Any = None, include_listener_jobs: bool = False,
                on_new_mentions: Callable[[list[int]], Any] | None = None) -> None:
    """Poll every source on its schedule until `stop_event` is set, then shut down cleanly.

    `alert_engine` defaults to `listener.alerts.AlertEngine(db, settings)` (for the per-page
    hook); with `include_listener_jobs` the alerts and rescoring jobs are added too.
    """
    stop_event = stop_event or threading.Event()
    engine = alert_engine if alert_engine is not None else default_alert_engine(db, settings)
    kwargs: dict[str, Any] = {"alert_engine": engine, "should_stop": stop_event.is_set,
                              "on_new_mentions": on_new_mentions}
    if scorer is not None:
        kwargs["scorer"] = scorer
    ingestor = Ingestor(db, settings, **kwargs)
    ingestor.prepare()  # one-time costs before the scheduler's first poll
    jobs = list(extra_jobs)
    if include_listener_jobs:
        jobs = listener_jobs(db, settings, engine, ingestor.scorer) + jobs
    scheduler = build_scheduler(ingestor, settings, jobs)
    scheduler.start()
    log.info("listening", sources=len(settings.sources), jobs=len(jobs))
    try:
        while not stop_event.wait(0.5):
            pass
    finally:
        log.info("stopping", reason="stop requested")
        scheduler.shutdown(wait=True)
        log.info("stopped")
