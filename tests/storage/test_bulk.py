"""`storage.bulk.insert_rows` on SQLite and PostgreSQL: what a page's rows store.

On PostgreSQL the rows go as JSON arrays read by position, or as JSON objects by name where
they cannot (`storage.bulk._pg_insert`). Both must store the same values."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import psycopg
import pytest
from sqlalchemy import select, text

from storage import bulk
from storage.bulk import encoded_json, insert_rows, is_postgres
from storage.models import Customer

AWARE = datetime(2026, 11, 20, 10, 30, 15, 123456, tzinfo=UTC)
NAIVE = datetime(2026, 11, 20, 10, 30)  # stored as UTC
HOSTILE = "=HYPERLINK(\"x\")\u202e<img> 👩‍👩‍👧\u200b\r\n\\ \"q\" end"
TAGS = {"f": [0.1, 1e-07, 1e16, -0.0, 2.5e-308], "s": HOSTILE, "n": None, "b": [True, False],
        "i": 2**63 - 1, "o": {"z": 1, "a": [{}]}}


def _rows() -> list[dict[str, object]]:
    return [
        {"display_name": HOSTILE, "notes": "", "tags": TAGS, "last_agent": "ann",
         "created_at": AWARE},
        {"display_name": None, "notes": "null", "tags": encoded_json(["a", "b"]),
         "last_agent": None, "created_at": NAIVE},
        {"display_name": "1e-07", "notes": "0.10", "tags": "null", "last_agent": "true",
         "created_at": AWARE},
    ]


def _stored(session, ids: list[int]) -> list[tuple[object, ...]]:
    return [tuple(row) for row in session.execute(
        select(Customer.display_name, Customer.notes, Customer.tags, Customer.last_agent,
               Customer.created_at).where(Customer.id.in_(ids)).order_by(Customer.id))]


def _insert(session) -> list[int]:
    return [pk for (pk,) in insert_rows(session, Customer.__table__, _rows(),
                                        returning=("id",))]


def test_rows_by_position_store_what_rows_by_name_do(migrated_db, monkeypatch) -> None:
    with migrated_db.session() as session:
        by_position = _insert(session)
        monkeypatch.setattr(bulk, "_pg_row_arrays", lambda names, rows: None)
        by_name = _insert(session)
        stored = _stored(session, by_position)
        assert stored == _stored(session, by_name)
    assert stored[0] == (HOSTILE, "", TAGS, "ann", AWARE)
    assert stored[1] == (None, "null", ["a", "b"], None, NAIVE.replace(tzinfo=UTC))
    assert stored[2] == ("1e-07", "0.10", "null", "true", AWARE)


def test_a_value_too_long_is_refused_not_cut(migrated_db) -> None:
    with migrated_db.session() as session:
        if not is_postgres(session):
            pytest.skip("SQLite does not check a VARCHAR's length")
    rows = _rows()
    rows[0]["display_name"] = "x" * 201  # String(200)
    with pytest.raises(psycopg.errors.StringDataRightTruncation):
        _insert_in_session(migrated_db, rows)


def _insert_in_session(db, rows: list[dict[str, object]]) -> None:
    with db.session() as session:
        insert_rows(session, Customer.__table__, rows)


@pytest.mark.parametrize("moment", [
    AWARE, AWARE.replace(minute=0, second=0, microsecond=0),
    datetime(2026, 11, 20, 23, 59, 59, 999999, tzinfo=UTC),
    datetime.fromisoformat("2026-11-21T01:45:00+02:00"),  # 23:45 UTC the day before
])
def test_utc_hour_is_the_start_of_the_utc_hour(moment: datetime) -> None:
    expected = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    for _ in range(2):  # computed, then remembered
        hour = bulk.utc_hour(moment)
        assert hour == expected
        assert hour.tzinfo is UTC


def test_utc_hour_keeps_its_memory_bounded(monkeypatch) -> None:
    monkeypatch.setattr(bulk, "_UTC_HOURS", {})
    monkeypatch.setattr(bulk, "UTC_HOURS_KEPT", 3)
    hours = [datetime(2026, 11, 20, h, 30, tzinfo=UTC) for h in range(5)]
    assert [bulk.utc_hour(h) for h in hours] == [h.replace(minute=0) for h in hours]
    assert len(bulk._UTC_HOURS) <= 3


def _isoformat_time(value: datetime) -> str:
    """What `sqlite_time` stores, by `isoformat` (as SQLAlchemy's SQLite DATETIME writes
    it: naive UTC, with microseconds)."""
    naive = value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
    return naive.isoformat(" ", "microseconds")


class _Moment(datetime):
    """A datetime subclass: formatted by its own `isoformat`."""


def _random_times(rng: random.Random, count: int) -> list[datetime]:
    zones = [None, UTC, timezone(timedelta(hours=2)),
             timezone(-timedelta(hours=9, minutes=30)), ZoneInfo("UTC"),
             ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York")]
    out = []
    for _ in range(count):
        day = date.fromordinal(rng.randint(2, date.max.toordinal() - 1))  # any year
        micro = rng.choice([0, 0, rng.randrange(1, 1_000_000), 999_999])
        moment = time(rng.randrange(24), rng.randrange(60), rng.randrange(60), micro,
                      fold=rng.randrange(2))
        out.append(datetime.combine(day, moment, rng.choice(zones)))
    return out


def test_sqlite_time_is_isoformats_text_for_every_time(monkeypatch) -> None:
    """The fast formatting (`_time_text`: the hour's text remembered, seconds from a table)
    writes exactly what `isoformat` does, for any date, naive, in UTC or in another zone,
    with microseconds or without, computed or remembered."""
    monkeypatch.setattr(bulk, "_SQLITE_TIMES", {})
    monkeypatch.setattr(bulk, "_HOUR_TEXTS", {})
    monkeypatch.setattr(bulk, "SQLITE_TIMES_KEPT", 64)  # both memories fill and clear
    rng = random.Random(20261207)
    edges = [datetime.min, datetime.max, datetime.min.replace(tzinfo=UTC),
             datetime.max.replace(tzinfo=UTC), datetime(2026, 12, 7, 23, 59, 59, 999999),
             datetime(2026, 12, 7, tzinfo=UTC), datetime(2026, 3, 29, 2, 30,
                                                         tzinfo=ZoneInfo("Europe/Paris")),
             _Moment(2026, 12, 7, 10, 5, 1, tzinfo=UTC), _Moment(2026, 12, 7, 10, 5, 1, 7)]
    times = edges + _random_times(rng, 20_000)
    for _ in range(2):  # computed, then (for the last ones) remembered
        for value in times:
            assert bulk.sqlite_time(value) == _isoformat_time(value), repr(value)
    assert bulk.sqlite_time(None) is None
    assert len(bulk._HOUR_TEXTS) <= 64


@pytest.mark.parametrize("is_brand", [True, False, 1, 0, "yes"])
def test_booleans_are_stored_as_the_orm_stores_them(migrated_db, is_brand) -> None:
    """Plain bools go to the driver as they are (SQLite binds them as 1 and 0), any other
    truthy value is converted: both read back as the ORM wrote them, an integer 1 or 0."""
    from storage.models import Author

    with migrated_db.write() as session:
        insert_rows(session, Author.__table__, [
            {"platform": "x", "external_id": "1", "is_brand": is_brand, "updated_at": AWARE},
            {"platform": "x", "external_id": "2", "is_brand": False, "updated_at": AWARE}])
        session.add(Author(platform="x", external_id="3", is_brand=bool(is_brand)))
        session.flush()
        stored = session.execute(select(Author.external_id, Author.is_brand)
                                 .order_by(Author.external_id)).all()
        assert [tuple(r) for r in stored] == [("1", bool(is_brand)), ("2", False),
                                              ("3", bool(is_brand))]
        if not is_postgres(session):
            kinds = session.execute(text(
                "SELECT typeof(is_brand), is_brand FROM authors ORDER BY external_id")).all()
            assert {tuple(k) for k in kinds[::2]} == {("integer", int(bool(is_brand)))}


def test_none_binds_as_null_through_its_own_adapter(tmp_path) -> None:
    """An SQLite engine registers the None adapter (`storage.db._bind_none_directly`), and
    None still reaches the database as NULL, through the driver and the ORM alike."""
    import sqlite3

    from storage.db import open_database

    db = open_database(f"sqlite:///{tmp_path / 'n.db'}")
    try:
        assert sqlite3.adapters.get((type(None), sqlite3.PrepareProtocol)) is not None
        with db.engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw.execute("SELECT typeof(?), ? IS NULL", (None, None)).fetchone() == (
                "null", 1)
    finally:
        db.dispose()


@pytest.mark.parametrize("most", [1, 3, 100, 1071, 15_000])
def test_statement_sizes_cover_every_row_in_a_few_lengths(most: int) -> None:
    for count in range(0, 2500):
        sizes = bulk.statement_sizes(count, most)
        assert sum(sizes) == count
        assert all(s in bulk.SQLITE_STATEMENT_ROWS and s <= most for s in sizes)
        assert sizes == sorted(sizes, reverse=True)
    assert bulk.statement_sizes(100, 1071) == [100]  # a full page: one statement


def test_inserts_of_every_length_share_a_few_statement_texts(migrated_db, monkeypatch) -> None:
    """Pages of 1 to 130 new rows store every row, each with the id RETURNING gave it (on
    SQLite in the rows' order, as one statement would); on SQLite through at most one
    statement text a length of `SQLITE_STATEMENT_ROWS` (sqlite3 compiles each new text)."""
    texts: set[str] = set()
    real = bulk.driver_cursor

    class Recording:
        def __init__(self, cursor) -> None:
            self.cursor = cursor

        def execute(self, sql, *args):
            texts.add(sql)
            return self.cursor.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(self.cursor, name)

    def recording(session):
        from contextlib import contextmanager

        @contextmanager
        def opened():
            with real(session) as cursor:
                yield Recording(cursor)
        return opened()

    monkeypatch.setattr(bulk, "driver_cursor", recording)
    with migrated_db.session() as session:
        for count in range(1, 131):
            rows = [{"display_name": f"c{count}-{i}", "notes": "", "tags": [],
                     "created_at": AWARE} for i in range(count)]
            created = insert_rows(session, Customer.__table__, rows,
                                  returning=("id", "display_name"))
            names = [r["display_name"] for r in rows]
            assert sorted(name for _, name in created) == sorted(names)
            stored = _stored(session, [pk for pk, _ in created])  # by id
            assert [s[0] for s in stored] == (names if not is_postgres(session)
                                              else [name for _, name in sorted(created)])
        if not is_postgres(session):
            assert len(texts) <= len(bulk.SQLITE_STATEMENT_ROWS)


def test_padded_in_list_repeats_the_last_value_to_a_multiple() -> None:
    assert bulk.padded_in_list([]) == []
    assert bulk.padded_in_list([3, 1, 2], step=4) == [3, 1, 2, 2]
    assert bulk.padded_in_list(range(16)) == list(range(16))
    assert len(bulk.padded_in_list(range(17))) == 32
