"""Text search over mentions that stays fast at a million rows, with the filter's meaning
unchanged: a case-insensitive substring of the text (`lower(text) LIKE '%term%'`), any
language.

A scan checks every row's text; on a big store a term that matches few rows (or none)
costs seconds. So a term of at least three characters first asks a trigram index which
mentions can contain it:

- PostgreSQL: a pg_trgm GIN index on a side table of the texts (`mention_search_texts`,
  migration 0018), not on `mentions`: kept there, the GIN indexes were the largest cost of
  storing a listener page. A trigger on `mentions` notes each new id in
  `mention_search_pending` (ids commit out of order on PostgreSQL, so no watermark);
  `catch_up()` moves them into the texts table, and a search checks the pending ones by id.
- SQLite: an FTS5 table with the trigram tokenizer (`mention_search`, external content =
  `mentions`). It is *not* kept by triggers: a trigger would cost every insert of the
  listener's ingest. `catch_up()` adds the mentions above a watermark
  (`search_watermarks.indexed_to`) in batches, run by a listener job after ingest; a search
  looks in the index for ids up to the watermark and scans the few ids above it, so its
  result is complete whether or not the index has caught up.

The index only proposes candidates: every row is checked again with the filter itself, so
the result is exactly the scan's. When a term has more candidates than `CANDIDATE_CAP` it
is common, and the queue walk in `storage.inbox` finds a page of it quickly by itself (on
PostgreSQL the planner's estimate says so before the index is read).

A rare phrase made only of common words ("rude smoke lounge") has trigrams that are in
nearly half the rows; what is rare is the order of its words. pg_trgm keeps no positions
(and no trigram across a space); SQLite's FTS5 phrase query checks the positions, but of
every trigram, each in half the rows (over 100 ms). So both also index each text's *word
joins* (`storage.word_joins`): a phrase's joins narrow the candidates to the texts with
its words next to each other. PostgreSQL: a GIN index on `carewatch_word_joins(text)`
(migration 0016, `term_joins`). SQLite: the FTS5 table `mention_joins` (migration 0017),
filled by `catch_up` with the trigram index from its own watermark, and asked only once
it has caught up with it.

Mention text never changes once stored and mentions are never deleted. Were that to change
(an erasure request), the check above would keep such rows out of the results; `forget()`
removes them from the SQLite index, and `rebuild()` rebuilds it whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from storage import word_joins
from storage.models import (
    MENTION_JOINS_TABLE,
    MENTION_SEARCH_PENDING,
    MENTION_SEARCH_TABLE,
    MENTION_SEARCH_TEXTS,
    MENTION_TEXT_JOINS_INDEX,
    MENTION_TEXT_TRGM_INDEX,
    Mention,
    SearchWatermark,
)
from storage.statements import rowcount

#: The trigram indexes answer only for terms of three characters or more.
MIN_INDEXED_CHARS = 3
#: More candidates than this: a common term, left to the queue walk (its first page is
#: among the first rows it reads). Fewer: the candidates are read by id and sorted.
CANDIDATE_CAP = 5_000
#: PostgreSQL: the function of migration 0016 giving a text's word joins.
WORD_JOINS_FUNCTION = "carewatch_word_joins"
#: Mentions added to the SQLite index per statement of `catch_up`.
CATCH_UP_BATCH = 20_000


def matches(term: str, column: Any = Mention.text) -> Any:
    """The search filter itself: what every result satisfies, on every path. ILIKE on
    PostgreSQL, `lower(text) LIKE lower(pattern)` on SQLite (the same comparison: ILIKE
    lower()s both sides); LIKE's wildcards in `term` are taken literally."""
    return column.ilike(_like_pattern(term), escape="/")


def _like_pattern(term: str) -> str:
    escaped = term.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped}%"


def _fts_phrase(term: str) -> str:
    """The FTS5 query for a substring: one quoted phrase (the trigrams of `term`, in a row)."""
    return '"' + term.replace('"', '""') + '"'


def candidate_ids(session: Session, term: str, cap: int | None = None) -> list[int] | None:
    """Ids of every mention whose text can contain `term` (a superset of the matches; the
    caller applies `matches`), or None when the index cannot say or there are more than
    `cap` (CANDIDATE_CAP) of them: the caller walks instead."""
    if len(term) < MIN_INDEXED_CHARS:
        return None
    cap = CANDIDATE_CAP if cap is None else cap
    if session.get_bind().dialect.name == "postgresql":
        return _pg_candidates(session, term, cap)
    return _sqlite_candidates(session, term, cap)


