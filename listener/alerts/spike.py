"""Volume and negative-share spikes against each platform's own baseline.

Why per platform and not per configured source: overlapping sources (an X search and the X
mentions timeline) store each item once, under whichever poll saw it first, so per-source
counts would split one burst arbitrarily; the platform's stream is stable and has its own
index on (platform, created_at).

Baseline: counts of non-own public mentions per fixed window (`spike_window_minutes`) over the last
BASELINE_DAYS, aggregated in the database by mention `created_at` (never by fetch time, so a
backfill that stores days at once is judged window by window), zero-filled from the platform's
first stored mention, and smoothed with an EWMA (half-life one day) for mean and variance.
σ is floored at √mean (Poisson noise) so a perfectly regular history does not make every
extra post a spike. A window is a spike when its count exceeds mean + k·σ AND reaches
`spike_min_count`, so a quiet brand does not alert on three posts. The negative count and the
negative share (binomial against the usual share) are judged as well as the volume; every
negative test also needs `spike_min_count` negative mentions. The window slides: it ends
at each newly stored mention, so a burst is never split by a fixed window boundary.

Without WARMUP_WINDOWS of history only a mostly-negative burst of at least the minimum count
can alert: the first poll of a new brand must not page anyone for its ordinary volume.
Private messages (X DMs, Messenger, Instagram Direct) never count: a reputation spike is
about public volume, and a DM rush is support load, not reputation. The detector reads
`mentions` (not the hourly pre-aggregates, which are coarser than a window), so the filter is
one more column check on rows the (platform, created_at) index already finds.

Only windows near "now" are judged (within cooldown + window); history found by a backfill
is baseline, not news.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy.orm import Session

from carewatch.domain import Visibility
from carewatch.settings import AlertsConfig
from listener.alerts.base import Candidate, aware, ref
from storage import alerts as store

BASELINE_DAYS = 3.0
HALF_LIFE_HOURS = 24.0
WARMUP_WINDOWS = 4
MIN_SHARE = 0.5
PUBLIC = Visibility.PUBLIC.value


@dataclass(slots=True)
class Baseline:
    """EWMA mean and σ of counts per window, total and negative, plus the negative share."""

    windows: int = 0
    mean_total: float = 0.0
    sd_total: float = 0.0
    mean_negative: float = 0.0
    sd_negative: float = 0.0
    share: float | None = None
    history_total: int = 0


# A mention about one of these is part of the incident even when its sentiment reads neutral
# ("smoke in the cabin, everyone is terrified"): a negative spike names it too.
INCIDENT_REASONS = frozenset({"safety", "legal", "privacy", "discrimination"})


def _incident(row: Any) -> bool:
    reasons = getattr(row, "urgency_reasons", None) or ""
    return bool(INCIDENT_REASONS.intersection(reasons.split(";")))


def _ewma(series: list[int], alpha: float) -> tuple[float, float]:
    mean, var = float(series[0]), 0.0
    for x in series[1:]:
        diff = x - mean
        incr = alpha * diff
        mean += incr
        var = (1 - alpha) * (var + diff * incr)
    return mean, math.sqrt(max(var, 0.0))


def _sd_floor(mean: float, sd: float) -> float:
    return max(sd, math.sqrt(max(mean, 0.0)), 0.5)


def baseline(session: Session, platform: str, end: datetime, width: timedelta) -> Baseline:
    """The platform's baseline from the whole windows before `end`."""
    w = width.total_seconds()
    last_full = math.floor(end.timestamp() / w) - 1
    count = max(1, int(BASELINE_DAYS * 86400 / w))
    first = last_full - count + 1
    rows = store.bucket_counts(session, platform, datetime.fromtimestamp(first * w, UTC),
                               datetime.fromtimestamp((last_full + 1) * w, UTC), w)
    if not rows:
        return Baseline(sd_total=_sd_floor(0, 0), sd_negative=_sd_floor(0, 0))
    start = rows[0][0]
    totals = [0] * (last_full - start + 1)
    negatives = [0] * (last_full - start + 1)
    for index, total, negative in rows:
        if start <= index <= last_full:
            totals[index - start] = total
            negatives[index - start] = negative
    alpha = 1 - 0.5 ** (w / (HALF_LIFE_HOURS * 3600))
    mean_t, sd_t = _ewma(totals, alpha)
    mean_n, sd_n = _ewma(negatives, alpha)
    history_total = sum(totals)
    return Baseline(
        windows=len(totals), mean_total=mean_t, sd_total=_sd_floor(mean_t, sd_t),
        mean_negative=mean_n, sd_negative=_sd_floor(mean_n, sd_n),
        share=(sum(negatives) / history_total) if history_total else None,
        history_total=history_total,
    )


