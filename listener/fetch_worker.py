"""Fetch, map and score a source's pages in a worker process; store them here.

Why: the listener's process was the pipeline's bottleneck, and a third of its time was not
storing at all: tweepy parsing the JSON and building its objects, mapping them to
`Mention`s (on the read-ahead thread, taking the GIL from the thread that stores), and
handing texts to a scoring worker and back. A forked worker now runs the whole source:
request, parsing, mapping and scoring, page after page, and sends each page with its
scores. The listener's process only reads what scoring needs from the database, stores,
and runs the hooks; on the listener's two cores the two processes work side by side.

Why exactly-once is untouched: the worker never writes to the database. Each page reaches
the listener in order, with its cursor, and is committed with that cursor in one
transaction, as before. A page fetched or scored ahead and never stored (the poll stopped,
the worker died) is fetched again from the stored cursor.

Why the worker does not wait for the listener to read: three threads keep it busy. The read-ahead
(listener.read_ahead) fetches up to `FETCH_DEPTH` pages beyond the one being scored; the
worker's main thread scores a page and queues it; a sender thread writes the queue into the
pipe. A pickled page (~80 KB) is more than the pipe holds, so a plain `send` waited until
the listener read it, which it does only between the stores of its batches: the worker
stood still for 1.6 s of a 3.4 s poll of 20k mentions (SQLite; 2.3 s with the sender
thread, the listener's storing now setting the pace). The listener asks for the pages
(`ahead` requests at the start and one per page it receives), and a page is queued only
once it was asked for.

How far ahead, at most: `ahead` pages sent (queued, in the pipe, or not yet read by the
listener), one being scored, and `FETCH_DEPTH` fetched; with the listener's defaults
(`WORKER_AHEAD`) 16 + 1 + 2 pages beyond the ones it has received. A stopped poll or a dead
worker costs at most those requests again (out of the platform's rate limit).

Repeat contacts: a mention's urgency depends on how often its author wrote lately, which
only the database knows once the page before it is committed. The worker therefore sends
the score at every repeat-contact level (`REPEAT_CONTACT_CAP` + 1 urgencies on one
sentiment reading: the costly part runs once), and the listener picks the level from the
count it reads right before storing the page, so the scores are exactly those of scoring
the pages one after the other (no rescoring here).

Errors of the source (rate limits, revoked tokens, bugs) are sent over and raised in the
listener where the page would have been handed over, after every earlier page was stored.
A worker that dies (killed, out of memory) raises `WorkerLost`; the listener goes on polling
in its own process from the last stored cursor. So does a worker that goes silent: one stuck
on a lock that a thread of the listener held at the fork (an import, say) would otherwise
hold its source's poll, and its lease, forever. The worker marks each sign of life in a
shared clock (`_Pulse`): every request attempt and every step of a retry or rate-limit wait
(`carewatch.retry.on_progress`) and every page scored. A listener waiting for a page it asked
for gives up after `silent_limit` seconds without one (`silence_limit`: one request's
timeout plus a margin), however long the source legitimately waits.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import fields
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from operator import attrgetter
from typing import Any

from carewatch.domain import Author, Mention, Page, Score
from carewatch.log import get_logger
from carewatch.retry import on_progress
from listener.read_ahead import ReadAhead, stopping
from listener.score_pool import WARM_TEXTS, ScoreInput, score_one, watch_parent
from listener.scoring import Scorer
from listener.scoring.scorer import Levels
from listener.scoring.sentiment import enable_batch
from listener.scoring.urgency import REPEAT_CONTACT_CAP
from storage.bulk import encoded_json

log = get_logger(__name__)

#: How often the listener, waiting for the next page, checks whether it is asked to stop.
STOP_CHECK_SECONDS = 0.1
#: How long a worker told to stop gets to end by itself (a request in flight) before it is
#: killed; nothing it holds needs saving.
EXIT_GRACE_SECONDS = 5.0
#: Pages the worker's read-ahead may hold fetched beyond the one being scored
#: (`ReadAhead` depth). With the sender thread the depth hardly matters on the sandbox
#: (20k mentions, SQLite: 2.50 / 2.49 / 2.46 s at depth 1 / 2 / 4; PostgreSQL 3.71 /
#: 3.70 / 3.68 s); two absorb one slow request without adding much to what a stopped
#: poll fetches again.
FETCH_DEPTH = 2
#: Beyond one request's timeout, how long a worker asked for a page may go without a sign
#: of life (`_Pulse`) before the listener takes it for stuck: scoring a page takes well
#: under a second, and a request's answer may trickle in for longer than its timeout,
#: which bounds each read, not the whole answer.
SILENCE_MARGIN_SECONDS = 120.0


def silence_limit(http_timeout: float) -> float:
    """Seconds without a sign of life after which a fetch worker counts as stuck."""
    return http_timeout + SILENCE_MARGIN_SECONDS

#: One mention's scoring as sent back: None (scoring failed: stored unscored) or
#: (sentiment, label, lang, urgencies) with urgencies[level] = (urgency, reasons) for each
#: repeat-contact level 0..REPEAT_CONTACT_CAP (an echo's are all urgency 0, reason echo);
#: levels share their lists of reasons (`to_score` copies the one it gives).
Scored = Levels | None
#: Opens the source's page iterator (in the worker), given the stop check it must honour.
OpenPages = Callable[[Callable[[], bool]], Iterator[Page]]


class WorkerLost(Exception):
    """The fetch worker died or went silent under a poll; the pages it had not sent are
    fetched again."""


class _Pulse:
    """When the worker last showed a sign of life, on the system's monotonic clock (shared
    by both processes), in memory both see. One writer, one reader, a double: no lock."""

    def __init__(self, context: Any) -> None:
        self._value = context.Value("d", time.monotonic(), lock=False)

    def beat(self) -> None:
        self._value.value = time.monotonic()

    def last(self) -> float:
        return float(self._value.value)


def to_score(scored: Scored, level: int) -> Score | None:
    """The mention's score at its author's repeat-contact level as read now
    (`repeat_contact_level`)."""
    if scored is None:
        return None
    sentiment, label, lang, urgencies = scored
    value, reasons = urgencies[level]
    return Score(sentiment, label, value, list(reasons), lang)


_LEVELS = tuple(range(REPEAT_CONTACT_CAP + 1))


def _score_page(scorer: Scorer | None, mentions: list[Mention],
                now: datetime | None = None) -> list[Scored]:
    """Per mention: its scoring (`Scorer.levels` at every repeat-contact level), or None for
    own posts, mentions already scored and texts whose scoring failed (logged); all None
    without a scorer. The page's mentions are scored together (`Scorer.levels_many`: the
    care model reads the page's care texts in one numpy pass, `enable_batch`), each with
    the very result of scoring it alone. `now`: when the waiting times are counted to
    (tests; the clock by default)."""
    out: list[Scored] = [None] * len(mentions)
    if scorer is None:
        return out
    now = now or datetime.now(UTC)
    wanted = [i for i, m in enumerate(mentions) if not m.is_own and m.score is None]
    chosen = [mentions[i] for i in wanted]
    texts = [m.text for m in chosen]

    def failed(k: int, exc: Exception) -> None:
        log.exception("scoring_failed", text_chars=len(texts[k] or ""))

    scored = scorer.levels_many(
        texts, [m.author.followers for m in chosen],
        [m.like_count + m.reply_count + m.repost_count for m in chosen],
        [max(0.0, (now - m.created_at).total_seconds() / 60) for m in chosen],
        [m.lang for m in chosen], [m.is_echo for m in chosen],
        repeat_contacts=_LEVELS, failed=failed)
    for i, levels in zip(wanted, scored, strict=True):
        out[i] = levels
    return out


def warm_up_worker(scorer: Scorer) -> None:
    """Load all that scoring a page needs, once per process, before the worker is forked
    (then it shares the pages and never needs a lock another thread of the listener held at
    the fork): the models (`WARM_TEXTS`) and the batch care model (`enable_batch`: the
    weights as numpy arrays and the n-gram hasher's tables, ~11 ms of CPU once; numpy
    itself is loaded already, by the language identifier), which scores a page's care
    texts together. Callers that time a poll call it first, as they warm up the models."""
    for text in WARM_TEXTS:
        score_one(scorer, ScoreInput(text, 1, 0, 0.0, 0, None, False))
    enable_batch()


# ---------------------------------------------------------------- pages over the pipe
def _init_fields(cls: type) -> tuple[str, ...]:
    """The dataclass's field names in order, which its __init__ takes positionally."""
    if not all(f.init for f in fields(cls)):
        raise TypeError(f"{cls.__name__} has a field outside __init__: pack it by name")
    return tuple(f.name for f in fields(cls))


