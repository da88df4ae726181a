"""Page-sized writes and key lookups at the driver: the listener's per-page transaction.

Every page the listener stores inserts a hundred rows or so into authors, threads and
mentions and looks up as many keys. Through SQLAlchemy's insert-many-values each of those
statements is rebuilt per page with a placeholder per value (2,800 for a page of
mentions), every value passes a Python type processor, and on PostgreSQL psycopg re-parses
the whole text for its placeholders: measured, that was most of the storing time. Here the
same statements go straight to the DBAPI cursor of the session's connection (so inside the
session's transaction), with values converted once:

- PostgreSQL: the rows as one JSON array of arrays (each row's values by position),
  `INSERT ... SELECT (e->>0)::type, ... FROM jsonb_array_elements(...)`, encoded by orjson
  (a column type not read that way: JSON objects through `json_populate_recordset`). The
  statement text is the same for every page (psycopg parses it once and, after a few runs,
  the server keeps it prepared), whatever the number of rows.
- SQLite: a multi-row `VALUES` list, sized to the page; sqlite3 keeps the compiled
  statement in its cache, and binding happens in C.

Key lookups on PostgreSQL join the keys (one JSON array: `json_list`) to the table through
a `LATERAL` subquery: each key is then an equality on the whole unique index, which the
planner always answers with an index probe. The plain `platform = :p AND external_id =
ANY(:ids)` form depends on statistics: on a fresh or fast-growing table (before
autovacuum's first ANALYZE) it was planned as a walk over every row of the platform, a cost
that grew with each page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import chain
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, BigInteger, Boolean, Column, Float, Integer, Table
from sqlalchemy.orm import Session

from storage.models import UTCDateTime

#: The (platform, external_id) unique key of authors, threads and mentions.
UNIQUE_KEY = ("platform", "external_id")
# SQLite allows 32,766 bound values per statement; a page stays well under it.
SQLITE_MAX_VALUES = 30_000


@contextmanager
def driver_cursor(session: Session) -> Iterator[Any]:
    """A DBAPI cursor on the session's connection, inside its transaction, closed after
    use. Pending ORM changes are flushed first, as `Session.execute` would."""
    session.flush()
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    finally:
        cursor.close()


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# --------------------------------------------------------------------- value conversion
def sqlite_time(value: datetime | None) -> str | None:
    """The text SQLAlchemy's SQLite DATETIME stores (naive UTC, always with microseconds), so
    rows written here compare and sort with rows written through the ORM.

    Remembered for the last few thousand times: a page's mentions' times are converted
    again for their threads' roots (the same instants), and formatting costs ~30x a dict
    look-up. Equal datetimes are the same instant (or the same naive time), whose text is
    the same."""
    if value is None:
        return None
    text = _SQLITE_TIMES.get(value)
    if text is not None:
        return text
    if type(value) is not datetime:  # a subclass may format itself otherwise
        text = _isoformat_text(value)
    elif value.tzinfo is UTC or value.tzinfo is None:  # UTC: the offset is left out
        text = _time_text(value)
    else:
        text = _time_text(value.astimezone(UTC))
    if len(_SQLITE_TIMES) >= SQLITE_TIMES_KEPT:
        _SQLITE_TIMES.clear()
    _SQLITE_TIMES[value] = text
    return text


SQLITE_TIMES_KEPT = 4096
_SQLITE_TIMES: dict[datetime, str] = {}


def _isoformat_text(value: datetime) -> str:
    """`sqlite_time`'s text by `isoformat` (what `_time_text` must equal)."""
    if value.tzinfo is UTC:
        return value.isoformat(" ", "microseconds")[:26]
    naive = value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
    return naive.isoformat(" ", "microseconds")


def _time_text(moment: datetime) -> str:
    """`moment` (a plain datetime, naive or in UTC) as "YYYY-MM-DD HH:MM:SS.ffffff", the
    same text as `_isoformat_text`.

    Why: `isoformat` builds its text through a printf-style format, ~13,000 instructions a
    call (callgrind), once for every stored mention's time. Here the date and hour come
    from the text of the hour (made by `isoformat`, remembered: a page's times share a few
    hours) and minutes and seconds from a table: ~4,000 instructions for a whole second
    (source times usually are), ~7,000 with microseconds."""
    key = (moment.year, moment.month, moment.day, moment.hour)
    hour = _HOUR_TEXTS.get(key)
    if hour is None:
        if len(_HOUR_TEXTS) >= SQLITE_TIMES_KEPT:
            _HOUR_TEXTS.clear()
        hour = _HOUR_TEXTS[key] = moment.isoformat(" ", "hours")[:13] + ":"
    micro = moment.microsecond
    if micro:
        return f"{hour}{moment.minute:02d}:{moment.second:02d}.{micro:06d}"
    return hour + _WHOLE_SECONDS[moment.minute * 60 + moment.second]


