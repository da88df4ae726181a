"""Settings an admin changes in the dashboard, applied over `carewatch.toml` while running.

The Settings page stores a few values in the `settings_kv` table (first-response target,
urgency weights and keyword lists; see `storage.settings_values`). The listener reads them at
start and then every `REFRESH_SECONDS`, so a change reaches scoring, rescoring and the SLA
alerts without a restart. Values that fail validation are ignored with a log line; the file's
value stays.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from carewatch.log import get_logger
from carewatch.settings import Settings, UrgencyConfig
from storage.db import Database
from storage.settings_values import (
    KV_FIRST_RESPONSE,
    KV_URGENCY_KEYWORDS,
    KV_URGENCY_WEIGHTS,
    stored_overrides,
)

log = get_logger(__name__)

REFRESH_SECONDS = 30.0


def effective(base: Settings, overrides: dict[str, Any]) -> tuple[float, UrgencyConfig]:
    """First-response target and urgency config: the file's, with the overrides on top."""
    minutes = base.alerts.first_response_minutes
    raw_minutes = overrides.get(KV_FIRST_RESPONSE)
    if raw_minutes is not None:
        try:
            candidate = float(raw_minutes)
            if candidate > 0:
                minutes = candidate
        except (TypeError, ValueError):
            log.warning("override_ignored", key=KV_FIRST_RESPONSE)
    weights = {**base.urgency.weights, **(overrides.get(KV_URGENCY_WEIGHTS) or {})}
    keywords = {**base.urgency.keywords, **(overrides.get(KV_URGENCY_KEYWORDS) or {})}
    try:
        urgency = UrgencyConfig(weights=weights, keywords=keywords,
                                high_reach_followers=base.urgency.high_reach_followers)
    except ValidationError:
        log.warning("override_ignored", key="urgency")
        urgency = base.urgency
    return minutes, urgency


class LiveOverrides:
    """Keeps a running process's settings (and its scorer) in step with the dashboard."""

    def __init__(self, db: Database, settings: Settings, scorer: Any = None) -> None:
        self.db = db
        self.settings = settings
        self.base = settings.model_copy(deep=True)
        self.scorer = scorer
        self._applied: dict[str, Any] | None = None

    def refresh(self) -> bool:
        """Apply the stored overrides if they changed; True when something changed."""
        with self.db.session() as session:
            overrides = stored_overrides(session)
        if overrides == self._applied:
            return False
        minutes, urgency = effective(self.base, overrides)
        self.settings.alerts.first_response_minutes = minutes
        self.settings.urgency = urgency
        if self.scorer is not None:
            # Swapping the rules is one attribute assignment: scoring threads see either
            # the old rules or the new ones, never a mix.
            self.scorer.rules = type(self.scorer)(urgency, minutes).rules
        first = self._applied is None
        self._applied = overrides
        if overrides or not first:
            log.info("overrides_applied", keys=sorted(overrides), first_response_minutes=minutes)
        return True
