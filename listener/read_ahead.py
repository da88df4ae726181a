"""Fetch the next page while the current one is stored.

A poll alternates between waiting on the platform (the request, the platform building its
answer, the JSON coming back) and working on the page it got (scoring, the page's
transaction, the hooks). Done one after the other, every page pays both; with the next
request in flight on a background thread while this page is stored, the wait overlaps the
work, and on the listener's two cores the slower of the two sets the pace.

Nothing about exactly-once changes: pages still reach the caller one at a time, in order,
and each page's cursor is committed with its data by the caller. A page fetched ahead and
never stored (the poll stopped, or storing failed) is simply fetched again by the next poll
from the stored cursor. Errors of the fetch (rate limits, revoked tokens, bugs) are raised
to the caller at the point where the page would have been handed over, after every earlier
page was stored, exactly as without the read-ahead.

How far ahead: `depth` items, fetched or being fetched, that the caller has not taken yet.
In-process one (the request overlaps the page being stored, and a stopped poll fetches at
most one page again). The fetch worker (listener.fetch_worker) uses `FETCH_DEPTH`, so one
slow request does not leave its scoring idle; every item fetched ahead and never taken is
a request made again by the next poll, hence a bound and not a free-running thread.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

#: How long the background thread waits for the caller to take a page before it checks
#: again whether the caller has gone: bounds how long a finished poll waits for the thread.
HANDOVER_STEP_SECONDS = 0.05


class _End:
    """The source iterator is exhausted."""


class _Failed:
    """The source iterator raised `error`."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def stopping(done: threading.Event, should_stop: Callable[[], bool]) -> Callable[[], bool]:
    """A stop check that is true once the caller stops (`should_stop`) or the read-ahead
    ends (`done`)."""
    return lambda: done.is_set() or should_stop()


class ReadAhead(Generic[T]):
    """Iterate `source` on a background thread, `depth` items ahead of the caller: items
    k+1..k+depth are fetched while the caller works on item k, and no further (the next
    fetch starts only once fewer than `depth` items wait to be taken).

    Use as a context manager: on leaving, the background thread is told to stop, closes the
    source iterator in its own thread (a generator must be closed where it runs) and is
    joined, so no fetch outlives the poll by more than the request in flight. Give the
    source a stop check that reads `done` too (see `stopping`), so a retry or rate-limit
    wait in flight ends with the poll instead of holding the join up."""

    def __init__(self, source: Iterator[T], *, name: str = "read-ahead",
                 done: threading.Event | None = None, depth: int = 1) -> None:
        self._source = source
        self._items: queue.SimpleQueue[T | _End | _Failed] = queue.SimpleQueue()
        # Room for the items fetched beyond the one just handed over: none with depth 1,
        # so the next fetch waits until that one is taken.
        self._taken = threading.Semaphore(max(1, depth) - 1)
        self._done = done or threading.Event()
        context = contextvars.copy_context()  # log context follows the poll into the thread
        self._thread = threading.Thread(target=context.run, args=(self._produce,),
                                        name=name, daemon=True)

    def __enter__(self) -> ReadAhead[T]:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._items.get()
            self._taken.release()
            if isinstance(item, _End):
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item

    def _hand_over(self, item: T | _End | _Failed) -> bool:
        """Give `item` to the caller and wait until fewer than `depth` items wait to be
        taken, so at most `depth` items are ever fetched ahead of the caller. False when
        the caller has gone meanwhile."""
        self._items.put(item)
        while not self._done.is_set():
            if self._taken.acquire(timeout=HANDOVER_STEP_SECONDS):
                return True
        return False

    def _produce(self) -> None:
        source = self._source
        try:
            for item in source:
                if not self._hand_over(item):
                    return
            self._hand_over(_End())
        except BaseException as exc:  # handed to the caller, who raises it
            self._hand_over(_Failed(exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
