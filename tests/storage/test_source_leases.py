"""Source leases, due times and cursor compare-and-set, on SQLite and PostgreSQL: the
database decides which process polls a source, when, and which cursor is kept."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from storage.db import Database
from storage.db_clock import read_db_now
from storage.models import Source
from storage.sources import (
    Claim,
    CursorMoved,
    claim_source,
    lease_holder,
    mark_source_failed,
    release_source,
    renew_lease,
    save_cursor,
    source_health,
)

KEY = "x:search:acme"


def _claim(db: Database, holder: str, *, lease: float = 30.0, every: float = 60.0,
           due_only: bool = True) -> Claim | None:
    with db.write() as session:
        return claim_source(session, KEY, "x", "search", holder=holder, lease_seconds=lease,
                            every=every, due_only=due_only)


def _row(db: Database) -> Source:
    with db.session() as session:
        source = session.get(Source, KEY)
        assert source is not None
        return source


def test_one_holder_at_a_time_until_released_or_expired(migrated_db: Database) -> None:
    db = migrated_db
    first = _claim(db, "host-a:1", lease=0.6, every=0)
    assert first is not None
    assert first.cursor == {}
    assert first.version == 0
    assert _claim(db, "host-b:2", every=0) is None  # held: B's run leaves it
    assert _claim(db, "host-a:1", lease=0.6, every=0) is not None  # the holder may renew
    with db.session() as session:
        assert lease_holder(session, KEY) == "host-a:1"
        until = session.get(Source, KEY).lease_until
        assert until - read_db_now(session) <= timedelta(seconds=0.6)
    time.sleep(0.8)  # A stops renewing (killed): the lease runs out by the database's clock
    with db.session() as session:
        assert lease_holder(session, KEY) is None
    second = _claim(db, "host-b:2", every=0)
    assert second is not None
    with db.write() as session:
        assert not renew_lease(session, KEY, "host-a:1", 30)  # A lost it for good
        release_source(session, KEY, "host-a:1")  # and cannot release B's lease
    assert _row(db).lease_holder == "host-b:2"
    with db.write() as session:
        release_source(session, KEY, "host-b:2")
    assert _row(db).lease_holder is None
    assert _row(db).lease_until is None


def test_a_scheduled_claim_waits_for_the_due_time_an_explicit_one_does_not(
        migrated_db: Database) -> None:
    db = migrated_db
    assert _claim(db, "host-a:1", every=3600) is not None  # never polled: due at once
    with db.write() as session:
        release_source(session, KEY, "host-a:1")
    with db.session() as session:
        due = session.get(Source, KEY).next_due_at
        ahead = due - read_db_now(session)
    assert timedelta(minutes=59) < ahead <= timedelta(hours=1)  # every, less a 1 s grace
    assert _claim(db, "host-b:2", every=3600) is None  # polled this interval already
    assert _claim(db, "host-b:2", every=3600, due_only=False) is not None  # listen --once


def test_stale_cursor_save_is_refused_and_the_newer_cursor_kept(migrated_db: Database) -> None:
    db = migrated_db
    claim = _claim(db, "host-a:1")
    assert claim is not None
    with db.write() as session:
        save_cursor(session, claim, {"since_id": "200"}, new_items=5)
    stale = Claim(key=KEY, holder="host-a:1", cursor={}, version=claim.version)
    claim.version += 1  # what the listener does once the page has committed
    with db.write() as session:
        save_cursor(session, claim, {"since_id": "300"}, new_items=2)
    with pytest.raises(CursorMoved), db.write() as session:
        save_cursor(session, stale, {"since_id": "250"}, new_items=9)
    row = _row(db)
    assert row.cursor == {"since_id": "300"}
    assert row.cursor_version == 2
    assert row.items_total == 7  # the refused page counted nothing


def test_cursor_save_is_refused_once_the_lease_passed_to_another(migrated_db: Database) -> None:
    db = migrated_db
    old = _claim(db, "host-a:1", lease=0.3)
    assert old is not None
    time.sleep(0.5)
    new = _claim(db, "host-b:2", due_only=False)
    assert new is not None
    assert new.version == old.version
    with pytest.raises(CursorMoved), db.write() as session:
        save_cursor(session, old, {"since_id": "999"})
    with db.write() as session:
        save_cursor(session, new, {"since_id": "500"})
    assert _row(db).cursor == {"since_id": "500"}


def test_counters_are_incremented_in_the_database(migrated_db: Database) -> None:
    """Two processes counting failures at once never lose one (no read-modify-write)."""
    db = migrated_db

    def fail_many() -> None:
        for _ in range(25):
            with db.write() as session:
                mark_source_failed(session, KEY, "x", "search", "X server error 503")

    threads = [threading.Thread(target=fail_many) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _row(db).consecutive_failures == 50


def test_health_lists_the_live_lease_only(migrated_db: Database) -> None:
    db = migrated_db
    assert _claim(db, "host-a:1", lease=0.3) is not None
    with db.session() as session:
        [health] = source_health(session)
    assert health["lease_holder"] == "host-a:1"
    assert health["lease_until"] is not None
    assert health["next_due_at"] is not None
    time.sleep(0.5)
    with db.session() as session:
        [health] = source_health(session)
    assert health["lease_holder"] is None
    assert health["lease_until"] is None


@pytest.mark.parametrize("relax", [False, True])
def test_cursor_save_that_relaxes_the_commit_stores_the_same(migrated_db: Database,
                                                             relax: bool) -> None:
    """`save_cursor(relax_durability=True)` (the listener's pages: on PostgreSQL the
    update goes on the driver, pipelined with `SET LOCAL synchronous_commit = off`) stores
    what the plain save does: cursor, version, counts, the latest item time kept when a page
    brings an older one or none, and a stale save refused. The commit is relaxed."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    db = migrated_db
    claim = _claim(db, "host-a:1")
    assert claim is not None
    late, early = datetime(2026, 1, 2, 3, 4, 5, 6, UTC), datetime(2026, 1, 1, tzinfo=UTC)
    for cursor, at, pages in (({"since_id": "1", "n": [1]}, late, 2),
                              ({"since_id": "2"}, early, 1), ({"since_id": "3"}, None, 1)):
        with db.write() as session:
            save_cursor(session, claim, cursor, new_items=4, last_item_at=at, pages=pages,
                        relax_durability=relax)
            if relax and db.dialect == "postgresql":
                assert session.execute(text("SHOW synchronous_commit")).scalar() == "off"
        claim.version += pages
    stale = Claim(key=KEY, holder="host-a:1", cursor={}, version=claim.version - 1)
    with pytest.raises(CursorMoved), db.write() as session:
        save_cursor(session, stale, {"since_id": "9"}, relax_durability=relax)
    row = _row(db)
    assert (row.cursor, row.cursor_version, row.items_total) == ({"since_id": "3"}, 4, 12)
    assert row.last_item_at is not None
    assert row.last_item_at.replace(tzinfo=UTC) == late
