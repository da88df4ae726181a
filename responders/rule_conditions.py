"""Whether a `[[rules]]` entry's `when` holds for an item: pure functions, no database.

Business hours are judged at the moment the rules run (right after the item is stored), in
the `[hours]` time zone through zoneinfo, so daylight saving changes move the hours with the
local clock: the question a rule asks is "is anyone in now to answer within the hour?".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from carewatch.settings import WEEKDAYS, HoursConfig, RuleWhen
from carewatch.topics.keywords import keyword_pattern

#: An item this urgent (or with one of these reasons) is "high urgency": a rule's reply to
#: it is never sent without a manager's approval. The same bar as the SLA alert's "urgent".
HIGH_URGENCY = 0.6
HIGH_URGENCY_REASONS = ("safety", "legal")


@dataclass(frozen=True, slots=True)
class RuleItem:
    """What conditions look at, copied from a stored mention."""

    platform: str
    visibility: str
    text: str
    topic: str | None = None
    sentiment_label: str | None = None
    urgency: float | None = None
    urgency_reasons: str = ""
    lang: str | None = None
    followers: int | None = None

    @property
    def sensitive(self) -> bool:
        """Negative or high urgency: an automatic reply to it always waits for approval."""
        reasons = {r for r in self.urgency_reasons.split(";") if r}
        return (self.sentiment_label == "negative"
                or (self.urgency or 0.0) >= HIGH_URGENCY
                or bool(reasons & set(HIGH_URGENCY_REASONS)))


def in_business_hours(hours: HoursConfig, now: datetime) -> bool:
    """Whether `now` (aware) falls in `hours`: a listed day, from start up to end, local."""
    local = now.astimezone(ZoneInfo(hours.timezone))
    if WEEKDAYS[local.weekday()] not in hours.days:
        return False
    minute = local.hour * 60 + local.minute
    return hours.start_minute <= minute < hours.end_minute


@lru_cache(maxsize=256)
def _keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str] | None:
    """The rule's keywords as one pattern, matched as `[[topics]]` keywords are (whole
    words, any case, `*` at a word's end for any ending), compiled once per rule."""
    return keyword_pattern(keywords)


def _has_keyword(keywords: Sequence[str], text: str) -> bool:
    pattern = _keyword_pattern(tuple(keywords))
    return pattern is not None and pattern.search(text) is not None


def _in(value: str | None, allowed: Sequence[str] | None) -> bool:
    if allowed is None:
        return True
    folded = {a.casefold() for a in allowed}
    return value is not None and value.casefold() in folded


def matches(when: RuleWhen, item: RuleItem, *, hours: HoursConfig, now: datetime) -> bool:
    """Whether every condition given in `when` holds for `item` at `now`."""
    checks = (
        when.platform is None or item.platform in {p.value for p in when.platform},
        when.visibility is None or item.visibility == when.visibility,
        _in(item.topic, when.topics),
        _in(item.sentiment_label, when.sentiment),
        _in((item.lang or "").split("-")[0] or None, when.lang),
        when.urgency_below is None or (item.urgency is not None
                                       and item.urgency < when.urgency_below),
        when.urgency_at_least is None or (item.urgency is not None
                                          and item.urgency >= when.urgency_at_least),
        when.followers_min is None or (item.followers or 0) >= when.followers_min,
        when.followers_max is None or (item.followers or 0) <= when.followers_max,
        not when.keywords or _has_keyword(when.keywords, item.text),
        when.in_hours is None or in_business_hours(hours, now) == when.in_hours,
    )
    return all(checks)
