"""Batch scoring: byte-exact copies of input cells, clear errors, nothing written on error."""

from __future__ import annotations

import csv
import multiprocessing
import time
from collections import deque
from pathlib import Path

import pytest

from listener.scoring.batch import OUTPUT_COLUMNS, ScoringInputError, _settle, score_csv

HOSTILE = [
    ["1", '=HYPERLINK("http://evil.example","click")', "@acmeair my flight was cancelled"],
    ["007", "NA", "line one\nline two, with comma"],
    ["3", "", "Ünïcödé 😡 \"quoted\" and, commas"],
    ["4", "  padded  ", "null"],
]


def write_csv(path: Path, rows: list[list[str]], header: list[str], bom: bool = False) -> None:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


@pytest.fixture
def always_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small inputs are scored in-process; these tests want the pool path exercised."""
    from listener.scoring import batch

    monkeypatch.setattr(batch, "IN_PROCESS_ROWS", 0)


@pytest.mark.parametrize(("workers", "chunk"), [(1, 2000), (2, 1)])
def test_columns_copied_exactly(tmp_path: Path, workers: int, chunk: int,
                                always_pool: None) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(src, HOSTILE, ["id", "note", "text"], bom=True)
    assert score_csv(src, dst, workers=workers, chunk_size=chunk, progress=False) == 4
    with dst.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["id", "note", "text", *OUTPUT_COLUMNS]
    for original, got in zip(HOSTILE, rows[1:], strict=True):
        assert got[:3] == original
        assert got[4] in ("negative", "neutral", "positive")
        assert -1 <= float(got[3]) <= 1
        assert 0 <= float(got[5]) <= 1
    assert rows[1][4] == "negative"


def test_custom_text_column(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(src, [["@acmeair lost my bag"]], ["body"])
    assert score_csv(src, dst, text_column="body", progress=False) == 1


@pytest.mark.parametrize(("content", "match"), [
    (None, "no such file"),
    (b"", "empty"),
    (b"id,body\n1,hello\n", "no column 'text'; the columns are 'id', 'body'"),
    (b"\x00\x01\x02binary", "not a CSV"),
    (b"text\nok\n\xff\xfe bad bytes\n", "not UTF-8"),
])
def test_bad_input_writes_nothing(tmp_path: Path, content: bytes | None, match: str) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    if content is not None:
        src.write_bytes(content)
    with pytest.raises(ScoringInputError, match=match) as info:
        score_csv(src, dst, progress=False)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == ([src] if content is not None else [])


def test_ragged_rows(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("id,text\n1,@acmeair hi\n\n2\n", encoding="utf-8")
    assert score_csv(src, dst, progress=False) == 2
    rows = list(csv.reader(dst.open(encoding="utf-8", newline="")))
    assert rows[2][:2] == ["2", ""]
    src.write_text("id,text\n1,ok,extra\n", encoding="utf-8")
    with pytest.raises(ScoringInputError, match="line 2 has 3 fields"):
        score_csv(src, dst, progress=False)


def test_many_chunks_keep_order(tmp_path: Path, always_pool: None) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(src, [[str(i), f"@acmeair order {i} never arrived"] for i in range(50)],
              ["id", "text"])
    assert score_csv(src, dst, workers=2, chunk_size=7, progress=False) == 50
    rows = list(csv.reader(dst.open(encoding="utf-8", newline="")))
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(50)]


def test_one_big_chunk_is_still_shared_out(tmp_path: Path, always_pool: None) -> None:
    """An input that fits in one chunk is split over the workers, in order."""
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(src, [[str(i), f"@acmeair bag {i} lost"] for i in range(30)], ["id", "text"])
    assert score_csv(src, dst, workers=2, chunk_size=10_000, progress=False) == 30
    rows = list(csv.reader(dst.open(encoding="utf-8", newline="")))
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(30)]
    assert all(r[3] == "negative" for r in rows[1:])


def test_unusable_paths_are_one_line_and_write_nothing(tmp_path: Path) -> None:
    """Each is refused before any scoring; the cases hold for root too (/proc refuses new
    files and /proc/self/mem cannot be read by anyone)."""
    import os

    src = tmp_path / "in.csv"
    write_csv(src, [["1", "hello"]], ["id", "text"])
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "folder").mkdir()
    cases = [
        (tmp_path / "folder", tmp_path / "out.csv", "is a directory, not a CSV file"),
        (tmp_path / "pipe", tmp_path / "out.csv", "is not a regular file"),
        (Path("/proc/self/mem"), tmp_path / "out.csv", "cannot read it: Input/output error"),
        (src / "x.csv", tmp_path / "out.csv", "cannot read it: Not a directory"),
        (src, tmp_path / "folder", "is a directory, not a file"),
        (src, tmp_path / "no" / "out.csv", "does not exist"),
        (src, Path("/proc/out.csv"), "cannot write in the folder /proc"),
    ]
    before = sorted(tmp_path.rglob("*"))
    for in_path, out_path, match in cases:
        with pytest.raises(ScoringInputError, match=match) as info:
            score_csv(in_path, out_path, progress=False)
        assert "\n" not in str(info.value)
        assert sorted(tmp_path.rglob("*")) == before


def test_bad_row_late_in_a_pooled_run_writes_nothing(tmp_path: Path, always_pool: None) -> None:
    """A malformed row found after workers have started still leaves no OUT behind."""
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    lines = ["id,text"] + [f"{i},@acmeair bag {i} lost" for i in range(200)] + ["201,a,b"]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ScoringInputError, match="line 202 has 3 fields"):
        score_csv(src, dst, workers=2, chunk_size=10, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def _slow_square(n: int) -> int:
    time.sleep(0.3)
    return n * n


def test_a_failed_run_lets_the_chunks_in_flight_finish_before_stopping_the_workers() -> None:
    """`Pool.terminate` kills a worker where it stands: one killed while writing its result
    holds the result queue's lock, and `terminate` then hangs for good (it did in CI). So a
    failed run first waits, bounded, for what is in flight."""
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        pending = deque(pool.apply_async(_slow_square, (n,)) for n in range(4))
        _settle(pending)
        assert all(result.ready() for result in pending)
        assert [result.get() for result in pending] == [0, 1, 4, 9]
        hung = deque([pool.apply_async(time.sleep, (30,))])
        started = time.monotonic()
        _settle(hung, seconds=0.5)  # bounded: a stuck chunk does not keep the run
        assert time.monotonic() - started < 5
        pool.terminate()


def test_scores_match_in_process_and_pooled(tmp_path: Path, always_pool: None) -> None:
    """The pool changes where rows are scored, never what they score or their order."""
    src = tmp_path / "in.csv"
    data = [[str(i), t] for i, t in enumerate(
        ["@acmeair my flight was cancelled", "lovely sunny day :)", "환불 해주세요",
         "@jo my order never arrived", "the match was AMAZING!!!", ""] * 9)]
    write_csv(src, data, ["id", "text"])
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    score_csv(src, one, workers=1, progress=False)
    score_csv(src, two, workers=2, chunk_size=5, progress=False)
    assert one.read_bytes() == two.read_bytes()


def test_pooled_run_leaves_the_parents_collector_as_it_was(tmp_path: Path,
                                                           always_pool: None) -> None:
    """The objects frozen out of the cyclic GC for the fork are unfrozen in the parent at
    once, after a run and after a failed one: a long-lived caller keeps collecting them."""
    import gc

    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(src, [[f"row {i} is fine"] for i in range(40)], ["text"])
    assert gc.get_freeze_count() == 0
    assert score_csv(src, dst, workers=2, chunk_size=10, progress=False) == 40
    assert gc.get_freeze_count() == 0
    src.write_text("text\n" + "ok\n" * 30 + "a,b\n", encoding="utf-8")
    with pytest.raises(ScoringInputError):
        score_csv(src, dst, workers=2, chunk_size=10, progress=False)
    assert gc.get_freeze_count() == 0


def _collector_enabled(rows: list[list[str]], col: int) -> tuple[int, str]:
    """A pool task that reports, as its one output line, whether its worker collects."""
    import gc

    return 1, f"{gc.isenabled()}\n"


@pytest.mark.parametrize("enabled", [True, False])
def test_collector_paused_while_scoring_and_restored(tmp_path: Path, always_pool: None,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      enabled: bool) -> None:
    """Rows are scored with the cyclic GC paused, in the parent and in the workers it forks;
    the caller's collector is left as it was, after a run and after a failed one."""
    import gc

    from listener.scoring import batch

    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(src, [[f"row {i} is fine"] for i in range(40)], ["text"])
    seen: list[bool] = []
    real = batch._score_rows

    def in_process(rows: list[list[str]], col: int, *args: object) -> tuple[int, str]:
        seen.append(gc.isenabled())
        return real(rows, col, *args)  # type: ignore[arg-type]

    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        monkeypatch.setattr(batch, "_score_rows", in_process)
        assert score_csv(src, dst, workers=1, progress=False) == 40
        assert seen
        assert not any(seen)
        assert gc.isenabled() is enabled
        monkeypatch.setattr(batch, "_score_rows", _collector_enabled)
        assert score_csv(src, dst, workers=2, chunk_size=10, progress=False) == 4
        assert dst.read_text().splitlines()[1:] == ["False"] * 4
        assert gc.isenabled() is enabled
        src.write_text("text\n" + "ok\n" * 30 + "a,b\n", encoding="utf-8")
        with pytest.raises(ScoringInputError):
            score_csv(src, dst, workers=2, chunk_size=10, progress=False)
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


