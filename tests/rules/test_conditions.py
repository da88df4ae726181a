"""`[[rules]]` conditions and business hours: pure functions, no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from carewatch.settings import HoursConfig, RuleWhen
from responders.rule_conditions import RuleItem, in_business_hours, matches

LONDON = HoursConfig(timezone="Europe/London", days=["mon", "tue", "wed", "thu", "fri"],
                     start="09:00", end="17:30")
NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # a Monday


def item(**overrides: object) -> RuleItem:
    base: dict[str, object] = dict(platform="x", visibility="public",
                                   text="@acmeair my lost bags are still missing",
                                   topic="Lost Luggage", sentiment_label="negative",
                                   urgency=0.7, lang="en", followers=120)
    base.update(overrides)
    return RuleItem(**base)  # type: ignore[arg-type]


def when(**conditions: object) -> RuleWhen:
    return RuleWhen.model_validate(conditions)


@pytest.mark.parametrize(("conditions", "expected"), [
    ({}, True),
    ({"platform": "x"}, True),
    ({"platform": ["facebook", "instagram"]}, False),
    ({"visibility": "private"}, False),
    ({"topics": ["lost luggage"]}, True),
    ({"topics": ["Refunds"]}, False),
    ({"sentiment": ["negative", "neutral"]}, True),
    ({"sentiment": "positive"}, False),
    ({"urgency_below": 0.7}, False),
    ({"urgency_below": 0.71}, True),
    ({"urgency_at_least": 0.7}, True),
    ({"urgency_at_least": 0.8}, False),
    ({"lang": ["EN"]}, True),
    ({"lang": "es"}, False),
    ({"keywords": ["lost bag*"]}, True),
    ({"keywords": ["missing"]}, True),
    ({"keywords": ["miss"]}, False),  # whole words only
    ({"keywords": ["refund*", "delay*"]}, False),
    ({"followers_min": 100}, True),
    ({"followers_min": 121}, False),
    ({"followers_max": 119}, False),
    ({"followers_min": 100, "followers_max": 200, "sentiment": ["negative"]}, True),
])
def test_conditions(conditions: dict[str, object], expected: bool) -> None:
    assert matches(when(**conditions), item(), hours=LONDON, now=NOON) is expected


def test_unscored_items_fail_score_conditions() -> None:
    bare = item(sentiment_label=None, urgency=None, topic=None, lang=None, followers=None)
    assert not matches(when(urgency_below=0.5), bare, hours=LONDON, now=NOON)
    assert not matches(when(topics=["Lost Luggage"]), bare, hours=LONDON, now=NOON)
    assert not matches(when(lang=["en"]), bare, hours=LONDON, now=NOON)
    assert matches(when(followers_max=10), bare, hours=LONDON, now=NOON)


def test_sensitive_items() -> None:
    assert item().sensitive
    assert item(sentiment_label="positive", urgency=0.6).sensitive
    assert item(sentiment_label="neutral", urgency=0.1, urgency_reasons="safety").sensitive
    assert not item(sentiment_label="positive", urgency=0.2, urgency_reasons="question").sensitive


@pytest.mark.parametrize(("utc", "inside"), [
    # Winter (GMT = UTC): 09:00 to 17:30 UTC on weekdays.
    (datetime(2026, 12, 7, 8, 59, tzinfo=UTC), False),
    (datetime(2026, 12, 7, 9, 0, tzinfo=UTC), True),
    (datetime(2026, 12, 7, 17, 29, tzinfo=UTC), True),
    (datetime(2026, 12, 7, 17, 30, tzinfo=UTC), False),
    (datetime(2026, 12, 5, 12, 0, tzinfo=UTC), False),  # Saturday
    # Summer (BST = UTC+1): the same local hours are an hour earlier in UTC.
    (datetime(2026, 7, 6, 8, 0, tzinfo=UTC), True),
    (datetime(2026, 7, 6, 7, 59, tzinfo=UTC), False),
    (datetime(2026, 7, 6, 16, 30, tzinfo=UTC), False),
    # DST edges: clocks go forward on Sunday 29 March 2026 and back on Sunday 25 October.
    (datetime(2026, 3, 27, 8, 30, tzinfo=UTC), False),  # Friday before: 08:30 GMT
    (datetime(2026, 3, 30, 8, 30, tzinfo=UTC), True),   # Monday after: 09:30 BST
    (datetime(2026, 10, 23, 16, 45, tzinfo=UTC), False),  # Friday before: 17:45 BST
    (datetime(2026, 10, 26, 16, 45, tzinfo=UTC), True),   # Monday after: 16:45 GMT
])
def test_business_hours_follow_the_local_clock(utc: datetime, inside: bool) -> None:
    assert in_business_hours(LONDON, utc) is inside
    assert matches(when(in_hours=inside), item(), hours=LONDON, now=utc)
    assert not matches(when(in_hours=not inside), item(), hours=LONDON, now=utc)


def test_hours_in_another_zone_and_weekend_days() -> None:
    tokyo = HoursConfig(timezone="Asia/Tokyo", days=["saturday", "Sun"], start="10:00",
                        end="14:00")
    assert tokyo.days == ["sat", "sun"]
    # Saturday 01:30 UTC is Saturday 10:30 in Tokyo.
    assert in_business_hours(tokyo, datetime(2026, 12, 5, 1, 30, tzinfo=UTC))
    # Friday 23:00 UTC is already Saturday 08:00 in Tokyo: a weekend day, before hours.
    assert not in_business_hours(tokyo, datetime(2026, 12, 4, 23, 0, tzinfo=UTC))
