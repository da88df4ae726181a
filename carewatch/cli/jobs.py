"""The long-running process: listeners, alerts, rescoring and the responder on one scheduler.

This is the one place that brings the listener and the responders together (they never
import each other); `carewatch listen` and `carewatch demo` both run it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from carewatch.log import get_logger
from carewatch.settings import Settings
from listener.ingest import default_alert_engine, default_scorer
from listener.overrides import REFRESH_SECONDS, LiveOverrides
from listener.schedule import listener_jobs, run_forever
from responders.automation import RuleEngine
from responders.outbox import HeldBack, run_due
from responders.teamwork import route_new_mentions
from storage.db import Database

log = get_logger(__name__)

# How often queued replies are looked for, by `carewatch respond` and by the listener's
# scheduler alike: a reply that is due waits at most this long for its next attempt.
RESPOND_EVERY_SECONDS = 3.0


@contextmanager
def stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """While the block runs, Ctrl-C and SIGTERM set `stop` instead of interrupting, so a
    long-running loop ends cleanly after its current step; the previous handlers come back
    afterwards."""

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal", signal=signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def routing_hook(db: Database, settings: Settings) -> Callable[[list[int]], Any]:
    """After each stored page: route a returning customer's new mentions to the agent who
    last helped them, then apply the `[[rules]]` (a rule's assignment leaves an item the
    returning customer's agent already has alone). Creating the hook first routes the
    recent items a process stored but died before routing (`RuleEngine.catch_up`)."""
    engine = RuleEngine(db, settings)
    try:
        engine.catch_up()
    except Exception:  # routing never stops listening; the next start tries again
        log.exception("rules_catch_up_failed")

    def hook(ids: list[int]) -> None:
        route_new_mentions(db, ids)
        engine.apply(ids)

    return hook


def responder_job(db: Database, settings: Settings,
                  stop: threading.Event) -> Callable[[], Any]:
    held_back = HeldBack()
    return lambda: run_due(db, settings, stop=stop, held_back=held_back)


def run_listener_forever(db: Database, settings: Settings, stop: threading.Event) -> None:
    """Poll every source on its schedule and send due replies until `stop` is set."""
    live = LiveOverrides(db, settings)
    live.refresh()  # the dashboard's settings apply from the first poll on
    engine = default_alert_engine(db, settings)
    scorer = default_scorer(settings)
    live.scorer = scorer
    jobs = listener_jobs(db, settings, engine, scorer)
    jobs.append(("respond", responder_job(db, settings, stop), RESPOND_EVERY_SECONDS))
    jobs.append(("settings", live.refresh, REFRESH_SECONDS))
    run_forever(db, settings, jobs, stop, alert_engine=engine, scorer=scorer,
                on_new_mentions=routing_hook(db, settings))