def _pg_candidates(session: Session, term: str, cap: int) -> list[int] | None:
    if not _pg_has_index(session, MENTION_TEXT_TRGM_INDEX):
        return None
    pattern = _like_pattern(term)
    ids = _pg_indexed_candidates(session, term, pattern, cap)
    if ids is None:
        return None
    # Stored but not indexed yet: the few pending ids, each read by primary key.
    ids.extend(session.scalars(text(
        f"SELECT m.id FROM {MENTION_SEARCH_PENDING} AS p CROSS JOIN LATERAL (SELECT id, text "
        "FROM mentions WHERE id = p.id OFFSET 0) AS m WHERE m.text ILIKE :p ESCAPE '/' "
        "LIMIT :n"), {"p": pattern, "n": cap + 1}))
    return ids if len(ids) <= cap else None


def _pg_indexed_candidates(session: Session, term: str, pattern: str,
                           cap: int) -> list[int] | None:
    joins = term_joins(session, term)
    if joins:
        # A phrase: the mentions with all its word joins, rechecked by the filter. Read
        # below an OFFSET 0 fence so the planner takes the joins index alone (adding the
        # trigram index to it costs a bitmap of every mention with the words).
        with_joins = (f"SELECT id, text FROM {MENTION_SEARCH_TEXTS} "
                      f"WHERE {WORD_JOINS_FUNCTION}(text) @> CAST(:j AS text[])")
        ids = _pg_bitmap_ids(
            session, with_joins,
            f"SELECT id FROM ({with_joins} OFFSET 0) AS c WHERE text ILIKE :p ESCAPE '/'",
            {"j": joins, "p": pattern}, cap)
        if ids is not None:
            return ids
    by_trigrams = f"SELECT id FROM {MENTION_SEARCH_TEXTS} WHERE text ILIKE :p ESCAPE '/'"
    return _pg_bitmap_ids(session, by_trigrams, by_trigrams, {"p": pattern}, cap)


def _pg_bitmap_ids(session: Session, candidates: str, query: str, params: dict[str, Any],
                   cap: int) -> list[int] | None:
    """The ids `query` selects through a bitmap index scan, or None when the planner
    expects more than `cap` rows from `candidates` (the rows it will read) or there are
    more than `cap`. A common term is left to the walk before the index is read: the
    bitmap of a word in 40% of a million rows takes 150 ms to build. The planner's estimate
    (from the statistics of the text and of the joins index) says which terms those are,
    in a millisecond."""
    plan = session.execute(text(f"EXPLAIN (FORMAT JSON) {candidates}"), params)
    if plan.scalar_one()[0]["Plan"]["Plan Rows"] > cap:
        return None
    # A bitmap scan of the index, and only that: with a LIMIT the planner may rather read
    # the table in order. Rows are rechecked by PostgreSQL (ILIKE compares the lower() of
    # both sides, as `matches` does).
    with planner_without(session, "seqscan", "indexscan"):
        ids = list(session.scalars(text(f"{query} LIMIT :cw_n"), {**params, "cw_n": cap + 1}))
    return ids if len(ids) <= cap else None


def term_joins(session: Session, term: str) -> list[str]:
    """The word joins (see migration 0016) every text containing `term` has: those of two
    words next to each other in the term, where the first word is whole (a word before it
    in the term) or gives its last three characters, and the second likewise its first
    three. Computed by PostgreSQL, with the folding and word characters of the index."""
    if not _pg_has_index(session, MENTION_TEXT_JOINS_INDEX):
        return []
    return list(session.scalar(text(
        "SELECT coalesce(array_agg(right(w, 3) || ' ' || left(n, 3)), '{}') FROM ("
        " SELECT w, lead(w) OVER (ORDER BY i) AS n, i, count(*) OVER () AS k"
        " FROM unnest(regexp_split_to_array(lower(:t), '[^[:alnum:]]+'))"
        " WITH ORDINALITY AS u(w, i)) AS s"
        " WHERE w <> '' AND n <> '' AND (i > 1 OR length(w) >= 3)"
        " AND (i + 1 < k OR length(n) >= 3)"), {"t": term}) or [])


@contextmanager
def planner_without(session: Session, *methods: str) -> Iterator[None]:
    """PostgreSQL: plan the statements inside without these scan methods (`seqscan`,
    `indexscan`); elsewhere nothing. SET LOCAL would end with the transaction; the RESETs
    give the page's next reads in it the whole planner back."""
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    for method in methods:
        session.execute(text(f"SET LOCAL enable_{method} = off"))
    yield
    for method in methods:
        session.execute(text(f"RESET enable_{method}"))


def _pg_has_index(session: Session, name: str) -> bool:
    return bool(session.execute(
        text("SELECT 1 FROM pg_indexes WHERE indexname = :n"), {"n": name}).first())


