"""Exactly-once storage of mentions and cursors, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from carewatch.domain import Author, Mention, Platform, Score, SentimentLabel
from storage.customers import recent_contacts
from storage.mentions import count_mentions, upsert_mentions
from storage.models import Author as AuthorRow
from storage.models import HourlyStat, Source, Thread
from storage.models import Mention as MentionRow
from storage.sources import Claim, claim_source, mark_source_failed, mark_source_polled, save_cursor

NOW = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)


def _claim(session, key: str) -> Claim:
    claim = claim_source(session, key, "x", "search", holder="test:1", lease_seconds=30,
                         every=60, due_only=False)
    assert claim is not None
    return claim


def _mention(external_id: str, text: str, *, author: str = "u1", handle: str = "carol",
             platform: Platform = Platform.X, thread: str | None = "100",
             own: bool = False, followers: int = 50) -> Mention:
    return Mention(
        platform=platform, external_id=external_id, text=text, created_at=NOW,
        author=Author(platform, author, handle, "Carol Jones", followers),
        thread_id=thread, parent_id=thread if thread != external_id else None, is_own=own,
        raw={"id": external_id, "text": text},
        score=Score(-0.6, SentimentLabel.NEGATIVE, 0.7, ["negative", "question"], "en"),
    )


def test_upsert_is_exactly_once_and_keeps_text(migrated_db) -> None:
    hostile = "=HYPERLINK(\"http://x\")\u202e<img src=x onerror=alert(1)> 👩‍👩‍👧\u200b\r\nend"
    with migrated_db.write() as s:
        first = upsert_mentions(
            s, [_mention("100", "root"), _mention("101", hostile), _mention("101", hostile)],
            source_key="x:search:q")
        save_cursor(s, _claim(s, "x:search:q"), {"since_id": "101"},
                    new_items=len(first.inserted_ids), last_item_at=NOW)
    assert len(first.inserted_ids) == 2
    with migrated_db.write() as s:
        again = upsert_mentions(s, [_mention("101", hostile), _mention("102", "new")],
                                source_key="x:search:q")
    assert again.inserted_refs == ["x:102"]
    assert again.existing == 1
    with migrated_db.session() as s:
        assert count_mentions(s) == 3
        stored = s.execute(select(MentionRow.text).where(MentionRow.external_id == "101"))
        assert stored.scalar_one() == hostile
        assert s.get(Source, "x:search:q").cursor == {"since_id": "101"}
        assert s.execute(select(func.count(AuthorRow.id))).scalar_one() == 1
        thread = s.execute(select(Thread)).scalar_one()
        assert thread.external_id == "100"
        assert thread.root_text == "root"
        stats = s.execute(select(func.sum(HourlyStat.count))).scalar_one()
        assert stats == 3  # replays are not counted twice


def test_own_posts_are_context_not_mentions(migrated_db) -> None:
    with migrated_db.write() as s:
        upsert_mentions(s, [_mention("200", "our post", author="brand", own=True,
                                     thread="200"),
                            _mention("201", "a comment", thread="200")])
    with migrated_db.session() as s:
        assert count_mentions(s) == 1
        assert count_mentions(s, include_own=True) == 2
        assert s.execute(select(func.sum(HourlyStat.count))).scalar_one() == 1


def test_rolled_back_page_leaves_cursor_behind_data(migrated_db) -> None:
    try:
        with migrated_db.write() as s:
            upsert_mentions(s, [_mention("300", "lost?")], source_key="k")
            save_cursor(s, _claim(s, "k"), {"since_id": "300"})
            raise RuntimeError("crash before commit")
    except RuntimeError:
        pass
    with migrated_db.session() as s:
        assert s.get(Source, "k") is None
        assert count_mentions(s) == 0


def test_a_shared_handle_links_no_customers_and_counts_no_repeat_contact(migrated_db) -> None:
    """The same handle on X and Instagram may be two people: two customers, and each one's
    repeat-contact count is their own (see tests/storage/test_customers.py)."""
    with migrated_db.write() as s:
        upsert_mentions(s, [_mention("1", "x one", handle="dana", author="x1")])
        upsert_mentions(s, [_mention("c1", "ig one", handle="Dana", author="ig1",
                                     platform=Platform.INSTAGRAM, thread="m1")])
    with migrated_db.session() as s:
        customers = s.execute(select(AuthorRow.customer_id)).scalars().all()
        assert len(set(customers)) == 2
        contacts = recent_contacts(s, [("x", "x1")], now=NOW + timedelta(hours=1))
        assert contacts == {("x", "x1"): 1}


def test_source_health_marks(migrated_db) -> None:
    with migrated_db.write() as s:
        mark_source_failed(s, "fb", "facebook", "page", "token revoked",
                           token_state="revoked")
    with migrated_db.write() as s:
        source = s.get(Source, "fb")
        assert not source.healthy
        assert source.token_state == "revoked"
        assert source.consecutive_failures == 1
        mark_source_polled(s, "fb", "facebook", "page")
    with migrated_db.session() as s:
        source = s.get(Source, "fb")
        assert source.healthy
        assert source.token_state == "ok"
        assert source.last_error


def test_private_messages_and_echoes_are_stored_with_their_kind(migrated_db) -> None:
    from dataclasses import replace

    from carewatch.domain import Visibility

    dm = replace(_mention("m_1", "my bag is lost", author="5001", thread="100-5001"),
                 visibility=Visibility.PRIVATE, parent_id=None)
    retweet = replace(_mention("103", "RT @acmeair: news", thread="103"), is_echo=True)
    with migrated_db.write() as s:
        upsert_mentions(s, [dm, retweet], source_key="test")
    with migrated_db.session() as s:
        rows = {r.external_id: r for r in s.execute(select(MentionRow)).scalars()}
        assert rows["m_1"].visibility == "private"
        assert rows["m_1"].status == "new"
        assert rows["103"].visibility == "public"
        assert rows["103"].is_echo is True
        assert rows["103"].status == "closed"  # counted, never queued
        threads = {t.external_id: t.visibility for t in s.execute(select(Thread)).scalars()}
        assert threads == {"100-5001": "private", "103": "public"}


def test_values_written_page_by_page_read_back_as_stored(migrated_db) -> None:
    """The page-sized statements (`storage.bulk`) store what the ORM reads back: times to
    the microsecond and aware, JSON with non-ASCII text, a root filled in after its reply,
    refreshed counters and reach, and the hourly counts."""
    from dataclasses import replace

    from storage.models import HourlyTopicStat

    at = NOW.replace(second=5, microsecond=123456)

    def item(external_id: str, text: str, **kw) -> Mention:
        return replace(_mention(external_id, text, thread="1", handle=kw.pop("handle", "carol"),
                                followers=kw.pop("followers", 50)),
                       created_at=at, topic="bags", **kw)

    with migrated_db.write() as s:
        assert len(upsert_mentions(s, [item("2", "reply")], source_key="k").inserted_ids) == 1
    root_text = "root \u202e'\"\\ %s ?"
    with migrated_db.write() as s:
        again = upsert_mentions(s, [
            item("1", root_text, handle="carol2", followers=90),
            item("2", "reply", like_count=7, raw={"x": None, "é": "😀"}, handle="carol2",
                 followers=90)], source_key="k")
    assert again.inserted_refs == ["x:1"]
    assert again.existing == 1
    with migrated_db.session() as s:
        thread = s.execute(select(Thread)).scalar_one()
        assert (thread.root_text, thread.root_created_at, thread.root_author) == (
            root_text, at, "carol2")
        rows = {r.external_id: r for r in s.execute(select(MentionRow)).scalars()}
        assert (rows["2"].like_count, rows["2"].raw) == (7, {"x": None, "é": "😀"})
        assert rows["2"].text == "reply"
        assert rows["2"].fetched_at.tzinfo is not None
        assert rows["1"].created_at == at
        assert rows["1"].thread_pk == thread.id
        author = s.execute(select(AuthorRow)).scalar_one()
        assert (author.handle, author.followers) == ("carol2", 90)
        assert author.customer_id is not None
        hourly = s.execute(select(HourlyStat)).scalar_one()
        assert (hourly.bucket, hourly.count) == (at.replace(minute=0, second=0,
                                                            microsecond=0), 2)
        topics = s.execute(select(HourlyTopicStat)).scalar_one()
        assert (topics.topic, topics.count, topics.negative_count) == ("bags", 2, 2)
        assert recent_contacts(s, [("x", "u1")], now=at + timedelta(days=1)) == {
            ("x", "u1"): 2}


def test_a_pre_encoded_raw_payload_stores_as_its_dict_does(migrated_db) -> None:
    """A raw payload handed over as its JSON text (`storage.bulk.encoded_json`: the fetch
    worker's) stores the same column as the dict it encodes: inserted, refreshed, and on a
    page that PostgreSQL's orjson encoding refuses (an integer beyond 64 bits) and encodes
    the standard way."""
    from dataclasses import replace

    from sqlalchemy import text

    from storage.bulk import encoded_json

    payload = {"id": "1", "text": "naïve 😀 \"q\" \\", "n": [1, 2.5, True, None],
               "user": {"id": "7", "entities": {"urls": [], "tags": ["a", "é"]}}}
    encoded = encoded_json(payload)
    assert isinstance(encoded, bytes)

    def pair(first: str, second: str, *, big: bool = False) -> list[Mention]:
        other = {**payload, "big": 2**70} if big else payload
        return [replace(_mention(first, "as dict"), raw=payload),
                replace(_mention(second, "as text"), raw=encoded),
                replace(_mention(f"{first}-big", "refused"), raw=other)]

    with migrated_db.write() as s:
        upsert_mentions(s, pair("1", "2"), source_key="k")  # inserted
        upsert_mentions(s, pair("3", "4", big=True), source_key="k")  # the standard way
    with migrated_db.write() as s:  # seen again: the raw payload refreshed by UPDATE
        upsert_mentions(s, [replace(_mention("1", "as dict"), raw={"old": 1}),
                            replace(_mention("2", "as text"), raw=encoded_json({"old": 1}))],
                        source_key="k")
        upsert_mentions(s, pair("1", "2"), source_key="k")
    column = "raw::text" if migrated_db.engine.dialect.name == "postgresql" else "raw"
    with migrated_db.session() as s:
        rows = {r.external_id: r.raw for r in s.execute(select(MentionRow)).scalars()}
        texts = dict(s.execute(text(f"SELECT external_id, {column} FROM mentions")).all())
    assert rows["1"] == rows["2"] == rows["3"] == rows["4"] == payload
    assert texts["1"] == texts["2"] == texts["3"] == texts["4"]


def test_sqlite_connections_checkpoint_the_wal_in_large_steps(tmp_path) -> None:
    """Every SQLite connection is WAL with synchronous=NORMAL and checkpoints every
    SQLITE_WAL_CHECKPOINT_PAGES (each checkpoint syncs; the default 1000 pages made the
    listener's commits several times slower), with the WAL file bounded after one; its
    statement journals are in memory and its page cache holds a listener batch."""
    from sqlalchemy import text

    from storage.db import (
        SQLITE_CACHE_KIB,
        SQLITE_WAL_CHECKPOINT_PAGES,
        SQLITE_WAL_LIMIT_BYTES,
        open_database,
    )

    db = open_database(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        with db.engine.connect() as conn:
            pragma = {name: conn.execute(text(f"PRAGMA {name}")).scalar_one()
                      for name in ("journal_mode", "synchronous", "wal_autocheckpoint",
                                   "journal_size_limit", "temp_store", "cache_size")}
    finally:
        db.dispose()
    assert pragma == {"journal_mode": "wal", "synchronous": 1,
                      "wal_autocheckpoint": SQLITE_WAL_CHECKPOINT_PAGES,
                      "journal_size_limit": SQLITE_WAL_LIMIT_BYTES,
                      "temp_store": 2, "cache_size": -SQLITE_CACHE_KIB}
    assert SQLITE_WAL_CHECKPOINT_PAGES * 4096 <= SQLITE_WAL_LIMIT_BYTES


def _io_so_far(field: str) -> int:
    """This process's `wchar` (bytes written through write system calls so far) or `rchar`
    (read), from Linux's /proc/self/io."""
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(f"{field}:"))


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's /proc/self/io")
def test_sqlite_batches_of_pages_are_written_once_and_not_read_back(tmp_path) -> None:
    """A transaction storing a listener batch (8 pages of 100 mentions, with the cursor)
    after others writes about what its WAL frames hold, and reads next to nothing back:
    no statement journal copied out to temporary files (temp_store), no recently written
    page read back from the WAL because the page cache could not keep it (cache_size).
    With SQLite's defaults the third batch here wrote 1.3x its frames' bytes (the journal)
    and read 1.0x (its pages back from the WAL); now 1.0x and nothing."""
    from storage.db import open_database
    from storage.migrate import upgrade

    frame = 24 + 4096
    wal = tmp_path / "batch.db-wal"
    db = open_database(f"sqlite:///{tmp_path / 'batch.db'}")
    try:
        upgrade(db.engine)
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        with db.write() as s:
            claim = _claim(s, "k")
        for batch in range(3):  # no checkpoint in between: 3 x ~900 frames < 10,000
            size, written, read = wal.stat().st_size, _io_so_far("wchar"), _io_so_far("rchar")
            with db.write() as s:
                for page in range(8):
                    n = batch * 800 + page * 100
                    upsert_mentions(s, [
                        _mention(f"{n + i}", f"flight {n + i} was cancelled " * 60,
                                 author=f"a{(n + i) * 37 % 900}",
                                 thread=f"t{(n + i) * 13 % 500}")
                        for i in range(100)], source_key="k")
                save_cursor(s, claim, {"next_token": f"b{batch}"}, new_items=800, pages=8)
            claim.version += 8
            written, read = _io_so_far("wchar") - written, _io_so_far("rchar") - read
            frames = (wal.stat().st_size - max(size, 32)) // frame
        with db.session() as s:
            assert count_mentions(s) == 2400
    finally:
        db.dispose()
    assert frames > 500  # the batch dirties more pages than a 2 MB cache holds
    assert written < 1.1 * frames * frame, (written, frames)
    assert read < 0.1 * frames * frame, (read, frames)


def test_json_column_text_on_sqlite_reads_back_as_written():
    """storage.bulk._json: orjson's text where it encodes as `json.dumps` would (compact,
    UTF-8), the standard encoder where orjson refuses (an integer beyond 64 bits, a key
    that is not a string), and what `json.dumps` refuses (a time) still refused."""
    import json
    from datetime import UTC, datetime

    import pytest

    from storage.bulk import _json

    for value in ({"x": None, "\u00e9": "\U0001f600", "n": [1, 2.5, True]}, None, [],
                  {"big": 2**70}, {1: "int key"}, "text", {"nested": {"a": [{"b": "c"}]}}):
        assert json.loads(_json(value)) == json.loads(json.dumps(value))
    assert _json({"a": 1, "b": "\u00e9"}) == '{"a":1,"b":"\u00e9"}'
    with pytest.raises(TypeError):
        _json({"at": datetime.now(UTC)})


def test_sqlite_migrations_keep_temporary_files_on_disk(tmp_path) -> None:
    """A migration's statement can journal or sort a whole table: it runs with temp_store
    FILE, and the connection goes back to the pool with the listener's MEMORY."""
    from sqlalchemy import event

    from storage.db import open_database
    from storage.migrate import upgrade

    db = open_database(f"sqlite:///{tmp_path / 'migrated.db'}")
    seen: list[int] = []

    def note_temp_store(conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("CREATE TABLE MENTIONS"):
            driver = conn.connection.driver_connection
            seen.append(driver.execute("PRAGMA temp_store").fetchone()[0])

    event.listen(db.engine, "before_cursor_execute", note_temp_store)
    try:
        upgrade(db.engine)
        with db.engine.connect() as conn:
            after = conn.exec_driver_sql("PRAGMA temp_store").scalar_one()
    finally:
        db.dispose()
    assert seen == [1]  # FILE while the mentions table was created
    assert after == 2  # MEMORY again


def test_a_nul_character_does_not_stop_the_page(migrated_db) -> None:
    """PostgreSQL's text and jsonb cannot hold U+0000: a page holding one was refused whole
    ("unsupported Unicode escape sequence"), so its source failed on every poll. It is
    stored with U+FFFD there (exactly on SQLite), and the rest of the page with it."""
    text = "@acme nul\x00inside, a backslash \\u0000 kept"
    with migrated_db.write() as s:
        done = upsert_mentions(s, [_mention("200", text), _mention("201", "next one")],
                               source_key="x:search:q")
    assert len(done.inserted_ids) == 2
    postgres = migrated_db.dialect == "postgresql"
    expected = text.replace("\x00", "\ufffd") if postgres else text
    with migrated_db.session() as s:
        row = s.execute(select(MentionRow).where(MentionRow.external_id == "200")).scalar_one()
        assert row.text == expected
        assert row.raw["text"] == expected
