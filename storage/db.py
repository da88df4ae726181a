"""Engines and sessions: SQLite by default (WAL, foreign keys, busy timeout), PostgreSQL by URL.

Every entry point goes through `open_database`, which turns a bad URL or an unreachable server
into a `DatabaseError` with one clear line instead of a driver traceback.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_MMAP_BYTES = 1 << 30  # address space, not memory: the OS page cache backs it
SQLITE_WAL_CHECKPOINT_PAGES = 10_000  # pages of the WAL (4 KB each) between checkpoints
SQLITE_WAL_LIMIT_BYTES = 64 << 20  # what a checkpointed WAL file is truncated to
#: Each connection's page cache, in KiB (SQLite's default is 2 MB): the most a connection
#: keeps, not what it takes; pages read through the memory map are not copied into it.
SQLITE_CACHE_KIB = 16 << 10
#: Where a connection keeps its temporary files (statement journals, sorts): in memory, as
#: the listener's are small; migrations put theirs on disk (`storage.migrate`).
SQLITE_TEMP_STORE = "MEMORY"
#: A PostgreSQL connection back from the pool is pinged first only when it sat unused this
#: long (`_ping_if_idle`).
PING_AFTER_IDLE_SECONDS = 30.0


class DatabaseError(Exception):
    """The database cannot be used; the message is one line for the user."""


def redact_url(url: str | URL) -> str:
    """The URL with its password hidden, safe to print or log. SQLAlchemy parses it, so a
    password holding `@`, `:` or `/` is hidden whole; a URL it cannot parse is not shown
    beyond its scheme, since where its password is cannot be known."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        scheme = str(url).split("://", 1)[0] if "://" in str(url) else ""
        return f"{scheme}://(not shown)" if scheme and "@" in str(url) else str(url)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Reads map the file instead of copying each page through the 2 MB page cache: the
    # queue walk and a search's checks read pages all over a big store (measured at 1M
    # mentions: a common word's capped count 316 -> 146 ms).
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    # Checkpoint the WAL every ~40 MB instead of every 4 MB: each checkpoint syncs the WAL and
    # the database file, and a listener page (mentions plus their index entries) fills 4 MB
    # every few commits. Measured on 20k X mentions into SQLite: time in COMMIT 5.3 -> 1.9-3.0
    # s. The WAL file is truncated back to the limit below after a checkpoint.
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_CHECKPOINT_PAGES}")
    cursor.execute(f"PRAGMA journal_size_limit={SQLITE_WAL_LIMIT_BYTES}")
    # Statement journals in memory, not in temporary files. Inside a transaction, SQLite
    # copies each page a multi-row statement changes into a statement journal first (to
    # undo that statement alone if it fails), and past 64 KB it writes that copy to a file
    # in /var/tmp, created and deleted per transaction: a listener batch's upserts are such
    # statements, and a 20k-mention poll wrote ~48k page copies there (96k pwrite64, half
    # the listener's syscalls). Nothing durable is in them: the WAL alone recovers a crash.
    # It also keeps temporary tables, transient indexes and a sort's spilled runs in
    # memory: carewatch creates no temporary tables, and its reads of many rows walk
    # indexes. Migrations, whose statements can copy or sort a whole table, switch their
    # connection back to files (`storage.migrate`).
    cursor.execute(f"PRAGMA temp_store={SQLITE_TEMP_STORE}")
    # A listener batch (`listener.ingest.PAGES_PER_COMMIT` pages) dirties up to ~850 pages
    # (3.4 MB; mentions, their index entries, threads): with the 2 MB default, SQLite
    # spilled dirty pages into the WAL mid-transaction (the commit then reads every frame
    # after the first spilled one back to rewrite its checksum) and read recently written
    # pages back from the WAL, which the memory map does not cover. Measured on a 20k
    # poll: 35k pread64 and 15k extra pwrite64 -> only the checkpoint's 5.8k reads.
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.close()


def _bind_none_directly() -> None:
    """Give sqlite3 an adapter for None that returns it as it is (`{}.get`: a C call, no
    Python frame), so a None parameter is bound as NULL without the adapter protocol's
    attribute look-ups.

    Why: sqlite3 (3.11) takes every value but an exact int, float, str or bytearray through
    `microprotocols_adapt`; for None, finding no adapter, it asks the object for
    `__conform__`, which raises and formats an AttributeError: ~3,300 instructions a value
    (callgrind), ~1 us. A page of mentions binds several None a row (parent_id, topic,
    topic_confidence, a thread's missing root), each one that. Registered once for the
    process (sqlite3 keeps adapters per module); None still binds as NULL, and adapting
    NoneType leaves sqlite3's fast path for the exact base types on."""
    sqlite3.register_adapter(type(None), _NO_VALUES.get)