_HOUR_TEXTS: dict[tuple[int, int, int, int], str] = {}
#: "MM:SS.000000" for each second of an hour.
_WHOLE_SECONDS = [f"{m:02d}:{s:02d}.000000" for m in range(60) for s in range(60)]


def utc_hour(moment: datetime) -> datetime:
    """The start of `moment`'s hour in UTC (a naive time is local, as `astimezone` reads
    it): the bucket of the hourly pre-aggregates, asked for every stored mention twice
    (`storage.trends`, `storage.topics`).

    Remembered per hour: `replace` parses its keywords and builds a new datetime, ~1 us
    (callgrind: ~8,500 instructions a call, ~5% of storing a page), where reading the hour's
    fields and a dict look-up cost a fifth of that. A page's mentions share a few hours."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    key = (moment.year, moment.month, moment.day, moment.hour)
    hour = _UTC_HOURS.get(key)
    if hour is None:
        if len(_UTC_HOURS) >= UTC_HOURS_KEPT:
            _UTC_HOURS.clear()
        hour = _UTC_HOURS[key] = moment.replace(minute=0, second=0, microsecond=0)
    return hour


#: Hours `utc_hour` remembers (its own bound: `SQLITE_TIMES_KEPT` is `sqlite_time`'s).
UTC_HOURS_KEPT = 4096
_UTC_HOURS: dict[tuple[int, int, int, int], datetime] = {}


def _json_time(value: Any) -> str:
    if not isinstance(value, datetime):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    # UTCDateTime stores a naive time as UTC.
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()


def pg_json(rows: Sequence[dict[str, Any]]) -> str:
    """`rows` as one JSON array for `json_populate_recordset`: the C encoder does the work
    that psycopg would do per value, and times go as ISO 8601 with their offset."""
    return json.dumps(rows, default=_json_default, ensure_ascii=False)


def _json_default(value: Any) -> Any:
    """`json.dumps`'s hook: a time as ISO 8601; a JSON value already encoded (bytes,
    `encoded_json`) as the value it encodes (the standard encoder cannot embed text)."""
    if type(value) is bytes:
        return json.loads(value)
    return _json_time(value)


def _pg_rows_json(table: Table, names: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    """`pg_json` of `rows`, by orjson when it can: ~8x faster than the standard encoder on a
    page of mentions (their raw payloads are most of the text), and it writes times as
    RFC 3339 with their offset itself (a naive time as UTC, as UTCDateTime stores it), so
    they need no conversion first. What orjson refuses (an integer beyond 64 bits, a key
    that is not a string, a string that is not valid UTF-8) goes the standard way. A JSON
    column's value already encoded (bytes: `encoded_json`) is embedded as it is."""
    try:
        return orjson.dumps(rows, default=_fragment, option=orjson.OPT_NAIVE_UTC).decode()
    except TypeError:  # orjson.JSONEncodeError
        return pg_json(_times_as_text(table, names, rows))


