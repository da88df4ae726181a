"""Ingestor behaviour with scripted sources on a real SQLite store: a page and its cursor
commit together, failures are confined to their source, alerts never stop listening, a
revoked source is skipped until its token changes, and urgency grows with waiting time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from carewatch.domain import Author, Mention, Page, Platform
from carewatch.errors import TokenRevoked, TransientError
from carewatch.settings import Settings, SourceConfig
from listener import ingest
from listener.ingest import Ingestor
from listener.rescore import rescore_open_mentions
from storage import sources as source_store
from storage.db import Database, open_database
from storage.migrate import upgrade
from tests.listener.helpers import sources, stored

NOW = datetime.now(UTC)


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    database = open_database(sqlite_url)
    upgrade(database.engine)
    yield database
    database.dispose()


def _settings() -> Settings:
    return Settings(x_bearer_token="tok-1", fb_page_token="tok-2",
                    sources=[SourceConfig(platform="x", kind="mentions", user_id="1")])


def _mention(i: int, text: str = "hello", ago_minutes: float = 1) -> Mention:
    return Mention(platform=Platform.X, external_id=str(i), text=text,
                   created_at=NOW - timedelta(minutes=ago_minutes),
                   author=Author(Platform.X, f"a{i}", handle=f"h{i}", followers=5),
                   thread_id=str(i))


class Scripted:
    """A source that yields the given pages, then raises `error` if any."""

    def __init__(self, pages: list[Page], error: Exception | None = None) -> None:
        self.pages, self.error = pages, error
        self.built = 0

    def factory(self, config: SourceConfig, settings: Settings, **_: Any) -> Scripted:
        self.built += 1
        self.config = config
        return self

    def poll(self, cursor: dict[str, Any]) -> Iterator[Page]:
        yield from self.pages
        if self.error is not None:
            raise self.error


def test_pages_before_a_failure_are_kept_with_their_cursor(db: Database) -> None:
    settings = _settings()
    script = Scripted([Page([_mention(1), _mention(2)], {"since_id": "2"})],
                      TransientError("X server error 503 for source x"))
    result = Ingestor(db, settings, source_factory=script.factory).poll_source(
        settings.sources[0])
    assert result.state == "failed"
    assert result.new == 2
    assert set(stored(db, "x")) == {"1", "2"}
    src = sources(db)[settings.sources[0].key]
    assert src.cursor == {"since_id": "2"}
    assert not src.healthy
    assert "503" in (src.health_message or "")


def test_cursor_and_mentions_commit_together(db: Database,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings()
    script = Scripted([Page([_mention(1)], {"since_id": "1"}),
                       Page([_mention(2)], {"since_id": "2"})])

    calls = {"n": 0}
    real = source_store.save_cursor

    def flaky_save(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        real(*args, **kwargs)

    monkeypatch.setattr(ingest, "save_cursor", flaky_save)
    result = Ingestor(db, settings, source_factory=script.factory).poll_source(
        settings.sources[0])
    assert result.state == "failed"
    # The second page rolled back whole: neither its mention nor its cursor is stored.
    assert set(stored(db, "x")) == {"1"}
    assert sources(db)[settings.sources[0].key].cursor == {"since_id": "1"}


def test_alert_failures_never_stop_listening(db: Database) -> None:
    class Exploding:
        def on_new_mentions(self, ids: list[int]) -> None:
            raise RuntimeError("smtp down")

    settings = _settings()
    script = Scripted([Page([_mention(1)], {"since_id": "1"})])
    result = Ingestor(db, settings, alert_engine=Exploding(),
                      source_factory=script.factory).poll_source(settings.sources[0])
    assert result.ok
    assert result.new == 1
    assert sources(db)[settings.sources[0].key].healthy


def test_revoked_source_is_skipped_until_the_token_changes(db: Database) -> None:
    settings = _settings()
    script = Scripted([], TokenRevoked("X rejected the token (401)", code=401))
    ingestor = Ingestor(db, settings, source_factory=script.factory)
    first = ingestor.poll_source(settings.sources[0])
    assert first.state == "revoked"
    assert "CAREWATCH_X_BEARER_TOKEN" in (first.message or "")
    assert sources(db)[settings.sources[0].key].token_state == "revoked"
    second = ingestor.poll_source(settings.sources[0])
    assert second.state == "skipped"
    assert script.built == 1
    # A new token: the source is tried again (and recovers).
    ingestor.settings = settings.model_copy(update={"x_bearer_token": SecretStr("tok-new")})
    script.error = None
    third = ingestor.poll_source(settings.sources[0])
    assert third.ok
    assert script.built == 2
    assert sources(db)[settings.sources[0].key].token_state == "ok"


def test_only_new_texts_are_scored(db: Database) -> None:
    class Counting:
        def __init__(self) -> None:
            from listener.scoring import Scorer

            self.inner, self.texts = Scorer(), []

        def score(self, text: str, **kw: Any) -> Any:
            self.texts.append(text)
            return self.inner.score(text, **kw)

    settings = _settings()
    scorer = Counting()
    page = Page([_mention(1, "terrible delay, where is my bag?"), _mention(2)], {"a": 1})
    own = _mention(3, "our own post")
    own.is_own = True
    page.mentions.append(own)
    ingestor = Ingestor(db, settings, scorer=scorer,
                        source_factory=Scripted([page]).factory)
    ingestor.poll_source(settings.sources[0])
    again = Page([_mention(1, "terrible delay, where is my bag?"), _mention(4)], {"a": 2})
    Ingestor(db, settings, scorer=scorer,
             source_factory=Scripted([again]).factory).poll_source(settings.sources[0])
    assert scorer.texts == ["terrible delay, where is my bag?", "hello", "hello"]
    rows = stored(db, "x")
    assert rows["1"].sentiment_label == "negative"
    assert "question" in rows["1"].urgency_reasons
    assert rows["3"].sentiment is None
    assert rows["3"].is_own


def test_rescore_raises_urgency_as_waiting_grows(db: Database) -> None:
    settings = _settings()
    page = Page([_mention(1, "where is my bag?", ago_minutes=5)], {"a": 1})
    Ingestor(db, settings, source_factory=Scripted([page]).factory).poll_source(
        settings.sources[0])
    before = stored(db, "x")["1"]
    assert "waiting_sla" not in before.urgency_reasons
    changed = rescore_open_mentions(db, settings, now=NOW + timedelta(hours=3))
    after = stored(db, "x")["1"]
    assert changed == 1
    assert after.urgency > before.urgency
    assert "waiting_sla" in after.urgency_reasons
    # Closed mentions are left alone.
    with db.write() as session:
        row = session.get(type(after), after.id)
        assert row is not None
        row.status = "closed"
        row.urgency = 0.0
    assert rescore_open_mentions(db, settings, now=NOW + timedelta(hours=5)) == 0