_NO_VALUES: dict[Any, Any] = {}


def _sqlite_begin(conn: Any) -> None:
    # Writers ask for BEGIN IMMEDIATE (see Database.write): they take the write lock at the
    # start and queue on busy_timeout, instead of failing with "database is locked" when a
    # read transaction tries to upgrade. Readers keep WAL's lock-free deferred BEGIN.
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(engine: Engine) -> Any:
    """A pool checkout hook that pings a connection only when it may have died unseen: it
    sat in the pool for `PING_AFTER_IDLE_SECONDS` or more (a server restart, a firewall or
    idle timeout in between), or the driver already knows it is broken. `pool_pre_ping`
    pinged on every checkout: one "SELECT 1" round trip per transaction, i.e. per page the
    listener stores, of ~15 round trips a page. A connection that dies while in use still
    fails its statement (the listener's poll fails and the next one starts over), and it is
    pinged and replaced at its next checkout after the idle time, as before; one returned
    broken is replaced at once."""
    dialect = engine.dialect

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if getattr(dbapi_connection, "broken", False) or getattr(
                dbapi_connection, "closed", False):
            raise DisconnectionError("connection was broken")
        since = record.info.get("checked_in_at")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return  # new (it just connected) or used a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise DisconnectionError(str(exc)) from exc  # the pool connects anew
            raise

    return checkout


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (None for another database, memory or a URI filename)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if (parsed.get_backend_name() != "sqlite" or not parsed.database
            or parsed.database == ":memory:" or parsed.query.get("uri")
            or parsed.database.startswith("file:")):
        return None
    return Path(parsed.database).expanduser()


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url` with carewatch's connection settings applied."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(
            f"database URL {redact_url(url)!r} is not a valid SQLAlchemy URL "
            "(e.g. sqlite:///carewatch.db or postgresql+psycopg://user@host/db)"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        if backend == "sqlite":
            _bind_none_directly()
            if parsed.database and parsed.database != ":memory:":
                folder = Path(parsed.database).expanduser().resolve().parent
                if not folder.is_dir():
                    raise DatabaseError(
                        f"database URL {redact_url(url)!r}: folder {str(folder)!r} does not exist"
                    )
            engine = create_engine(
                parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                                      "check_same_thread": False}, **kwargs
            )
            event.listen(engine, "connect", _sqlite_pragmas)
            # pysqlite's own transaction handling is switched off so BEGIN IMMEDIATE applies.
            event.listen(engine, "connect", lambda c, _r: setattr(c, "isolation_level", None))
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("connect_timeout", 10)
        engine = create_engine(parsed, connect_args=connect_args, **kwargs)
        if not kwargs.get("pool_pre_ping"):
            # Dead-connection recovery without a round trip per transaction.
            event.listen(engine, "checkin", _note_checkin)
            event.listen(engine, "checkout", _ping_if_idle(engine))
        return engine
    except NoSuchModuleError:
        raise DatabaseError(
            f"database URL {redact_url(url)!r}: unsupported database "
            f"{parsed.drivername!r} (use sqlite:/// or postgresql+psycopg://)"
        ) from None


def check_connection(engine: Engine) -> None:
    """Connect once, so an unreachable server is reported before any work starts."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseError(
            f"cannot reach the database at {redact_url(engine.url)}: "
            f"{reason}"
        ) from None


class Database:
    """An engine plus a session factory; the one handle the rest of carewatch passes around."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_db_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on any error."""
        with self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """Like `session`, for a transaction that writes: on SQLite it takes the write lock
        at BEGIN, so concurrent writers wait their turn instead of failing."""
        with self.sessions(bind=self._writer) as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str, *, check: bool = True, **engine_kwargs: Any) -> Database:
    db = Database(url, **engine_kwargs)
    if check:
        check_connection(db.engine)
    return db


def relax_commit_durability(session: Session) -> None:
    """For this transaction only, let PostgreSQL acknowledge the commit before it reaches the
    disk (SQLite in WAL mode with synchronous=NORMAL already does). A crash of the server
    then loses the last fraction of a second of pages *whole*, data and cursor together, and
    the next poll fetches them again: safe for listening, and several times faster. Never
    used for replies, whose record must be durable before anything else happens."""
    if session.get_bind().dialect.name == "postgresql":
        # On the driver: a statement for every page, with nothing for SQLAlchemy to compile,
        # pipelined with the BEGIN that psycopg sends before it (one round trip, not two).
        driver = session.connection().connection.driver_connection
        with driver.pipeline():  # type: ignore[union-attr]
            driver.execute(COMMIT_RELAXED)  # type: ignore[union-attr]


#: `relax_commit_durability`'s statement (`storage.sources.save_cursor` sends it too).
COMMIT_RELAXED = "SET LOCAL synchronous_commit = off"