_MENTION_FIELDS = _init_fields(Mention)
_AUTHOR_AT = _MENTION_FIELDS.index("author")
_RAW_AT = _MENTION_FIELDS.index("raw")
_head = attrgetter(*_MENTION_FIELDS[:_AUTHOR_AT])
_middle = attrgetter(*_MENTION_FIELDS[_AUTHOR_AT + 1:_RAW_AT])
_tail = attrgetter(*_MENTION_FIELDS[_RAW_AT + 1:])
_author = attrgetter(*_init_fields(Author))
#: One mention as sent: the values of its fields before the author, the author's, those
#: between the author and the raw payload, the raw payload (encoded: `_raw_text`), and the
#: fields after it, each in the dataclass's order.
Packed = tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...], dict[str, Any] | bytes,
               tuple[Any, ...]]


def _packed(mentions: list[Mention]) -> list[Packed] | list[Mention]:
    """A page's mentions as tuples of their fields, to be sent. Why: pickling a slotted
    dataclass builds a dict of its slots and names each one, mention after mention: with
    tuples a page costs a third less to send (~9 -> ~6 us a mention) and a quarter less to
    receive in the listener (`_unpacked` included). Anything but a plain `Mention` with a
    plain `Author` (a subclass) goes as it is."""
    if not all(type(m) is Mention and type(m.author) is Author for m in mentions):
        return mentions
    return [(_head(m), _author(m.author), _middle(m), _raw_text(m.raw), _tail(m))
            for m in mentions]


