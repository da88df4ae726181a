"""Items and a listener process for the bulk-ingest tests (a module of its own, so spawned
worker processes can import it by name)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from carewatch.domain import Author, Mention, Platform
from carewatch.settings import Settings, SourceConfig

NOW = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=1)


def settings() -> Settings:
    return Settings(x_bearer_token="tok-1", fb_page_token="tok-2",
                    sources=[SourceConfig(platform="x", kind="mentions", user_id="1")])


def tweet(i: int, *, thread: int | None = None, author: int | None = None,
          text: str = "@acmeair where is my bag?") -> Mention:
    """Tweet `i` by author `author` (default: its own) in conversation `thread` (default: it
    starts its own)."""
    who = i if author is None else author
    return Mention(platform=Platform.X, external_id=str(i), text=f"{text} #{i}",
                   created_at=NOW + timedelta(seconds=i),
                   author=Author(Platform.X, f"a{who}", handle=f"h{who}", followers=10 + i),
                   thread_id=str(i if thread is None else thread),
                   parent_id=None if thread is None else str(thread))


def store_in_process(url: str, batches: list[list[int]], start: Any) -> list[int]:
    """One listener process storing `batches` (tweet numbers) as webhook deliveries; returns
    the ids it stored as new."""
    from listener.ingest import Ingestor
    from storage.db import open_database

    database = open_database(url)
    ingestor = Ingestor(database, settings())
    start.wait(timeout=60)
    new: list[int] = []
    for batch in batches:
        # Replies share conversations and authors across batches, so both processes race
        # on the same new threads, authors and hourly buckets too.
        result = ingestor.store_mentions("x:test", [tweet(i, thread=i - i % 5, author=i % 7)
                                                    for i in batch])
        new.extend(result.inserted_ids)
    database.dispose()
    return new