_CELL_ALPHABET = ["a", "Z", " ", ",", '"', "\n", "\r", "\r\n", ";", "é", "😡", "\t", "=", "\\",
                  "'", "\x00", "\u2028", "\x85", "#"]


def _writer_line(cells: list[str]) -> str:
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def test_csv_cell_writes_what_the_csv_writer_writes() -> None:
    """`_csv_cell` stands in for `csv.writer` in the workers: on any cell (quotes, commas,
    newlines, carriage returns, NUL, non-ASCII, empty) the line it joins is the writer's."""
    import random

    from listener.scoring.batch import _csv_cell

    rng = random.Random(12)
    cells = ["", '""', "\r", "a\rb,c", 'a"\rb', *(
        "".join(rng.choice(_CELL_ALPHABET) for _ in range(rng.randint(0, 12)))
        for _ in range(3000))]
    for i in range(0, len(cells) - 3, 3):
        row = [*cells[i:i + 3], "0.1000"]
        assert ",".join(map(_csv_cell, row)) + "\n" == _writer_line(row), row


def test_output_lines_as_the_csv_writer_formats_them(tmp_path: Path, always_pool: None) -> None:
    """The workers' output lines, byte for byte, as `csv.writer` formats the same cells:
    every input cell (hostile, multi-line) and the score columns. (No bare "\r" here: the
    3.11 writer leaves it unquoted, so the output would not read back row for row; the test
    above holds `_csv_cell` to the writer on it. No NUL: an input holding one is refused.)"""
    import random

    rng = random.Random(3)
    alphabet = [c for c in _CELL_ALPHABET if "\r" not in c and c != "\x00"]
    rows = [[str(i), "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9))),
             text] for i, (_, _, text) in enumerate(HOSTILE * 30)]
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(src, rows, ["id", "note", "text"])
    assert score_csv(src, dst, workers=2, chunk_size=7, progress=False) == len(rows)
    got = dst.read_bytes().decode("utf-8")
    with dst.open(encoding="utf-8", newline="") as fh:
        parsed = list(csv.reader(fh))
    assert [r[:3] for r in parsed[1:]] == rows
    assert got == "".join(_writer_line(r) for r in parsed)


def test_last_chunk_is_cut_for_the_tail() -> None:
    """The rows come through in order, whole chunks as they were, the last cut into pieces
    (so both workers end within a piece of each other)."""
    from listener.scoring.batch import _last_cut

    chunks = [[[str(i)] for i in range(k, k + 10)] for k in range(0, 30, 10)] + [[["30"]] * 3]
    got = list(_last_cut(iter(chunks), 4))
    assert got[:3] == chunks[:3]
    assert [len(c) for c in got[3:]] == [1, 1, 1]
    assert [r for c in got for r in c] == [r for c in chunks for r in c]
    last = list(_last_cut(iter([[["a"]] * 10]), 4))
    assert [len(c) for c in last] == [3, 3, 3, 1]
    assert list(_last_cut(iter([]), 4)) == []