def _raw_text(raw: dict[str, Any] | bytes) -> dict[str, Any] | bytes:
    """The raw payload as the JSON text the listener stores for it (`storage.bulk.
    encoded_json`), encoded once here. Why: unpickling ~500 bytes of nested dicts was 5-8%
    of the listener's CPU, and it then encoded them again for the raw column; bytes cost
    next to nothing either side. A payload orjson would not encode as stored stays as it
    is (the listener encodes it the standard way)."""
    if type(raw) is dict:
        encoded = encoded_json(raw)
        if encoded is not None:
            return encoded
    return raw


def _unpacked(mentions: list[Packed] | list[Mention]) -> list[Mention]:
    """The mentions `_packed` sent, equal to the worker's field for field, but for the raw
    payload: its JSON text (bytes) where it was encoded, which stores the same value."""
    if mentions and isinstance(mentions[0], Mention):
        return mentions  # type: ignore[return-value]  # sent as they were
    packed: list[Packed] = mentions  # type: ignore[assignment]
    make: Any = Mention  # positional: the fields' order (mypy reads the types by name)
    return [make(*head, Author(*author), *middle, raw, *tail)
            for head, author, middle, raw, tail in packed]


# ---------------------------------------------------------------- the worker process
def _portable(exc: BaseException) -> tuple[type[BaseException], tuple[Any, ...], dict[str, Any],
                                           str]:
    """An exception as parts that always pickle (ours take keyword-only arguments, which
    plain pickling of an exception loses), with the worker's traceback."""
    return (type(exc), exc.args, dict(vars(exc)),
            "".join(traceback.format_exception(exc)))