def _sqlite_has_index(session: Session, name: str = MENTION_SEARCH_TABLE) -> bool:
    """False where this SQLite has no FTS5 trigram tokenizer (before 3.34): the migrations
    then leave the indexes out and searches scan."""
    return bool(session.execute(
        text("SELECT 1 FROM sqlite_master WHERE name = :n"), {"n": name}).first())


def _sqlite_candidates(session: Session, term: str, cap: int) -> list[int] | None:
    if not _sqlite_has_index(session):
        return None
    watermark = indexed_to(session)
    ids = _sqlite_joins_candidates(session, term, watermark, cap)
    if ids is None:
        ids = list(session.scalars(
            text(f"SELECT rowid FROM {MENTION_SEARCH_TABLE} "
                 f"WHERE {MENTION_SEARCH_TABLE} MATCH :q LIMIT :n"),
            {"q": _fts_phrase(term), "n": cap + 1}))
    if len(ids) > cap:
        return None
    # Not indexed yet: a short range of the table, read by id.
    ids.extend(session.scalars(
        select(Mention.id).where(Mention.id > watermark, matches(term)).limit(cap + 1)))
    return ids if len(ids) <= cap else None


def _sqlite_joins_candidates(session: Session, term: str, watermark: int,
                             cap: int) -> list[int] | None:
    """The indexed mentions (ids up to `watermark`) with every word join of `term`, or
    None: the term has no joins, the joins index is behind the trigram index (just
    created), or more than `cap` mentions have them (the trigram phrase query is exact)."""
    joins = word_joins.of_term(term)
    if not joins or indexed_to(session, MENTION_JOINS_TABLE) < watermark:
        return None
    ids = list(session.scalars(
        text(f"SELECT rowid FROM {MENTION_JOINS_TABLE} WHERE {MENTION_JOINS_TABLE} MATCH :q "
             "AND rowid <= :w LIMIT :n"),
        {"q": " AND ".join(f'"{join}"' for join in joins), "w": watermark, "n": cap + 1}))
    return ids if len(ids) <= cap else None


def indexed_to(session: Session, name: str = MENTION_SEARCH_TABLE) -> int:
    """The highest mention id in a SQLite search index (every id up to it is in); 0 when
    the index is not there."""
    value = session.scalar(select(SearchWatermark.indexed_to)
                           .where(SearchWatermark.name == name))
    return int(value or 0)


def catch_up(session: Session, batch: int = CATCH_UP_BATCH) -> int:
    """Add up to `batch` mentions above their watermarks to the SQLite indexes (trigrams,
    word joins) and move the watermarks (same transaction); on PostgreSQL, move up to
    `batch` pending mentions into the indexed texts table. Returns how many were added (on
    SQLite to the index furthest behind); cheap when none are waiting."""
    if session.get_bind().dialect.name == "postgresql":
        return _pg_catch_up(session, batch)
    if session.get_bind().dialect.name != "sqlite" or not _sqlite_has_index(session):
        return 0
    added = _catch_up_one(session, MENTION_SEARCH_TABLE, batch, lambda start, top: rowcount(
        session.execute(text(f"INSERT INTO {MENTION_SEARCH_TABLE} (rowid, text) "
                             "SELECT id, text FROM mentions WHERE id > :start AND id <= :top"),
                        {"start": start, "top": top})))
    if not _sqlite_has_index(session, MENTION_JOINS_TABLE):
        return added
    return max(added, _catch_up_one(session, MENTION_JOINS_TABLE, batch,
                                    lambda start, top: _add_joins(session, start, top)))


def _pg_catch_up(session: Session, batch: int) -> int:
    """Move up to `batch` of the pending ids (lowest first; ones another process is moving
    are skipped) into the texts table, and index them there."""
    if not _pg_has_table(session, MENTION_SEARCH_PENDING):
        return 0
    return rowcount(session.execute(text(
        f"WITH moved AS (DELETE FROM {MENTION_SEARCH_PENDING} WHERE id IN (SELECT id FROM "
        f"{MENTION_SEARCH_PENDING} ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED) RETURNING id) "
        f"INSERT INTO {MENTION_SEARCH_TEXTS} (id, text) SELECT m.id, m.text FROM moved "
        "JOIN mentions m ON m.id = moved.id ON CONFLICT (id) DO NOTHING"), {"n": batch}))


def _pg_has_table(session: Session, name: str) -> bool:
    return session.scalar(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}) is True


