"""Score the next page in a worker process while this one is stored.

Why a process: scoring is pure Python (VADER, the care model, language detection) and so is
storing a page (SQLAlchemy building and binding statements), so two threads would take turns
on the GIL and gain nothing. On the listener's two cores a second process scores page N+1
while the listener stores page N and the read-ahead thread fetches page N+2; the slowest of
the three sets the pace instead of their sum.

How, and why it cannot lose or duplicate anything:
* One worker, forked on the first page that is worth it (`WORKER_MIN_ITEMS`) from a process
  whose scorer is warmed first (`WARM_TEXTS`), so the worker shares its loaded models,
  starts at once and never needs a lock that was held in another thread at the fork. A
  worker stuck anyway is killed after `RESULT_TIMEOUT_SECONDS` and its page scored here.
  A poll of a single page, or of a few items, never forks.
* The worker only turns texts and their context into `Score`s; it never touches the database.
  The page, its scores and its cursor are still written by the listener in one transaction,
  so exactly-once is the listener's business as before.
* A worker that dies (killed, out of memory) breaks the pool: the page in flight is scored
  in-process instead and the rest of the poll scores in-process. Nothing is stored twice or
  skipped; the page is only a little later.
* The worker ignores Ctrl-C and SIGTERM (the listener catches them, finishes its page and
  shuts the pool down), and exits by itself when the listener is gone (killed with -9), so no
  orphan lingers.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, NamedTuple, TypeVar

from carewatch.domain import Score
from carewatch.log import get_logger
from listener.scoring import Scorer

log = get_logger(__name__)
T = TypeVar("T")

#: Pages with fewer items to score are scored in-process: handing a page over costs ~1 ms of
#: pickling each way, more than a handful of items take to score.
WORKER_MIN_ITEMS = 20
#: How often the worker checks that the listener that forked it is still alive.
PARENT_CHECK_SECONDS = 1.0
#: A page the worker has not scored after this long is scored in-process and the worker is
#: killed: a stuck worker (a lock inherited held through the fork) costs a delay, not a poll.
RESULT_TIMEOUT_SECONDS = 30.0
#: Scored once in the listener before the fork, through every lazily loaded part (VADER and
#: the care model, the language identifier for non-English text): once they are loaded no
#: lock guards them, so the worker never waits on a lock another thread of the listener (a
#: second source loading the identifier) held at the moment of the fork.
WARM_TEXTS = ("warm up: where is my bag?", "¿Dónde está mi maleta? ⚠️", "가방이 어디 있나요?")


class ScoreInput(NamedTuple):
    """What `Scorer.score` needs for one mention (a tuple: cheap to send to the worker)."""

    text: str
    followers: int | None
    engagement: int
    waiting_minutes: float
    repeat_contacts: int
    lang: str | None
    echo: bool


def score_one(scorer: Any, item: ScoreInput) -> Score:
    score: Score = scorer.score(item.text, followers=item.followers, engagement=item.engagement,
                        waiting_minutes=item.waiting_minutes,
                        repeat_contacts=item.repeat_contacts, lang=item.lang, echo=item.echo)
    return score


def score_inputs(scorer: Any, items: Sequence[ScoreInput]) -> list[Score | None]:
    """Scores in order; None for an item whose scoring failed (logged): one odd text must not
    stop the page, it is stored unscored."""
    return score_each(scorer, items, score_one)


def score_each(scorer: Any, items: Sequence[ScoreInput],
               score: Callable[[Any, ScoreInput], T]) -> list[T | None]:
    """`score` of each item, in order, None where it failed (logged; see `score_inputs`)."""
    out: list[T | None] = []
    for item in items:
        try:
            out.append(score(scorer, item))
        except Exception:
            log.exception("scoring_failed", text_chars=len(item.text or ""))
            out.append(None)
    return out


# ---------------------------------------------------------------- the worker process
_worker_scorer: Scorer | None = None


def watch_parent(parent: int) -> None:
    """Exit this worker once its parent is gone (re-parented): an orphan must not go on
    scoring, or fetching under a lease the dead listener no longer holds."""
    while True:
        time.sleep(PARENT_CHECK_SECONDS)
        if os.getppid() != parent:
            os._exit(0)


def _init_worker(scorer: Scorer, parent: int) -> None:
    """Runs first in the forked worker: the scorer comes from the fork, not a pickle."""
    global _worker_scorer
    _worker_scorer = scorer
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=watch_parent, args=(parent,), name="parent-watch",
                     daemon=True).start()


def _score_in_worker(items: list[ScoreInput]) -> list[Score | None]:
    return score_inputs(_worker_scorer, items)


# ---------------------------------------------------------------- the listener's side
class ScorePool:
    """At most one scoring worker for one poll. Use as a context manager: leaving it shuts
    the worker down (waiting for the page in flight, never for more)."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self._executor: ProcessPoolExecutor | None = None
        self.broken = False

    def __enter__(self) -> ScorePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, items: list[ScoreInput]) -> Future[list[Score | None]] | None:
        """Start scoring `items` in the worker; None when they are to be scored in-process
        (few items, no fork on this platform, or the worker broke)."""
        if self.broken or len(items) < WORKER_MIN_ITEMS or os.name != "posix":
            return None
        try:
            if self._executor is None:
                for text in WARM_TEXTS:
                    score_one(self.scorer, ScoreInput(text, 1, 0, 0.0, 0, None, False))
                self._executor = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("fork"),
                    initializer=_init_worker, initargs=(self.scorer, os.getpid()))
            return self._executor.submit(_score_in_worker, items)
        except Exception as exc:  # BrokenProcessPool, or a fork refused for lack of memory
            self._give_up(exc)
            return None

    def result(self, future: Future[list[Score | None]] | None,
               items: list[ScoreInput]) -> list[Score | None]:
        """The scores of `items`: from the worker when it was given them and delivered,
        otherwise computed here."""
        if future is not None:
            try:
                return future.result(timeout=RESULT_TIMEOUT_SECONDS)
            except Exception as exc:  # the worker died or hangs under the page: score it here
                self._give_up(exc)
        return score_inputs(self.scorer, items)

    def _give_up(self, exc: BaseException) -> None:
        if not self.broken:
            log.warning("score_worker_failed", error=type(exc).__name__,
                        next_step="scoring in-process for the rest of this poll")
        self.broken = True
        self._kill()

    def _kill(self) -> None:
        """End the worker without waiting for it (it is dead, stuck or no longer wanted)."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        processes = dict(getattr(executor, "_processes", None) or {})
        for process in processes.values():
            if process.is_alive():
                process.kill()
        executor.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        """Shut the worker down: it finishes the page in hand, if any, and exits."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