def _rebuilt(parts: tuple[type[BaseException], tuple[Any, ...], dict[str, Any], str]
             ) -> BaseException:
    cls, args, attrs, trace = parts
    exc = cls.__new__(cls)
    exc.args = args
    vars(exc).update(attrs)
    exc.add_note(f"raised in the fetch worker:\n{trace}")
    return exc


def _freeze_once() -> None:
    """Move what is alive now (modules, the scoring models, settings: what lives as long as
    the process) out of the cyclic garbage collector's reach, once per process. Why: with
    the models loaded, each full collection walked millions of objects that never die,
    ~15% of the listener's time on a large poll; a few objects frozen that die later are
    simply never collected (bounded: this happens once)."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


_frozen = False


def _die_with(parent: int) -> None:
    """End with the listener at once when it is killed (Linux: the kernel sends SIGKILL), so
    a dead listener's worker never makes one more request under a lease that is running
    out for another process to take over; elsewhere the parent watch ends it within
    `PARENT_CHECK_SECONDS`."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # died before the above took effect
        os._exit(0)


PR_SET_PDEATHSIG = 1


def _worker(conn: Connection, stop: Any, open_pages: OpenPages, scorer: Scorer | None,
            parent: int, pulse: _Pulse) -> None:
    """The worker's whole life: run the source, score each page, send it when asked."""
    _die_with(parent)
    on_progress(pulse.beat)  # requests and waits, on whichever thread makes them
    gc.freeze()  # all inherited from the listener: never garbage here, never scanned
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=watch_parent, args=(parent,), name="parent-watch",
                     daemon=True).start()
    fetched = threading.Event()
    sender = _Sender(conn)
    try:
        with ReadAhead(open_pages(stopping(fetched, stop.is_set)), name="fetch",
                       done=fetched, depth=FETCH_DEPTH) as pages:
            for page in pages:
                scored = _score_page(scorer, page.mentions)
                pulse.beat()
                # Pickled before the listener's request is taken: a page that does not
                # pickle is an error sent in its place, on that request.
                message = _pickled(("page", _packed(page.mentions), page.cursor, scored))
                if not _asked(conn, stop):
                    return
                sender.send(message)
        if _asked(conn, stop):
            sender.send(_pickled(("end",)))
    except BaseException as exc:  # sent to the listener, who raises it after earlier pages
        if _asked(conn, stop):
            sender.send(_pickled(("error", _portable(exc))))
    finally:
        sender.flush(stop)


def _pickled(message: tuple[Any, ...]) -> memoryview:
    """`message` as `Connection.send` pickles it (the listener reads it with `recv`)."""
    return ForkingPickler.dumps(message)


