"""Statement helpers the stores share: the dialect's INSERT, parameter-sized batches and the
row count of an UPDATE.

The dialect-specific INSERT is what offers `ON CONFLICT` (both SQLite and PostgreSQL have
it); the batches keep a statement's bound parameters under SQLite's limit (32766) with room
to spare, however many rows a page brings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, Result
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

BATCH = 200


def dialect_insert(session: Session, table: Any) -> Any:
    """An INSERT for the session's dialect, with `on_conflict_do_nothing/_update`."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def chunks(items: Sequence[Any], size: int = BATCH) -> Iterable[Sequence[Any]]:
    """`items` in slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched: how a conditional update tells whether it won.

    `Session.execute` is typed to return a plain `Result`, but for these statements it is a
    `CursorResult`, the one that carries `rowcount`."""
    return cast(CursorResult[Any], result).rowcount
