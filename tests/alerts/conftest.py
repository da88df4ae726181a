"""Fixtures for alert tests: a migrated temporary database (SQLite, or PostgreSQL in its own
throwaway database), a settable clock, and a helper that stores scored mentions."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from carewatch import domain
from carewatch.settings import AlertsConfig, NotifyConfig, Settings
from listener.alerts import AlertEngine
from storage.db import Database, open_database
from storage.mentions import upsert_mentions
from storage.migrate import upgrade

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
_ids = itertools.count(1_600_000_000_000_000_001)


class Clock:
    """An injectable `now` that tests move by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.t = start

    def __call__(self) -> datetime:
        return self.t

    def at(self, moment: datetime) -> Clock:
        self.t = moment
        return self

    def advance(self, **delta: float) -> Clock:
        self.t += timedelta(**delta)
        return self


def _sqlite(tmp_path) -> Iterator[Database]:
    db = open_database(f"sqlite:///{tmp_path / 'alerts.db'}")
    upgrade(db.engine)
    yield db
    db.dispose()


def _postgres() -> Iterator[Database]:
    from sqlalchemy import create_engine, text

    name = f"cw_test_{secrets.token_hex(6)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = open_database(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        upgrade(db.engine)
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db(request, tmp_path) -> Iterator[Database]:
    """The same test on SQLite and on PostgreSQL."""
    gen = _sqlite(tmp_path) if request.param == "sqlite" else _postgres()
    yield next(gen)
    next(gen, None)


@pytest.fixture
def db(tmp_path) -> Iterator[Database]:
    yield from _sqlite(tmp_path)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_settings(notify: list[NotifyConfig] | None = None, **alerts: float) -> Settings:
    return Settings(database_url="sqlite://", alerts=AlertsConfig(**alerts), notify=notify or [])


def engine_for(db: Database, clock: Clock, settings: Settings | None = None) -> AlertEngine:
    return AlertEngine(db, settings or make_settings(), now=clock)


def mention(text: str, created_at: datetime, *, label: str = "neutral", urgency: float = 0.2,
            reasons: list[str] | None = None, followers: int = 120, author: str | None = None,
            platform: domain.Platform = domain.Platform.X, external_id: str | None = None,
            is_own: bool = False,
            visibility: domain.Visibility = domain.Visibility.PUBLIC) -> domain.Mention:
    sentiment = {"negative": -0.6, "neutral": 0.0, "positive": 0.6}[label]
    author_id = author or f"u{next(_ids)}"
    return domain.Mention(
        platform=platform, external_id=external_id or str(next(_ids)), text=text,
        created_at=created_at,
        author=domain.Author(platform=platform, external_id=author_id, handle=f"h{author_id}",
                             name=None, followers=followers),
        url=None, is_own=is_own, visibility=visibility,
        score=domain.Score(sentiment=sentiment, sentiment_label=domain.SentimentLabel(label),
                           urgency=urgency, urgency_reasons=list(reasons or []), lang="en"),
    )


def store(db: Database, mentions: list[domain.Mention], source_key: str = "x:search:qtest"
          ) -> list[int]:
    """Upsert like the listener does (one transaction per page); returns new mention ids."""
    with db.write() as session:
        return upsert_mentions(session, mentions, source_key=source_key).inserted_ids


def quiet_history(end: datetime, hours: int = 72) -> list[domain.Mention]:
    """About one mention an hour for `hours`, a third negative, no risk words."""
    out = []
    for h in range(1, hours + 1):
        negative = h % 3 == 0
        out.append(mention("my bag is late again, not happy" if negative
                           else "what time does check-in open for my flight?",
                           end - timedelta(hours=h, minutes=7),
                           label="negative" if negative else "neutral"))
    return out


def burst(start: datetime, count: int, *, text: str = "there is smoke in the cabin, this is "
          "unsafe and nobody helps", reasons: tuple[str, ...] = ("negative", "safety"),
          urgency: float = 0.85) -> list[domain.Mention]:
    return [mention(f"{text} #{i}", start + timedelta(minutes=i), label="negative",
                    urgency=urgency, reasons=list(reasons)) for i in range(count)]


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """`carewatch.cli.main` binds structlog to the sys.stderr of the moment (capsys's, closed
    after the test); reset so later tests do not log into a closed file."""
    import structlog

    yield
    structlog.reset_defaults()