class _Sender:
    """Sends the worker's messages to the listener in the order queued, from a thread of
    its own, so the worker goes on fetching and scoring while a page waits for room in the
    pipe (see the module's docstring)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._queue: queue.SimpleQueue[memoryview | None] = queue.SimpleQueue()
        # A daemon: a worker told to stop ends without waiting for a send the listener
        # will never read.
        self._thread = threading.Thread(target=self._run, name="send", daemon=True)
        self._thread.start()

    def send(self, message: memoryview) -> None:
        """Queue a message (`_pickled`) to be sent after those queued before it."""
        self._queue.put(message)

    def flush(self, stop: Any) -> None:
        """Wait until every message queued is sent, or the listener stops first."""
        self._queue.put(None)
        while self._thread.is_alive() and not stop.is_set():
            self._thread.join(STOP_CHECK_SECONDS)

    def _run(self) -> None:
        while (message := self._queue.get()) is not None:
            try:
                self._conn.send_bytes(message)
            except OSError:  # the listener is gone, and with it the need to send
                return
            except BaseException:  # never expected; die rather than leave the listener
                log.exception("fetch_worker_send_failed")  # waiting (it gets WorkerLost)
                os._exit(1)


def _asked(conn: Connection, stop: Any) -> bool:
    """Wait until the listener asks for the next page; False once it is gone or stops."""
    while not stop.is_set():
        try:
            if conn.poll(STOP_CHECK_SECONDS):
                return bool(conn.recv() == "next")
        except (EOFError, OSError):
            return False
    return False


# ---------------------------------------------------------------- the listener's side
class FetchWorker:
    """One poll's pages from a forked worker, as (page, scorings) in order. Use as a
    context manager: leaving it stops the worker (it never outlives the poll)."""

    def __init__(self, open_pages: OpenPages, scorer: Scorer | None,
                 should_stop: Callable[[], bool], *, ahead: int = 1,
                 silent_limit: float | None = None) -> None:
        self.open_pages = open_pages
        self.scorer = scorer
        self.should_stop = should_stop
        # Pages the worker may have fetched and not yet handed over: with more than one,
        # pages pile up while the listener stores, and it can store those together
        # (`ready`), one transaction for several.
        self.ahead = max(1, ahead)
        # None: wait for a silent worker as long as the poll runs (tests of the hand-over).
        self.silent_limit = silent_limit
        context = multiprocessing.get_context("fork")
        self._pulse = _Pulse(context)
        self._stop = context.Event()
        self._conn, self._child_conn = context.Pipe()
        self._context = context
        self._process: Any = None

    def __enter__(self) -> FetchWorker:
        # Loaded before the fork, so the worker never needs a lock that another thread of
        # the listener held at the moment of the fork (as for the scoring worker).
        if self.scorer is not None:
            warm_up_worker(self.scorer)
        _freeze_once()
        self._process = self._context.Process(
            target=_worker, name="carewatch-fetch", daemon=True,
            args=(self._child_conn, self._stop, self.open_pages, self.scorer, os.getpid(),
                  self._pulse))
        self._process.start()
        self._child_conn.close()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        process = self._process
        if process is not None:
            process.join(EXIT_GRACE_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
        self._conn.close()

    def ready(self, timeout: float = 0.0) -> bool:
        """Whether the worker's next message is here, waiting up to `timeout` seconds for
        it (then the next `next()` on the iteration does not wait)."""
        try:
            return bool(self._conn.poll(max(0.0, timeout)))
        except (EOFError, OSError):
            return True  # the iteration raises WorkerLost without waiting

    def __iter__(self) -> Iterator[tuple[Page, list[Scored]]]:
        for _ in range(self.ahead):
            self._send("next")
        while True:
            message = self._receive()
            if message is None:
                return
            kind = message[0]
            if kind == "end":
                return
            if kind == "error":
                raise _rebuilt(message[1])
            # The worker starts on the next page while this is stored. It may have ended
            # already (with `ahead` > 1 it can send its last pages and "end" before this
            # asks for more): what it sent is still read, and a worker that died is
            # noticed there (`_receive` raises WorkerLost).
            with contextlib.suppress(OSError):
                self._conn.send("next")
            yield Page(_unpacked(message[1]), message[2]), message[3]

    def _send(self, what: str) -> None:
        try:
            self._conn.send(what)
        except OSError as exc:
            raise WorkerLost(str(exc)) from exc

    def _receive(self) -> Any:
        """The worker's next message; None when the listener is asked to stop first.
        Raises WorkerLost when the worker ended, or showed no sign of life for
        `silent_limit` seconds of this wait (then it is killed)."""
        waiting_since = time.monotonic()
        while True:
            if self.should_stop():
                return None
            try:
                if self._conn.poll(STOP_CHECK_SECONDS):
                    return self._conn.recv()
            except (EOFError, OSError) as exc:
                raise WorkerLost(f"fetch worker ended (exit code "
                                 f"{self._process.exitcode})") from exc
            if self.silent_limit is not None:
                # Counted from this wait at the earliest: a worker held back while the
                # listener stored (nothing asked of it) was not silent.
                silent = time.monotonic() - max(waiting_since, self._pulse.last())
                if silent > self.silent_limit:
                    self._process.kill()
                    log.warning("fetch_worker_silent", seconds=round(silent, 1),
                                pid=self._process.pid)
                    raise WorkerLost(f"fetch worker showed no sign of life for "
                                     f"{silent:.0f} s and was stopped")