def _catch_up_one(session: Session, name: str, batch: int,
                  add: Callable[[int, int], int]) -> int:
    """`add(start, top)` the mentions above the watermark `name`, `batch` ids at most."""
    start = indexed_to(session, name)
    top = session.scalar(
        select(func.max(Mention.id)).where(Mention.id > start, Mention.id <= start + batch))
    if top is None:
        # Ids can have gaps; the next one may be further than `batch` away.
        top = session.scalar(select(func.min(Mention.id)).where(Mention.id > start))
        if top is None:
            return 0
    added = add(start, top)
    _set_watermark(session, top, name)
    return added


def _add_joins(session: Session, start: int, top: int) -> int:
    """Put the word joins of the mentions with ids in (start, top] in the joins index."""
    rows = [{"id": pk, "joins": " ".join(word_joins.of_text(value))}
            for pk, value in session.execute(
                select(Mention.id, Mention.text).where(Mention.id > start, Mention.id <= top))]
    if rows:
        session.execute(text(f"INSERT INTO {MENTION_JOINS_TABLE} (rowid, joins) "
                             "VALUES (:id, :joins)"), rows)
    return len(rows)


def catch_up_all(session: Session, batch: int = CATCH_UP_BATCH) -> int:
    """`catch_up` until nothing is waiting."""
    total = 0
    while added := catch_up(session, batch):
        total += added
    return total


def _set_watermark(session: Session, value: int, name: str = MENTION_SEARCH_TABLE) -> None:
    row = session.get(SearchWatermark, name)
    if row is None:
        session.add(SearchWatermark(name=name, indexed_to=value))
    else:
        row.indexed_to = value
    session.flush()


def forget(session: Session, rows: list[tuple[int, str]]) -> None:
    """Take mentions out of the search indexes before their text is changed or they are
    deleted: `rows` are (id, text as indexed). An FTS5 table without its own copy of the
    text must be told the old text (or its joins) to remove its tokens. Rows above an
    index's watermark are not in it yet: nothing to take out. On PostgreSQL their texts
    leave the texts table and they are pending again (`catch_up` indexes the new text, or
    drops them if they are gone)."""
    if session.get_bind().dialect.name == "postgresql" and rows \
            and _pg_has_table(session, MENTION_SEARCH_TEXTS):
        ids = [pk for pk, _ in rows]
        session.execute(text(f"DELETE FROM {MENTION_SEARCH_TEXTS} WHERE id = ANY(:ids)"),
                        {"ids": ids})
        session.execute(text(f"INSERT INTO {MENTION_SEARCH_PENDING} (id) SELECT unnest("
                             "CAST(:ids AS bigint[])) ON CONFLICT DO NOTHING"), {"ids": ids})
        return
    if session.get_bind().dialect.name != "sqlite" or not rows \
            or not _sqlite_has_index(session):
        return
    _forget_in(session, MENTION_SEARCH_TABLE, "text", rows, lambda old: old)
    if _sqlite_has_index(session, MENTION_JOINS_TABLE):
        _forget_in(session, MENTION_JOINS_TABLE, "joins", rows,
                   lambda old: " ".join(word_joins.of_text(old)))


def _forget_in(session: Session, name: str, column: str, rows: list[tuple[int, str]],
               indexed: Callable[[str], str]) -> None:
    """FTS5's 'delete' of the rows of index `name` up to its watermark; `indexed` gives
    the value the index was given for a text."""
    upto = indexed_to(session, name)
    params = [{"id": pk, "old": indexed(old)} for pk, old in rows if pk <= upto]
    if params:  # an empty parameter list is not "no rows" to SQLAlchemy but an error
        session.execute(text(f"INSERT INTO {name} ({name}, rowid, {column}) "
                             "VALUES ('delete', :id, :old)"), params)


def rebuild(session: Session) -> int:
    """Rebuild the SQLite indexes from the mentions (after a bulk change); returns the new
    watermark."""
    if session.get_bind().dialect.name != "sqlite" or not _sqlite_has_index(session):
        return 0
    session.execute(text(f"INSERT INTO {MENTION_SEARCH_TABLE} ({MENTION_SEARCH_TABLE}) "
                         "VALUES ('rebuild')"))
    top = int(session.scalar(select(func.coalesce(func.max(Mention.id), 0))) or 0)
    _set_watermark(session, top)
    if _sqlite_has_index(session, MENTION_JOINS_TABLE):
        # No content to rebuild from: emptied, then filled again in batches.
        session.execute(text(f"INSERT INTO {MENTION_JOINS_TABLE} ({MENTION_JOINS_TABLE}) "
                             "VALUES ('delete-all')"))
        _set_watermark(session, 0, MENTION_JOINS_TABLE)
        while _catch_up_one(session, MENTION_JOINS_TABLE, CATCH_UP_BATCH,
                            lambda start, end: _add_joins(session, start, end)):
            pass
    return top