@dataclass(slots=True)
class _Window:
    end: datetime
    rows: list[Any]

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def negative_rows(self) -> list[Any]:
        return [r for r in self.rows if r.sentiment_label == "negative"]

    @property
    def incident_rows(self) -> list[Any]:
        """Negative rows plus non-positive rows the scorer flagged with an incident reason:
        the mentions a negative spike names (counting stays on the label, like the baseline)."""
        return [r for r in self.rows if r.sentiment_label == "negative" or (
            r.sentiment_label != "positive" and _incident(r))]


def _judge(win: _Window, base: Baseline, cfg: AlertsConfig) -> tuple[float, dict[str, Any]]:
    """(score, facts): score > 0 when the window is a spike; the larger, the worse."""
    k, minimum = cfg.spike_sigma, cfg.spike_min_count
    total, neg = win.total, len(win.negative_rows)
    warm = base.windows >= WARMUP_WINDOWS
    facts: dict[str, Any] = {"total": total, "negative": neg}
    score = 0.0
    neg_threshold = max(float(minimum), base.mean_negative + k * base.sd_negative)
    mostly_negative = total > 0 and neg / total >= MIN_SHARE
    if neg >= minimum and neg > base.mean_negative + k * base.sd_negative and (
            warm or mostly_negative):
        facts["negative_spike"] = True
        score = max(score, neg / neg_threshold)
    if warm and total >= minimum and total > base.mean_total + k * base.sd_total:
        facts["volume_spike"] = True
        score = max(score, 0.5 * total / max(float(minimum), base.mean_total + k * base.sd_total))
    if warm and base.share is not None and base.history_total >= minimum and total >= minimum:
        p0 = min(max(base.share, 0.02), 0.98)
        expected = total * p0 + k * math.sqrt(total * p0 * (1 - p0))
        if mostly_negative and neg >= minimum and neg > expected:
            facts["share_spike"] = True
            score = max(score, neg / max(expected, 1.0))
    return score, facts


def _severity(facts: dict[str, Any], win: _Window, base: Baseline, cfg: AlertsConfig) -> str:
    if facts.get("negative_spike") or facts.get("share_spike"):
        threshold = max(float(cfg.spike_min_count),
                        base.mean_negative + cfg.spike_sigma * base.sd_negative)
        ratio = len(win.negative_rows) / threshold
        return "critical" if ratio >= 3 else "high" if ratio >= 1.5 else "medium"
    threshold = max(float(cfg.spike_min_count), base.mean_total + cfg.spike_sigma * base.sd_total)
    return "medium" if win.total / threshold >= 3 else "low"


def _summary(platform: str, facts: dict[str, Any], base: Baseline, cfg: AlertsConfig) -> str:
    minutes = f"{cfg.spike_window_minutes:g} min"
    how = f"(k={cfg.spike_sigma:g}, min {cfg.spike_min_count})"
    if base.windows == 0:
        vs_neg = vs_total = "vs no history yet"
    else:
        vs_neg = f"vs baseline {base.mean_negative:.1f} ± {base.sd_negative:.1f}"
        vs_total = f"vs baseline {base.mean_total:.1f} ± {base.sd_total:.1f}"
    parts = []
    if facts.get("negative_spike") or facts.get("share_spike"):
        parts.append(f"{facts['negative']} negative mentions in {minutes} on {platform} "
                     f"{vs_neg} {how}")
        share = facts["negative"] / facts["total"] if facts["total"] else 0.0
        usual = f", usually {base.share:.0%}" if base.share is not None else ""
        parts.append(f"{facts['total']} in all, {share:.0%} negative{usual}")
        if facts.get("flagged_not_negative"):
            parts.append(f"{facts['flagged_not_negative']} more not scored negative but "
                         "flagged safety, legal, privacy or discrimination")
    else:
        parts.append(f"{facts['total']} mentions in {minutes} on {platform} {vs_total} {how}")
        parts.append(f"{facts['negative']} negative")
    return "; ".join(parts)


