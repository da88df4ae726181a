"""High reach: a negative mention by an author with many followers.

Episode per author (`high_reach:<platform>:<author id>`), not per mention: an influencer who
complains five times in an hour is one situation for the social lead, not five pages. Without
an author id the mention itself is the episode.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from carewatch.settings import AlertsConfig
from listener.alerts.base import Candidate, aware, bump, ref

URGENT_REASONS = {"safety", "legal", "privacy", "discrimination"}


def _severity(followers: int, threshold: int, reasons: set[str]) -> str:
    severity = "critical" if followers >= 100 * threshold else (
        "high" if followers >= 10 * threshold else "medium")
    return bump(severity) if reasons & URGENT_REASONS else severity


def detect(facts: list[Any], cfg: AlertsConfig) -> list[Candidate]:
    threshold = max(1, cfg.high_reach_followers)
    groups: dict[str, list[Any]] = defaultdict(list)
    for fact in facts:
        if fact.is_own or fact.sentiment_label != "negative":
            continue
        if (fact.followers or 0) < threshold:
            continue
        key = (f"high_reach:{fact.platform}:{fact.author_id}" if fact.author_id
               else f"high_reach:{ref(fact.platform, fact.external_id)}")
        groups[key].append(fact)
    out = []
    for key, items in sorted(groups.items()):
        top = max(items, key=lambda f: f.followers or 0)
        reasons = {r for f in items for r in (f.urgency_reasons or "").split(";") if r}
        who = f"@{top.handle}" if top.handle else f"author {top.author_id or 'unknown'}"
        more = f" ({len(items)} mentions)" if len(items) > 1 else ""
        out.append(Candidate(
            kind="high_reach", episode_key=key,
            severity=_severity(int(top.followers or 0), threshold, reasons),
            summary=(f"negative mention by {who} with {int(top.followers or 0):,} followers "
                     f"(threshold {threshold:,}) on {top.platform}: "
                     f"{ref(top.platform, top.external_id)}{more}"),
            refs=[ref(f.platform, f.external_id) for f in items],
            details={"followers": int(top.followers or 0), "handle": top.handle,
                     "threshold": threshold, "reasons": sorted(reasons)},
            seen_at=max(aware(f.created_at) for f in items),
        ))
    return out