def _fragment(value: Any) -> orjson.Fragment:
    """orjson's hook for what it does not encode itself: a JSON value already encoded
    (bytes, `encoded_json`) goes into the page's JSON as its text; anything else is
    refused, as without the hook."""
    if type(value) is bytes:
        return orjson.Fragment(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _times_as_text(table: Table, names: Sequence[str],
                   rows: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
    """`rows` with their time columns already in ISO 8601: the encoder's `default` hook
    would be called for each of them (five a mention), and a page's rows share one `now`,
    converted here once."""
    times = [name for name, kind in _columns(table, names) if kind == "timestamptz"]
    if not times:
        return rows
    out = [dict(r) for r in rows]
    for name in times:
        for row, value in zip(out, _convert_runs(_iso_time, [r[name] for r in rows]),
                              strict=True):
            row[name] = value
    return out


def _iso_time(value: datetime | None) -> str | None:
    return None if value is None else _json_time(value)


def _pg_time(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _sqlite_bool(value: Any) -> int | None:
    return None if value is None else int(bool(value))


#: A boolean column whose values are all bools or None is converted by a dict look-up in C
#: (`_BOOL_INTS`), not a Python call per value (three columns a mention). To exact ints: a
#: bool given to sqlite3 as it is goes through its adapter look-up, which costs ~3,300
#: instructions a value (an AttributeError raised and formatted for `__conform__`).
_PLAIN_BOOLS = frozenset({bool, type(None)})
_BOOL_INTS = {True: 1, False: 0}


def _json(value: Any) -> str:
    """A JSON column's text on SQLite (a mention's raw payload: ~500 bytes of nested
    objects). orjson writes it ~8x faster than `json.dumps`, compact and in UTF-8 rather
    than with `\\uXXXX` escapes: the same JSON value, which is all that is read back
    (SQLAlchemy's JSON type parses it). A value it would encode differently from
    `json.dumps`, or refuses, goes through `json.dumps`: times, dataclasses and subclasses
    are passed through to the failing `default` instead of being encoded (so what
    `json.dumps` refuses is still refused), and an integer beyond 64 bits, a key that is not
    a string or a string that is not valid UTF-8 make orjson raise. SQLAlchemy's JSON type
    stores None as JSON null too (none_as_null is off). Bytes are a value already encoded
    (`encoded_json`: the fetch worker's raw payloads), stored as they are."""
    if type(value) is bytes:
        return value.decode()
    encoded = encoded_json(value)
    return json.dumps(value) if encoded is None else encoded.decode()


def encoded_json(value: Any) -> bytes | None:
    """`value` as UTF-8 JSON text, exactly what `_json` stores for it, or None where
    orjson would encode it differently from `json.dumps` or refuses it (see `_json`).

    Why: the fetch worker encodes each mention's raw payload with this and sends the bytes
    instead of the nested object: a string pickles, and unpickles in the listener, for a
    fraction of the cost of ~500 bytes of dicts, and the listener stores the text as it is
    (`_json` on SQLite, `_fragment` in PostgreSQL's page JSON) instead of encoding it again.
    A JSON column given bytes takes them for such text, unchecked."""
    try:
        return orjson.dumps(value, option=_ORJSON_STRICT)
    except TypeError:  # orjson.JSONEncodeError
        return None


_ORJSON_STRICT = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
                  | orjson.OPT_PASSTHROUGH_SUBCLASS)


def _kind(column: Column[Any]) -> str:
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "timestamptz"
    if isinstance(kind, Boolean):
        return "boolean"
    if isinstance(kind, JSON):
        return "json"
    if isinstance(kind, BigInteger | Integer):
        return "bigint"
    if isinstance(kind, Float):
        return "float8"
    return "text"


_SQLITE_CONVERT: dict[str, Callable[[Any], Any] | None] = {
    "timestamptz": sqlite_time, "boolean": _sqlite_bool, "json": _json}
_PG_CONVERT: dict[str, Callable[[Any], Any] | None] = {"timestamptz": _pg_time,
                                                        "json": _json}


_COLUMN_KINDS: dict[tuple[Table, tuple[str, ...]], list[tuple[str, str]]] = {}


def _columns(table: Table, names: Sequence[str]) -> list[tuple[str, str]]:
    # Asked for every statement of every page, about the same few column lists.
    key = (table, tuple(names))
    kinds = _COLUMN_KINDS.get(key)
    if kinds is None:
        kinds = _COLUMN_KINDS[key] = [(name, _kind(table.c[name])) for name in names]
    return kinds


def column_values(postgres: bool, table: Table, names: Sequence[str],
                  rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """Each column's values over `rows` (column-major), converted for the driver (`map`
    over `itemgetter`: the loop over a page's rows runs in C)."""
    convert = _PG_CONVERT if postgres else _SQLITE_CONVERT
    out = []
    for name, kind in _columns(table, names):
        fn = convert.get(kind)
        values = list(map(itemgetter(name), rows))
        if fn is None:
            out.append(values)
        elif kind == "timestamptz":
            out.append(_convert_runs(fn, values))
        elif kind == "boolean" and _PLAIN_BOOLS.issuperset(map(type, values)):
            out.append(list(map(_BOOL_INTS.get, values)))  # None: not a key, stays None
        else:
            out.append(list(map(fn, values)))
    return out


def _convert_runs(fn: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """`fn` over `values`, converting a value once while the same object repeats: a page's
    rows share one `now` in fetched_at and updated_at."""
    out: list[Any] = []
    last: Any = out  # nothing is this list
    done: Any = None
    for value in values:
        if value is not last:
            last, done = value, fn(value)
        out.append(done)
    return out


# ------------------------------------------------------------------------------ writes
def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]], *,
                conflict: Sequence[str] = (), returning: Sequence[str] = (),
                on_conflict: str = "DO NOTHING") -> list[tuple[Any, ...]]:
    """INSERT `rows` (dicts with the same keys, every column the table needs) with
    `ON CONFLICT (conflict) <on_conflict>`; returns the `returning` columns of the rows
    the statement wrote (with DO NOTHING: only the new ones)."""
    if not rows:
        return []
    names = list(rows[0])
    postgres = is_postgres(session)
    target = f"INSERT INTO {table.name} ({', '.join(names)})"
    tail = f" ON CONFLICT ({', '.join(conflict)}) {on_conflict}" if conflict else ""
    if returning:
        tail += f" RETURNING {', '.join(returning)}"
    out: list[tuple[Any, ...]] = []
    with driver_cursor(session) as cursor:
        if postgres:
            cursor.execute(*_pg_insert(session, table, names, rows, target, tail))
            if returning:
                out.extend(cursor.fetchall())
            return out
        width = len(names)
        values = column_values(False, table, names, rows)
        flat = list(chain.from_iterable(zip(*values, strict=True)))
        start = 0
        for size in statement_sizes(len(rows), max(1, SQLITE_MAX_VALUES // width)):
            cursor.execute(_values_sql(target, width, size, tail),
                           flat[start * width:(start + size) * width])
            start += size
            if returning:
                out.extend(cursor.fetchall())
    return out


#: The row counts of SQLite's multi-row statements (`statement_sizes`): a full page (100),
#: powers of two for the rest.
SQLITE_STATEMENT_ROWS = (1024, 512, 256, 128, 100, 64, 32, 16, 8, 4, 2, 1)


def statement_sizes(count: int, most: int) -> list[int]:
    """`count` rows as statements of `SQLITE_STATEMENT_ROWS` rows (at most `most` each),
    largest first: e.g. 100 -> [100], 37 -> [32, 4, 1].

    Why: sqlite3 keeps compiled statements by their text (an LRU of 128), and a VALUES list
    of another length is another text. A page's count of new authors (and so of new
    customers) differs from page to page, as does a live poll's count of new mentions: each
    new length was compiled again, ~350,000 instructions a time (callgrind of a 6,000
    mention poll: 2.4% of the listener's CPU), and with ~100 lengths for each statement
    the cache never held them. A dozen lengths a statement stay compiled; the rows are
    stored in the same order, by the same statements, only split."""
    sizes: list[int] = []
    for size in SQLITE_STATEMENT_ROWS:  # down to 1: every row is in some statement
        if size <= max(1, most):
            while count >= size:
                sizes.append(size)
                count -= size
    return sizes


def padded_in_list(values: Sequence[Any], step: int = 16) -> list[Any]:
    """`values` for an SQLite `IN (?, ...)` list, lengthened to a multiple of `step` by
    repeating the last one: a value twice in an IN list matches the rows it matches once,
    and the statement's text (`statement_sizes`: compiled once per text) is one of a few
    instead of one per length."""
    out = list(values)
    if out:
        out.extend(out[-1:] * (-len(out) % step))
    return out


def _values_sql(target: str, width: int, rows: int, tail: str) -> str:
    """`target VALUES (?, ...), ... tail` for `rows` rows of `width` values, remembered: the
    same text object again is a cheaper look-up in sqlite3's statement cache (its hash is
    kept) than a new string of ~10 kB for a page of mentions."""
    key = (target, width, rows, tail)
    sql = _VALUES_SQL.get(key)
    if sql is None:
        if len(_VALUES_SQL) >= 256:
            _VALUES_SQL.clear()
        one = "(" + ", ".join("?" * width) + ")"
        sql = _VALUES_SQL[key] = f"{target} VALUES {', '.join([one] * rows)}{tail}"
    return sql


_VALUES_SQL: dict[tuple[str, int, int, str], str] = {}


# A JSON escape of U+0000 that is not itself escaped (an odd run of backslashes before `u`).
_PG_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def pg_storable(page: str) -> str:
    """A page's JSON text as PostgreSQL can store it: its text and jsonb types cannot hold
    U+0000 (the page was refused whole, "unsupported Unicode escape sequence", and the
    source stuck on that item for good), so the character becomes U+FFFD. SQLite keeps it."""
    if "\\u0000" not in page:
        return page
    return _PG_NUL.sub(r"\1\\ufffd", page)


def _pg_insert(session: Session, table: Table, names: Sequence[str],
               rows: Sequence[dict[str, Any]], target: str, tail: str) -> tuple[str, tuple[str]]:
    """`insert_rows`'s statement and parameter on PostgreSQL: the rows as one JSON array of
    arrays (values by position, `_pg_row_arrays`) when every column can be read back that
    way, else as JSON objects for `json_populate_recordset`."""
    select = _pg_positional_select(session, table, names)
    if select is not None:
        page = _pg_row_arrays(names, rows)
        if page is not None:
            return f"{target} SELECT {select} FROM jsonb_array_elements(%s::jsonb) AS e{tail}", (
                pg_storable(page),)
    return (f"{target} SELECT {', '.join(names)} FROM json_populate_recordset("
            f"NULL::{table.name}, %s::json){tail}", (pg_storable(_pg_rows_json(table, names,
                                                                               rows)),))


def _pg_row_arrays(names: Sequence[str], rows: Sequence[dict[str, Any]]) -> str | None:
    """`rows` as one JSON array of arrays, each row's values in the order of `names` (as
    `_pg_rows_json` encodes them), or None where that cannot stand for them: a row lacking
    a column (by name it reads as NULL), a value orjson refuses (`_pg_rows_json` has the
    standard encoder's way)."""
    if len(names) < 2:
        return None
    try:
        return orjson.dumps(list(map(itemgetter(*names), rows)), default=_fragment,
                            option=orjson.OPT_NAIVE_UTC).decode()
    except (KeyError, TypeError):  # TypeError: orjson.JSONEncodeError
        return None


def _pg_positional_select(session: Session, table: Table, names: Sequence[str]) -> str | None:
    """The SELECT list reading `names` by position from `jsonb_array_elements`' `e`, or None
    when a column's type is not one read exactly that way (json, arrays: kept by
    `json_populate_recordset`).

    Why: per page of mentions, parsing the objects with `json_populate_recordset` (a hash
    table of fields per row, the raw payloads lexed twice before `jsonb_in` parses them
    again) was ~1/3 of the INSERT's server CPU; one `jsonb_in` of the page as arrays, each
    value then read by its index, measured 4.43 ms of server CPU a page of 100 mentions
    instead of 4.82 ms (threads: 1.14 instead of 1.24), with the same stored values. A
    jsonb column takes its value as parsed (JSON null: SQL NULL, as populate gives), a text
    one `->>`'s text; other types are cast from that text with the column's type (its
    input function, as populate calls it). Character types get no cast (an explicit cast to
    varchar(n) would cut a long value that populate's input refuses): the INSERT's
    assignment applies the length check as populate's did."""
    key = (table, tuple(names))
    if key in _PG_SELECTS:
        return _PG_SELECTS[key]
    dialect = session.get_bind().dialect
    parts = [_pg_read(i, table.c[name].type.compile(dialect=dialect))
             for i, name in enumerate(names)]
    _PG_SELECTS[key] = select = None if None in parts else ", ".join(map(str, parts))
    return select


def _pg_read(i: int, sql_type: str) -> str | None:
    """The expression reading value `i` of row array `e` as a column of `sql_type`."""
    if sql_type == "JSONB":
        return f"nullif(e->{i}, 'null'::jsonb)"
    if sql_type == "JSON" or "[" in sql_type:
        return None
    if sql_type == "TEXT" or sql_type.startswith(("VARCHAR", "CHAR")):
        return f"e->>{i}"
    return f"(e->>{i})::{sql_type}"


_PG_SELECTS: dict[tuple[Table, tuple[str, ...]], str | None] = {}


def update_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]], *,
                keys: Sequence[str]) -> None:
    """UPDATE each row found by its `keys` columns (a unique key) with its other values.

    One statement run for many parameter sets: psycopg sends them in one pipeline, sqlite3
    binds them in C. Each finds its row by equality on a unique key, an index probe
    whatever the table's statistics say."""
    if not rows:
        return
    names = [n for n in rows[0] if n not in keys]
    postgres = is_postgres(session)

    def mark(name: str) -> str:
        if not postgres:
            return "?"
        return {"json": "%s::jsonb", "timestamptz": "%s::timestamptz"}.get(
            _kind(table.c[name]), "%s")

    sql = (f"UPDATE {table.name} SET {', '.join(f'{n} = {mark(n)}' for n in names)} "
           f"WHERE {' AND '.join(f'{k} = {mark(k)}' for k in keys)}")
    values = column_values(postgres, table, [*names, *keys], rows)
    with driver_cursor(session) as cursor:
        cursor.executemany(sql, list(zip(*values, strict=True)))


