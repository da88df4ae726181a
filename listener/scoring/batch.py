"""`carewatch score --in IN.csv --out OUT.csv`: score any CSV with a text column.

Why it is built this way:
* Streamed: pandas reads `chunk_size` rows at a time as strings (`dtype=str`,
  `keep_default_na=False`), so memory stays flat and every input cell is written back exactly
  as it was read (no "NA" → empty, no "007" → 7).
* Both cores: chunks go to a fork-based `ProcessPoolExecutor` whose workers inherit the loaded
  VADER and model weights; results are consumed in submission order, so output rows keep the
  input order. Small inputs (one chunk) are scored in-process: a pool costs more than it saves.
* All-or-nothing: rows go to a temporary file next to OUT that is renamed over OUT only at the
  end; on any error it is removed, so a failed run never leaves a half-written OUT.
* Every bad input is one `ScoringInputError` line the CLI prints before exiting with 2.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
import sys
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from carewatch.settings import UrgencyConfig
from listener.scoring import Scorer, ScoringInputError
from listener.scoring.sentiment import warm_up

OUTPUT_COLUMNS = ("sentiment", "sentiment_label", "urgency", "urgency_reasons", "lang")
Row = tuple[str, str, str, str, str]

_worker_scorer: Scorer | None = None


def _init_worker(urgency: UrgencyConfig | None, first_response_minutes: float) -> None:
    global _worker_scorer
    _worker_scorer = Scorer(urgency, first_response_minutes)


def _score_texts(texts: list[str], scorer: Scorer | None = None) -> list[Row]:
    """Score a chunk; module-level so worker processes can run it."""
    scorer = scorer or _worker_scorer or Scorer()
    return [
        (f"{s.sentiment:.4f}", s.sentiment_label.value, f"{s.urgency:.4f}",
         ";".join(s.urgency_reasons), s.lang or "")
        for s in scorer.score_many(texts)
    ]


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
    if not in_path.exists():
        raise ScoringInputError(f"{in_path}: no such file")
    if in_path.is_dir():
        raise ScoringInputError(f"{in_path}: is a directory, not a CSV file")
    with in_path.open("rb") as fh:
        head = fh.read(65536)
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
    """A pandas parse error or a decode error as one line."""
    if isinstance(exc, UnicodeDecodeError):
        return ScoringInputError(
            f"{in_path}: is not UTF-8 text (invalid byte 0x{exc.object[exc.start]:02x}); "
            "save it as UTF-8 and retry"
        )
    detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
    return ScoringInputError(f"{in_path}: is not a valid CSV file ({detail})")


def score_csv(in_path: str | os.PathLike[str], out_path: str | os.PathLike[str],
              text_column: str = "text", workers: int | None = None, progress: bool = True,
              chunk_size: int = 2000, *, urgency: UrgencyConfig | None = None,
              first_response_minutes: float = 60.0) -> int:
    """Copy every column of IN and add the score columns; return the number of rows written.

    Raises ScoringInputError (and writes nothing) on a missing, empty, non-CSV or non-UTF-8
    input, or when `text_column` is absent.
    """
    src, dst = Path(in_path), Path(out_path)
    _check_input(src, text_column)
    if not dst.parent.exists():
        raise ScoringInputError(f"{dst}: the folder {dst.parent} does not exist")
    workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
    chunk_size = max(1, chunk_size)
    total_bytes = src.stat().st_size

    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
    tmp = Path(tmp_name)
    rows = 0
    pool: ProcessPoolExecutor | None = None
    bar = None
    try:
        counter = _CountingReader(src.open("rb"))  # type: ignore[arg-type]
        text = io.TextIOWrapper(io.BufferedReader(counter), encoding="utf-8-sig",
                                errors="strict", newline="")
        with text, os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            reader = pd.read_csv(text, dtype=str, keep_default_na=False, na_filter=False,
                                 chunksize=chunk_size, engine="c")
            chunks = iter(reader)
            if progress and sys.stderr.isatty():
                from rich.progress import Progress

                bar = Progress(transient=True)
                bar.start()
                task = bar.add_task("scoring", total=total_bytes)
            scorer = Scorer(urgency, first_response_minutes)
            first = next(chunks, None)
            if first is None:
                raise ScoringInputError(f"{src}: is empty (expected a CSV with a header row)")
            second = next(chunks, None)
            header = True

            def write(frame: pd.DataFrame, scored: list[Row]) -> None:
                nonlocal header, rows
                frame = frame.copy()
                for i, name in enumerate(OUTPUT_COLUMNS):
                    frame[name] = [r[i] for r in scored]
                frame.to_csv(out, header=header, index=False, lineterminator="\n")
                header = False
                rows += len(frame)
                if bar is not None:
                    bar.update(task, completed=counter.count)

            if second is None or workers == 1:
                for frame in (f for f in (first, second) if f is not None):
                    write(frame, _score_texts(frame[text_column].tolist(), scorer))
                for frame in chunks:
                    write(frame, _score_texts(frame[text_column].tolist(), scorer))
            else:
                warm_up()  # VADER and the model load before forking, so workers share them
                ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
                pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                           initargs=(urgency, first_response_minutes))
                pending: deque[tuple[pd.DataFrame, Future[list[Row]]]] = deque()

                def frames() -> Iterator[pd.DataFrame]:
                    yield first
                    yield second
                    yield from chunks

                for frame in frames():
                    pending.append((frame, pool.submit(_score_texts,
                                                       frame[text_column].tolist())))
                    while len(pending) > 2 * workers:
                        done, fut = pending.popleft()
                        write(done, fut.result())
                while pending:
                    done, fut = pending.popleft()
                    write(done, fut.result())
        os.replace(tmp, dst)
        return rows
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        tmp.unlink(missing_ok=True)
        raise _input_error(exc, src) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if bar is not None:
            bar.stop()