def horizon(cfg: AlertsConfig, now: datetime) -> datetime:
    """Windows ending before this are history (baseline), not news."""
    return now - timedelta(minutes=cfg.cooldown_minutes + cfg.spike_window_minutes)


def _counts(fact: Any) -> bool:
    """Whether an item is part of a reputation spike: a customer's public item. Private
    messages (X DMs, Messenger, Instagram Direct) are support volume, not reputation; the
    baseline and the windows (`store.bucket_counts`, `store.window_mentions`) leave them out
    too."""
    return not fact.is_own and getattr(fact, "visibility", PUBLIC) == PUBLIC


def any_recent(facts: list[Any], cfg: AlertsConfig, now: datetime) -> bool:
    """Whether `detect` has anything to judge: a backfill's older pages, or a page of
    private messages only, need no query."""
    horizon_at = horizon(cfg, now)
    return any(_counts(f) and aware(f.created_at) >= horizon_at for f in facts)


def _windows(rows: list[Any], width: timedelta) -> Callable[[datetime], list[Any]]:
    """For a window end, the rows created in (end - width, end], in their order.

    A page of live mentions asks for a window per new mention's time, each over every row
    of the span: rows come oldest first (`store.window_mentions`), so each window is a slice
    found by bisection instead of a pass over all rows. Should the times not be in order
    after all, each window is filtered from all rows, as the slice is meant to equal."""
    times = [aware(r.created_at) for r in rows]
    if any(later < earlier for earlier, later in pairwise(times)):
        return lambda end: [r for r, t in zip(rows, times, strict=True)
                            if end - width < t <= end]
    return lambda end: rows[bisect_right(times, end - width):bisect_right(times, end)]


def detect(session: Session, facts: list[Any], cfg: AlertsConfig,
           now: datetime) -> list[Candidate]:
    """Spike candidates for the platforms that just received new mentions."""
    width = timedelta(minutes=cfg.spike_window_minutes)
    horizon_at = horizon(cfg, now)
    times: dict[str, set[datetime]] = defaultdict(set)
    for fact in facts:
        created = aware(fact.created_at)
        if _counts(fact) and created >= horizon_at:
            times[fact.platform].add(created)
    out: list[Candidate] = []
    for platform, moments in sorted(times.items()):
        ends = sorted(moments)
        base = baseline(session, platform, ends[0] - width, width)
        rows = store.window_mentions(session, platform, ends[0] - width, ends[-1])
        in_window = _windows(rows, width)
        best: tuple[float, _Window, dict[str, Any]] | None = None
        for end in ends:
            win = _Window(end, in_window(end))
            score, judged = _judge(win, base, cfg)
            if score > 0 and (best is None or score >= best[0]):
                best = (score, win, judged)
        if best is None:
            continue
        _, win, judged = best
        negative_spike = judged.get("negative_spike") or judged.get("share_spike")
        named = win.incident_rows if negative_spike else win.rows
        if negative_spike and len(named) > judged["negative"]:
            judged["flagged_not_negative"] = len(named) - judged["negative"]
        out.append(Candidate(
            kind="spike", episode_key=f"spike:{platform}",
            severity=_severity(judged, win, base, cfg),
            summary=_summary(platform, judged, base, cfg),
            refs=[ref(r.platform, r.external_id) for r in named],
            details={"platform": platform, **judged,
                     "window_end": win.end.isoformat(),
                     "window_minutes": cfg.spike_window_minutes,
                     "baseline": {"windows": base.windows,
                                  "mean_total": round(base.mean_total, 3),
                                  "sd_total": round(base.sd_total, 3),
                                  "mean_negative": round(base.mean_negative, 3),
                                  "sd_negative": round(base.sd_negative, 3),
                                  "share": None if base.share is None else round(base.share, 3)},
                     "k": cfg.spike_sigma, "min_count": cfg.spike_min_count},
            seen_at=win.end,
        ))
    return out
