"""Source health: a source that fails, or that has gone quiet for longer than its usual gap.

"Usual gap" is the time-weighted median gap between the creation times of the source's last
stored items: the gap that half of the observed time was spent in. A plain median counted each
gap once, so a burst (eighteen tweets in four minutes) made the usual gap a few seconds to
minutes and the source was called quiet twenty minutes after the burst, just for going back to
its ordinary pace; the time-weighted median barely moves for a burst (it spans little time) and
still ignores one long night among a busy day. A source is quiet when the time since its newest
item exceeds `quiet_factor` × that gap, and never sooner than QUIET_FLOOR or two poll
intervals, so a busy source is not called quiet between two polls. A source is judged quiet
only once it has MIN_HISTORY items: a new or naturally silent source raises nothing.

One episode per source (`source_health:<key>`), refreshed while the condition holds.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from carewatch.log import scrub
from carewatch.settings import AlertsConfig, Settings
from listener.alerts.base import Candidate, aware, fmt_minutes, one_line
from storage import alerts as store

MIN_HISTORY = 6
QUIET_FLOOR = timedelta(minutes=15)


HISTORY_ITEMS = 500


def usual_gap(gaps: list[float]) -> float:
    """Time-weighted median of `gaps` (seconds): the smallest gap g such that gaps up to g
    cover at least half of the total time."""
    ordered = sorted(g for g in gaps if g > 0)
    if not ordered:
        return 0.0
    half, covered = sum(ordered) / 2, 0.0
    for gap in ordered:
        covered += gap
        if covered >= half:
            return gap
    return ordered[-1]


def _unhealthy(source: object, now: datetime) -> Candidate:
    failures = int(getattr(source, "consecutive_failures", 0) or 0)
    token_state = getattr(source, "token_state", "ok") or "ok"
    severity = "high" if token_state != "ok" or failures >= 3 else "medium"
    message = one_line(scrub(getattr(source, "health_message", None)
                             or getattr(source, "last_error", None) or "poll failed"), 200)
    key = source.key
    token = f", token {token_state}" if token_state != "ok" else ""
    return Candidate(
        kind="source_health", episode_key=f"source_health:{key}", severity=severity,
        summary=f"source {key} is failing ({failures} failed polls in a row{token}): {message}",
        details={"source": key, "state": "failing", "consecutive_failures": failures,
                 "token_state": token_state},
        seen_at=now, refresh=True)


def detect(session: Session, settings: Settings, now: datetime) -> list[Candidate]:
    cfg: AlertsConfig = settings.alerts
    configured = {s.key: s for s in settings.sources}
    out: list[Candidate] = []
    for source in store.all_sources(session):
        if configured and source.key not in configured:
            continue  # no longer polled: its silence is expected
        if not source.healthy:
            out.append(_unhealthy(source, now))
            continue
        times = [aware(t) for t in store.recent_item_times(session, source.key, source.platform,
                                                            limit=HISTORY_ITEMS)]
        if len(times) < MIN_HISTORY:
            continue
        gaps = [(a - b).total_seconds() for a, b in itertools.pairwise(times)]
        usual = usual_gap(gaps)
        newest = max([times[0]] + ([aware(source.last_item_at)] if source.last_item_at else []))
        connected = getattr(source, "connected_at", None)
        if connected is not None:
            # Silence before carewatch started listening (a backfill's last item) is not
            # the source going quiet: count from the connection at the earliest.
            newest = max(newest, aware(connected))
        every = configured[source.key].every if source.key in configured else 0.0
        allowed = max(timedelta(seconds=cfg.quiet_factor * usual), QUIET_FLOOR,
                      timedelta(seconds=2 * every))
        silent = now - newest
        if silent <= allowed:
            continue
        silent_min = silent.total_seconds() / 60
        out.append(Candidate(
            kind="source_health", episode_key=f"source_health:{source.key}",
            severity="high" if silent >= 3 * allowed else "medium",
            summary=(f"source {source.key} has been quiet for {fmt_minutes(silent_min)}: "
                     f"usual gap {fmt_minutes(usual / 60)}, alert after "
                     f"{cfg.quiet_factor:g}× = {fmt_minutes(allowed.total_seconds() / 60)}"),
            details={"source": source.key, "state": "quiet",
                     "silent_minutes": round(silent_min, 1),
                     "usual_gap_minutes": round(usual / 60, 2),
                     "allowed_minutes": round(allowed.total_seconds() / 60, 1)},
            seen_at=now, refresh=True))
    return out
