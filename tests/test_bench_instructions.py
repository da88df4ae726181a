"""listen_instructions.py reads callgrind's and cachegrind's output files alike: the event
names of the `events:` line give the columns of the `summary:` line (a wrong pairing would
print I1 misses as instructions)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import listen_instructions as li


def test_callgrind_summary_is_the_instruction_count(tmp_path: Path) -> None:
    out = tmp_path / "carewatch.2000.41"
    out.write_text("# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\n"
                   "events: Ir\nfl=(1) x.c\nfn=(1) main\n0 5\nsummary: 123456\n"
                   "totals: 123456\n")
    assert li.summary_counts(out) == {"Ir": 123456}


def test_cachegrind_summary_pairs_each_event_with_its_column(tmp_path: Path) -> None:
    out = tmp_path / "naive.6000.7"
    events = "Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw Bc Bcm Bi Bim"
    out.write_text(f"desc: I1 cache: 32768 B, 64 B, 8-way associative\ncmd: python\n"
                   f"events: {events}\nfl=x.c\nfn=main\n1 9 9 9 9 9 9 9 9 9 9 9 9 9\n"
                   f"summary: 1000 20 3 400 50 6 300 70 8 200 90 10 110\n")
    counts = li.summary_counts(out)
    assert (counts["Ir"], counts["I1mr"], counts["Bim"]) == (1000, 20, 110)
    assert list(counts) == events.split()


def test_a_file_without_summary_stops_the_run(tmp_path: Path) -> None:
    out = tmp_path / "carewatch.2000.41"
    out.write_text("events: Ir\n")  # valgrind killed before it wrote the totals
    with pytest.raises(SystemExit, match="no summary"):
        li.summary_counts(out)
