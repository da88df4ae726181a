"""Trends and private messages: analysts see them only as counts.

The hourly pre-aggregates count private messages and echoes (and migration 0005 backfills
those counts), top negative terms never read a private text, the Trends page shows the
private and echo counts while no element and no download holds the private text or id, and
every bucket of the range is charted (empty ones as zeros, ticks at the bucket's grain).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from alembic import command
from sqlalchemy import func, select, update
from streamlit.runtime.media_file_manager import MediaFileManager

from carewatch import domain
from dashboard import trends as page
from storage.db import Database
from storage.mentions import upsert_mentions
from storage.migrate import alembic_config
from storage.models import HourlyStat
from storage.trends import hourly_volume, top_negative_terms
from tests.dashboard.seed import seed
from tests.dashboard.test_app import goto, login

MARKER = "Zqxvprivmarker"
PRIVATE_ID = "m_trends-private-1"
PAGE_ID = "100000000000001"


def _private_and_echo(now: datetime) -> list[domain.Mention]:
    """A negative Messenger message whose text carries MARKER, and a retweet (an echo)."""
    customer = domain.Author(domain.Platform.FACEBOOK, "psid-5150", handle=None,
                             name="Pat Private")
    return [
        domain.Mention(
            platform=domain.Platform.FACEBOOK, external_id=PRIVATE_ID,
            text=f"{MARKER} terrible refund delay, passport 998877 attached",
            created_at=now - timedelta(minutes=20), author=customer,
            thread_id=domain.conversation_key(PAGE_ID, customer.external_id), lang="en",
            visibility=domain.Visibility.PRIVATE,
            score=domain.Score(-0.8, domain.SentimentLabel.NEGATIVE, 0.6, ["negative"], "en"),
        ),
        domain.Mention(
            platform=domain.Platform.X, external_id="1600000000000000099",
            text="RT @acmeair: New route to Lisbon", created_at=now - timedelta(minutes=25),
            author=domain.Author(domain.Platform.X, "u-fan", "fan", "Fan", 10), lang="en",
            is_echo=True,
            score=domain.Score(0.3, domain.SentimentLabel.POSITIVE, 0.0, ["echo"], "en"),
        ),
    ]


def add_private_and_echo(db: Database) -> None:
    with db.write() as session:
        upsert_mentions(session, _private_and_echo(datetime.now(UTC)),
                        source_key="facebook:messenger:100000000000001")


@pytest.fixture
def seeded(migrated_db: Database) -> Database:
    seed(migrated_db)
    add_private_and_echo(migrated_db)
    return migrated_db


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(days=7), now + timedelta(hours=1)


def test_hourly_counts_private_and_echoes(seeded: Database) -> None:
    with seeded.session() as session:
        hourly = hourly_volume(session, *_window())
        facebook = hourly_volume(session, *_window(), ["facebook"])
    assert sum(r["count"] for r in hourly) == 9  # 7 public mentions + private + echo
    assert sum(r["private"] for r in hourly) == 1
    assert sum(r["echoes"] for r in hourly) == 1
    assert sum(r["private"] for r in facebook) == 1
    assert sum(r["echoes"] for r in facebook) == 0


def test_top_negative_terms_never_read_private_text(seeded: Database) -> None:
    with seeded.session() as session:
        terms = dict(top_negative_terms(session, *_window()))
    assert terms["smoke"] == 2
    assert MARKER.lower() not in terms
    assert "passport" not in terms


def test_migration_0005_backfills_the_counts(seeded: Database) -> None:
    with seeded.write() as session:
        session.execute(update(HourlyStat).values(private_count=0, echo_count=0))
    config = alembic_config(seeded.engine)
    with seeded.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
        command.upgrade(config, "head")
    with seeded.session() as session:
        private, echoes, count = session.execute(select(
            func.sum(HourlyStat.private_count), func.sum(HourlyStat.echo_count),
            func.sum(HourlyStat.count))).one()
    assert (private, echoes, count) == (1, 1, 9)


# --- zero-filled buckets and ticks -----------------------------------------------------------


def test_empty_buckets_are_zeros_and_every_sentiment_stacks() -> None:
    since = datetime(2026, 11, 1, tzinfo=UTC)
    until = since + timedelta(days=4)
    hourly = [
        {"bucket": since + timedelta(hours=9), "platform": "x", "sentiment_label": "negative",
         "count": 3, "private": 1, "echoes": 0},
        {"bucket": since + timedelta(days=2, hours=5), "platform": "x",
         "sentiment_label": "positive", "count": 2, "private": 0, "echoes": 2},
    ]
    buckets = page.periods(since, until, "day", now=until + timedelta(days=30))
    assert list(buckets) == [pd.Timestamp(since + timedelta(days=d)) for d in range(4)]
    sentiment = page.bucket_counts(hourly, "sentiment_label", "day", buckets, page.SENTIMENTS)
    assert len(sentiment) == 4 * 3  # every day, every label
    per_day = sentiment.groupby("period")["count"].sum().tolist()
    assert per_day == [3, 0, 2, 0]
    series = page.count_series(hourly)
    private = page.bucket_counts(series, "series", "day", buckets, page.VISIBILITIES)
    assert private[private["series"] == "private"]["count"].tolist() == [1, 0, 0, 0]
    assert private[private["series"] == "public"]["count"].tolist() == [2, 0, 2, 0]
    echoes = page.bucket_counts(series, "series", "day", buckets, ["echoes"])
    assert echoes["count"].tolist() == [0, 0, 2, 0]
    assert page.bucket_counts([], "platform", "day", buckets, ["x"])["count"].tolist() == [0] * 4


def test_buckets_stop_at_now_and_weeks_start_on_monday() -> None:
    since = datetime(2026, 11, 4, tzinfo=UTC)  # a Wednesday
    hours = page.periods(since, since + timedelta(days=1), "hour",
                         now=since + timedelta(hours=5, minutes=10))
    assert len(hours) == 6  # 00:00 .. 05:00, nothing after now
    weeks = page.periods(since, since + timedelta(days=14), "week", now=since + timedelta(days=60))
    assert [w.day_name() for w in weeks] == ["Monday"] * 3
    assert weeks[0] == pd.Timestamp(datetime(2026, 11, 2, tzinfo=UTC))


@pytest.mark.parametrize(("grain", "days", "unit_ms"), [
    ("day", 30, 86_400_000), ("hour", 7, 3_600_000), ("week", 90, 7 * 86_400_000)])
def test_ticks_sit_on_bucket_starts(grain: str, days: int, unit_ms: int) -> None:
    since = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday, so weeks start on it
    buckets = page.periods(since, since + timedelta(days=days), grain, now=datetime(2030, 1, 1,
                                                                                   tzinfo=UTC))
    axis = page.time_axis(buckets, grain).to_dict()["axis"]
    values = axis["values"]
    start = int(since.timestamp() * 1000)
    assert values[0] == start
    assert all((v - start) % unit_ms == 0 for v in values)
    assert len(values) <= page.MAX_TICKS
    assert axis["format"] == page.TICK_FORMATS[grain]
    if grain == "day":
        assert all(v % 86_400_000 == 0 for v in values)  # midnights only, no hour ticks


# --- the page, as an analyst ------------------------------------------------------------------


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[Callable[[], Any]]:
    """The data callables the page hands to its download buttons, to be run as a click would."""
    made: list[Callable[[], Any]] = []
    original = MediaFileManager.add_deferred

    def keep(self: MediaFileManager, data_callable: Callable[[], Any], *args: Any,
             **kwargs: Any) -> str:
        made.append(data_callable)
        return original(self, data_callable, *args, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", keep)
    return made


def _everything(node: Any) -> str:
    """Every element of the page as protobuf text: values, chart specs and their data."""
    parts = [str(getattr(node, "proto", ""))]
    for child in getattr(node, "children", {}).values():
        parts.append(_everything(child))
    return "\n".join(parts)


@pytest.mark.parametrize("username", ["analyst1", "manager1"])
def test_trends_page_shows_private_counts_never_private_text(
        store: Database, downloads: list[Callable[[], Any]], username: str) -> None:
    add_private_and_echo(store)
    at = login(username)
    if username == "manager1":
        goto(at, "Trends")
    assert [t.value for t in at.title] == ["Trends"]
    captions = [str(c.value) for c in at.caption]
    assert any("private messages in range: 1 (counts only)" in c for c in captions)
    assert any("Echoes (retweets and other re-shares) per day · in range: 1" in c
               for c in captions)
    assert at.metric[0].value == "9"
    assert any(c.startswith("8 public mentions in range") for c in captions)
    page_dump = _everything(at._tree)
    assert "smoke" in page_dump  # the dump does reach chart data (top terms)
    for secret in (MARKER, MARKER.lower(), PRIVATE_ID, "998877"):
        assert secret not in page_dump
    assert len(downloads) == 3
    for make in downloads:
        data = make()
        assert data
        for secret in (MARKER.encode(), PRIVATE_ID.encode(), b"998877"):
            assert secret not in data
