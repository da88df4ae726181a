"""What every detector shares: the candidate it reports, severities, and small text helpers.

Detectors only *report* candidates; `episodes.record` decides whether a candidate opens a new
alert or extends the open episode with the same key, so deduplication lives in one place.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from carewatch.domain import Mention

SEVERITIES = ("low", "medium", "high", "critical")
KINDS = ("spike", "high_reach", "risk_words", "sla_breach", "source_health")
# The cap keeps one alert row small even when a long episode keeps being extended; the
# details say how many mentions there were in all.
MAX_REFS = 500
# Mention-based alerts (risk words, high reach) page only for mentions this recent: a backfill
# that finds last week's complaints fills the inbox, it does not page the social lead.
RECENT = timedelta(hours=24)


def log_failure(log: Any, event: str, exc: BaseException) -> None:
    """Log an alerting failure without ever raising: alerting must not stop listening."""
    from carewatch.log import scrub

    # A broken log sink must not take the listener down either.
    with contextlib.suppress(Exception):
        log.error(event, error=scrub(one_line(f"{type(exc).__name__}: {exc}", 300)))


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def max_severity(*severities: str) -> str:
    return max(severities, key=severity_rank)


def bump(severity: str, steps: int = 1) -> str:
    return SEVERITIES[min(len(SEVERITIES) - 1, severity_rank(severity) + steps)]


def ref(platform: str, external_id: str) -> str:
    """A mention as users type it: `PLATFORM:EXTERNAL_ID`."""
    return f"{platform}:{external_id}"


def aware(moment: datetime) -> datetime:
    if moment.tzinfo is UTC:  # the usual case, asked for every new mention: as it is
        return moment
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso_z(moment: datetime | None) -> str | None:
    """`2026-11-23T12:00:00Z`: the one time format alerts use outside the database."""
    if moment is None:
        return None
    return aware(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def one_line(text: str | None, limit: int = 140) -> str:
    """Mention text made safe for a notification: one line, no control characters, short."""
    flat = _CONTROL.sub(" ", text or "").strip()
    flat = re.sub(r"\s{2,}", " ", flat)
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def fmt_minutes(minutes: float) -> str:
    if minutes < 90:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} d"


@dataclass(slots=True)
class Candidate:
    """A detector's finding: what kind, which episode, how bad, why, and which mentions.

    `seen_at` is when the evidence happened (newest mention time, or the evaluation time for
    state-based kinds); `refresh` asks the episode to bump last_seen even without new
    mentions, for conditions that persist (a source still failing, a breach still unanswered).
    """

    kind: str
    episode_key: str
    severity: str
    summary: str
    refs: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seen_at: datetime | None = None
    refresh: bool = False


class MentionFacts(NamedTuple):
    """What the detectors read of a newly stored mention: the columns of
    `storage.alerts.mentions_by_ids`, built by the listener from the page it just stored
    (same values as the row: it was inserted from them), so detection does not read back
    what was just written."""

    id: int
    platform: str
    external_id: str
    source_key: str | None
    text: str
    created_at: datetime
    sentiment_label: str | None
    urgency: float | None
    urgency_reasons: str
    is_own: bool
    url: str | None
    handle: str | None
    author_id: str | None
    followers: int | None
    # public | private: a spike counts public items only (`spike._counts`).
    visibility: str = "public"

    @classmethod
    def of(cls, pk: int, m: Mention, source_key: str | None) -> MentionFacts:
        score = m.score
        return cls(pk, m.platform._value_, m.external_id, source_key, m.text, m.created_at,
                   score.sentiment_label._value_ if score else None,
                   score.urgency if score else None,
                   ";".join(score.urgency_reasons) if score else "", m.is_own, m.url,
                   m.author.handle, m.author.external_id, m.author.followers,
                   m.visibility._value_)