# ----------------------------------------------------------------------------- lookups
def json_list(values: Sequence[Any]) -> str:
    """`values` as one JSON array parameter on PostgreSQL: keys (strings or integers) for
    `json_array_elements_text(%s::json)`, or flat rows (dicts) for `json_to_recordset`.
    psycopg would dump a list as an array element by element in Python, while orjson
    encodes the page's hundred keys in C (measured: the lists' dumping was a few % of the
    listener's CPU)."""
    try:
        return orjson.dumps(values if isinstance(values, list) else list(values)).decode()
    except TypeError:  # orjson.JSONEncodeError: e.g. an integer beyond 64 bits
        return json.dumps(list(values), ensure_ascii=False)


def rows_by_keys(session: Session, table: Table, columns: Sequence[str], platform: str,
                 ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """`columns` of the rows of `table` whose (platform, external_id) is (platform, one of
    `ids`), each found through the unique (platform, external_id) index."""
    if not ids:
        return []
    picked = ", ".join(columns)
    with driver_cursor(session) as cursor:
        if is_postgres(session):
            cursor.execute(*pg_rows_by_keys(table, columns, platform, ids))
            return list(cursor.fetchall())
        out: list[tuple[Any, ...]] = []
        per = SQLITE_MAX_VALUES - 1
        for start in range(0, len(ids), per):
            part = ids[start:start + per]
            cursor.execute(f"SELECT {picked} FROM {table.name} WHERE platform = ? "
                           f"AND external_id IN ({', '.join('?' * len(part))})",
                           [platform, *part])
            out.extend(cursor.fetchall())
        return out


def pg_rows_by_keys(table: Table, columns: Sequence[str], platform: str,
                    ids: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
    """`rows_by_keys`'s statement and parameters on PostgreSQL (for `pipelined_reads`)."""
    return (f"SELECT {', '.join('t.' + c for c in columns)} FROM "
            f"json_array_elements_text(%s::json) AS k(id) CROSS JOIN LATERAL (SELECT "
            f"{', '.join(columns)} FROM {table.name} WHERE platform = %s AND external_id = k.id "
            "LIMIT 1) AS t", (json_list(ids), platform))


def pipelined_reads(session: Session, statements: Sequence[tuple[str, Sequence[Any]]]
                    ) -> list[list[tuple[Any, ...]]]:
    """PostgreSQL: run these reads in one round trip (psycopg's pipeline mode: sent
    together, one sync) and return each one's rows, in order. For reads that do not depend
    on each other: each round trip of the listener's page costs ~1.5 ms of wall time on
    the loaded two-core machine beyond the server's work (measured at 20k mentions)."""
    if not statements:
        return []
    if len(statements) == 1:
        with driver_cursor(session) as cursor:
            cursor.execute(*statements[0])
            return [list(cursor.fetchall())]
    with driver_cursor(session) as first:
        conn = first.connection
        cursors = [first, *(conn.cursor() for _ in statements[1:])]
        try:
            with conn.pipeline():
                for cursor, (sql, params) in zip(cursors, statements, strict=True):
                    cursor.execute(sql, params)
            return [list(cursor.fetchall()) for cursor in cursors]
        finally:
            for cursor in cursors[1:]:
                cursor.close()
