"""`carewatch score --in IN.csv --out OUT.csv`: score any CSV with a text column.

Why it is built this way:
* Streamed with the stdlib `csv` module, `chunk_size` rows at a time: memory stays flat and
  every input cell is written back exactly as it was read (no "NA" → empty, no "007" → 7).
  pandas did the same but cost ~0.45 s of import per run, more than scoring 3,000 tweets.
* Both cores: chunks of rows go to a fork-based `multiprocessing.Pool` whose workers are
  forked after VADER and the model are loaded, so they start warm and share the pages; each
  worker returns its chunk's output lines as one string (cheap to pickle; CSV formatting runs
  in parallel), consumed in submission order, so output rows keep the input order. Small
  inputs (up to `IN_PROCESS_ROWS`) are scored in-process: a pool costs more than it saves.
* All-or-nothing: rows go to a temporary file next to OUT that is renamed over OUT only at the
  end; on any error it is removed, so a failed run never leaves a half-written OUT.
* Every bad input is one `ScoringInputError` line the CLI prints before exiting with 2.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import itertools
import multiprocessing
import multiprocessing.pool
import os
import stat
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carewatch.domain import Score, SentimentLabel
from listener.scoring.scorer import Scorer
from listener.scoring.sentiment import enable_batch, warm_up

if TYPE_CHECKING:  # numpy loads only when a topic model exists: `score` stays quick without;
    # the settings (pydantic, ~0.2 s) only when a configuration sets something
    from carewatch.settings import UrgencyConfig
    from carewatch.topics import TopicModel


class ScoringInputError(Exception):
    """Bad input to batch scoring, phrased as one line for the user."""


OUTPUT_COLUMNS = ("sentiment", "sentiment_label", "urgency", "urgency_reasons", "lang",
                  "topic", "topic_confidence")


# Each label's cell (an enum's `.value` is a descriptor call, ~0.3 µs a row)
_LABEL_VALUES = {label: label.value for label in SentimentLabel}

_worker_scorer: Scorer | None = None
# The topic model, like the scorer, is set before the fork, so workers inherit it for free.
_worker_topics: TopicModel | None = None
# Inputs up to this many rows are scored in-process: forking and feeding the pool costs
# ~15 ms, about what 150 rows take to score, and each worker warms its own caches; measured
# on two cores, the pool wins from ~400-600 rows (it was 3000, which left a 3,000-row input
# on one core). Inputs that end within the read-ahead (2 chunks a worker) are split evenly
# over the workers, so a 1,000-row input is not one chunk on one core.
IN_PROCESS_ROWS = 400


def _init_worker(urgency: UrgencyConfig | None, first_response_minutes: float,
                 topics_json: dict[str, Any] | None = None) -> None:
    global _worker_scorer, _worker_topics
    if _worker_scorer is None:  # forked workers inherit the parent's; spawned ones build one
        _worker_scorer = Scorer(urgency, first_response_minutes)
    if _worker_topics is None and topics_json is not None:
        from carewatch.topics import TopicModel

        _worker_topics = TopicModel.from_json(topics_json)


def _writer_cell(cell: str) -> str:
    """`cell` as `csv.writer` (this module's dialect: ",", '"', "\\n") writes it."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([cell, ""])  # two fields: never the
    return buf.getvalue()[:-2]  # empty-record case; drop the second field's "," and "\n"


def _csv_cell(cell: str) -> str:
    """`cell` as `csv.writer(lineterminator="\\n")` writes it in a row (QUOTE_MINIMAL).

    Why not the writer itself: it tests every character of every cell against the
    delimiter, the quote and the line terminator, twice, with a function call a character
    (`join_append_data`): ~29k instructions a row of the workers' ~430k (callgrind, dev
    tweets), where `in` finds each of the four characters with memchr. A cell holding a
    comma, a quote or a newline is quoted, its quotes doubled, in every Python version; one
    holding "\\r" is quoted by some versions and not by others (3.11 does not, with "\\n" as
    the terminator), so it goes to the writer itself (`_writer_cell`). Outputs stay
    byte-identical (tests/scoring/test_batch.py compares both on a fuzz)."""
    if "\r" in cell:
        return _writer_cell(cell)
    if '"' in cell:
        return '"' + cell.replace('"', '""') + '"'
    if "," in cell or "\n" in cell:
        return '"' + cell + '"'
    return cell


def _score_rows(rows: list[list[str]], col: int, scorer: Scorer | None = None,
                topics: TopicModel | None = None) -> tuple[int, str]:
    """Score a chunk of rows and return (row count, the chunk's output CSV lines).

    Module-level so worker processes can run it. The worker formats whole output lines:
    one string crosses back to the parent (a memcpy to pickle, where thousands of small
    tuples cost ~2 µs a row), and the CSV quoting work is spread over the workers instead
    of the parent, which on two cores competes with them for CPU."""
    scorer = scorer or _worker_scorer or Scorer()
    texts = [r[col] for r in rows]
    scores = scorer.score_many(texts)
    topic_cells = _topic_cells(texts, scores, topics or _worker_topics)
    label = _LABEL_VALUES
    cell = _csv_cell
    lines = [
        ",".join([*map(cell, r), f"{s.sentiment:.4f}", label[s.sentiment_label],
                  f"{s.urgency:.4f}", cell(";".join(s.urgency_reasons)), cell(s.lang or ""),
                  cell(t[0]), t[1]])
        for r, s, t in zip(rows, scores, topic_cells, strict=True)
    ]
    lines.append("")  # the last line's terminator
    return len(rows), "\n".join(lines)


def _topic_cells(texts: list[str], scores: list[Score], model: TopicModel | None
                 ) -> list[tuple[str, str]]:
    """(topic, topic_confidence) per row; both empty when no topic is confident or no
    model exists."""
    if model is None:
        return [("", "")] * len(texts)
    guesses = model.predict_many(texts, [s.sentiment_label.value for s in scores])
    return [(g.topic, f"{g.confidence:.4f}") if g.topic else ("", "") for g in guesses]


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while rows are scored (restored after, as found).

    Why: scoring allocates a dozen containers a row (row lists, token lists, score objects)
    and frees them all again; none forms a reference cycle, so the collector, triggered every
    700 allocations, only walked live chunks and found nothing: ~3% of the command's
    instructions (callgrind), in the parent and in every worker. Reference counting still
    frees everything at once. The workers are forked inside the pause, so they inherit it
    for their whole (run-long) life."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _CountingReader(io.RawIOBase):
    """Binary reader that counts bytes read, so progress can follow the file size."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer) or 0
        self.count += n
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


def _check_input(in_path: Path, text_column: str) -> None:
    """Fail early, with one line, on what can be seen before reading the rows."""
    try:
        mode = in_path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise ScoringInputError(f"{in_path}: is a directory, not a CSV file")
        if not stat.S_ISREG(mode):  # a pipe or device cannot be read twice (and may block)
            raise ScoringInputError(f"{in_path}: is not a regular file")
        with in_path.open("rb") as fh:
            head = fh.read(65536)
    except FileNotFoundError:
        raise ScoringInputError(f"{in_path}: no such file") from None
    except OSError as exc:  # permission denied, a parent that is a file, an I/O error
        raise ScoringInputError(
            f"{in_path}: cannot read it: {exc.strerror or type(exc).__name__}") from None
    if not head.lstrip(b"\xef\xbb\xbf").strip():
        raise ScoringInputError(f"{in_path}: is empty (expected a CSV with a header row)")
    if b"\x00" in head:
        raise ScoringInputError(f"{in_path}: is not a CSV file (it contains binary data)")
    try:
        header = next(csv.reader(io.StringIO(head.decode("utf-8-sig", errors="replace"))))
    except (csv.Error, StopIteration):
        raise ScoringInputError(f"{in_path}: is not a CSV file (no header row)") from None
    if text_column not in header:
        shown = ", ".join(repr(c) for c in header[:20]) + (" ..." if len(header) > 20 else "")
        raise ScoringInputError(
            f"{in_path}: no column {text_column!r}; the columns are {shown} "
            f"(choose one with --text-column)"
        )


def _input_error(exc: Exception, in_path: Path) -> ScoringInputError:
    """A csv parse error or a decode error as one line."""
    if isinstance(exc, UnicodeDecodeError):
        return ScoringInputError(
            f"{in_path}: is not UTF-8 text (invalid byte 0x{exc.object[exc.start]:02x}); "
            "save it as UTF-8 and retry"
        )
    detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
    return ScoringInputError(f"{in_path}: is not a valid CSV file ({detail})")


def _chunks(reader: Iterator[list[str]], width: int, size: int, src: Path
            ) -> Iterator[list[list[str]]]:
    """Rows in lists of `size`; blank lines skipped, short rows padded, long rows refused."""
    chunk: list[list[str]] = []
    for row in reader:
        if len(row) != width:
            if not row or row == [""]:
                continue
            if len(row) > width:
                raise ScoringInputError(
                    f"{src}: is not a valid CSV file (line {reader.line_num} has "  # type: ignore[attr-defined]
                    f"{len(row)} fields, the header has {width})")
            row = row + [""] * (width - len(row))
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _last_cut(chunks: Iterator[list[list[str]]], parts: int
              ) -> Iterator[list[list[str]]]:
    """The chunks as they come, but the last one cut into `parts` pieces.

    Why: the workers take chunks as they free up, so a run ends when the worker that took
    the last chunk finishes it while the other has nothing left: up to a whole chunk
    (~70 ms of a core at 1,000 rows) with one core idle. Pieces of a quarter chunk let the
    worker that frees up first take most of them, and both end within a piece. Holding one
    chunk back delays its submission only by the reading of the next one."""
    held: list[list[str]] | None = None
    for chunk in chunks:
        if held is not None:
            yield held
        held = chunk
    if held is not None:
        step = -(-len(held) // parts)
        for i in range(0, len(held), step):
            yield held[i:i + step]


#: How long a failed run waits for the chunks still in flight before it stops the workers.
SETTLE_SECONDS = 30.0


def _settle(pending: deque[AsyncResult[tuple[int, str]]],
            seconds: float = SETTLE_SECONDS) -> None:
    """Wait (up to `seconds` in all) until the results still in flight are in.

    Why: `Pool.terminate` kills the workers where they stand, and one killed while writing
    its result holds the result queue's lock for good. The pool's task handler then waits on
    that lock to send its own end-of-work message, and `terminate` waits for the task
    handler: the run hangs forever (seen in CI, a bad row found late in a pooled run). With
    every result in, the workers are idle and `terminate` is safe. The wait is bounded: at
    most 2 chunks per worker are in flight."""
    deadline = time.monotonic() + seconds
    for result in pending:
        result.wait(max(0.0, deadline - time.monotonic()))


def score_csv(in_path: str | os.PathLike[str], out_path: str | os.PathLike[str],
              text_column: str = "text", workers: int | None = None, progress: bool = True,
              chunk_size: int = 1000, *, urgency: UrgencyConfig | None = None,
              first_response_minutes: float = 60.0, topic_model: TopicModel | None = None
              ) -> int:
    """Copy every column of IN and add the score columns; return the number of rows written.

    Raises ScoringInputError (and writes nothing) on a missing, unreadable, empty, non-CSV
    or non-UTF-8 input, when `text_column` is absent, or when OUT is a directory or its
    folder is missing or not writable.
    """
    global _worker_scorer, _worker_topics
    src, dst = Path(in_path), Path(out_path)
    _check_input(src, text_column)
    if dst.is_dir():
        raise ScoringInputError(f"{dst}: is a directory, not a file")
    if not dst.parent.is_dir():
        raise ScoringInputError(f"{dst}: the folder {dst.parent} does not exist")
    workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
    chunk_size = max(1, chunk_size)
    total_bytes = src.stat().st_size
    csv.field_size_limit(1 << 24)

    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
    except OSError as exc:
        raise ScoringInputError(f"{dst}: cannot write in the folder {dst.parent}: "
                                f"{exc.strerror or type(exc).__name__}") from None
    tmp = Path(tmp_name)
    rows = 0
    pool: multiprocessing.pool.Pool | None = None
    # Results submitted and not yet written; the run that fails with some in flight waits
    # for them before it stops the workers (`_settle`).
    pending: deque[AsyncResult[tuple[int, str]]] = deque()
    bar = None
    try:
        counter = _CountingReader(src.open("rb"))  # type: ignore[arg-type]
        text = io.TextIOWrapper(io.BufferedReader(counter), encoding="utf-8-sig",
                                errors="strict", newline="")
        with _cyclic_gc_paused(), text, \
                os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            reader = csv.reader(text, strict=True)
            header_row = next(reader, None)
            if header_row is None:
                raise ScoringInputError(f"{src}: is empty (expected a CSV with a header row)")
            col = header_row.index(text_column)
            width = len(header_row)
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow([*header_row, *OUTPUT_COLUMNS])
            chunks = _chunks(reader, width, chunk_size, src)
            if progress and sys.stderr.isatty():
                from rich.progress import Progress

                bar = Progress(transient=True)
                bar.start()
                task = bar.add_task("scoring", total=total_bytes)
            scorer = Scorer(urgency, first_response_minutes)
            warm_up()  # VADER and the model load once, before any fork, so workers share them
            # Read ahead: an input that ends within IN_PROCESS_ROWS is scored here, since
            # forking workers costs more than it saves on it.
            ahead: list[list[list[str]]] = []
            ahead_rows = 0
            more = False  # whether rows remain after the read-ahead
            horizon = max(IN_PROCESS_ROWS, 2 * workers * chunk_size)
            for chunk in chunks:
                if ahead_rows >= horizon:
                    more = True
                    chunks = itertools.chain([chunk], chunks)
                    break
                ahead.append(chunk)
                ahead_rows += len(chunk)

            def write(done: tuple[int, str]) -> None:
                nonlocal rows
                out.write(done[1])
                rows += done[0]
                if bar is not None:
                    bar.update(task, completed=counter.count)

            if more or "numpy" in sys.modules:
                # a large input (or numpy loaded already, for the topic model): the care
                # model runs a chunk at a time, ~3x cheaper a row, for ~0.1 s of import
                # (with OpenBLAS kept to one thread: `enable_batch`).
                enable_batch()
            if ahead_rows <= IN_PROCESS_ROWS or workers == 1:
                for chunk in ahead:
                    write(_score_rows(chunk, col, scorer, topic_model))
                for chunk in chunks:
                    write(_score_rows(chunk, col, scorer, topic_model))
            else:
                _worker_scorer = scorer  # inherited by the forked workers
                _worker_topics = topic_model
                fork = os.name == "posix"
                ctx = multiprocessing.get_context("fork" if fork else "spawn")
                topics_json = None if fork or topic_model is None else topic_model.to_json()
                # Everything loaded so far lives as long as the workers: frozen out of the
                # cyclic collector before the fork, the workers' full collections do not walk
                # it again and again (~7% of their CPU) nor copy its pages by writing to
                # their GC headers. The parent unfreezes its own copy at once.
                gc.freeze()
                try:
                    pool = ctx.Pool(workers, initializer=_init_worker,
                                    initargs=(urgency, first_response_minutes, topics_json))
                finally:
                    gc.unfreeze()
                # Results are written in submission order; at most 2 chunks per worker are in
                # flight, so memory stays flat however large the input.
                if not more:  # the whole input is read: share it out evenly
                    flat = [row for chunk in ahead for row in chunk]
                    step = -(-len(flat) // (2 * workers))
                    ahead = [flat[i:i + step] for i in range(0, len(flat), step)]
                queued = itertools.chain(ahead, chunks)
                for chunk in _last_cut(queued, 2 * workers) if more else queued:
                    pending.append(pool.apply_async(_score_rows, (chunk, col)))
                    while len(pending) > 2 * workers:
                        write(pending.popleft().get())
                while pending:
                    write(pending.popleft().get())
        os.replace(tmp, dst)
        return rows
    except (UnicodeDecodeError, csv.Error) as exc:
        tmp.unlink(missing_ok=True)
        raise _input_error(exc, src) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        _worker_scorer = _worker_topics = None
        if pool is not None:
            _settle(pending)
            pool.terminate()  # every result is in: no worker is writing one
            pool.join()
        if bar is not None:
            bar.stop()
