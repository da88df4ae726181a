"""`score_csv` with a topic model: the pool's workers (forked, inheriting the model) give
the same `topic` and `topic_confidence` cells as scoring in-process; without a model both
columns stay empty."""

from __future__ import annotations

import csv
from pathlib import Path

from carewatch.topics import train
from listener.scoring.batch import OUTPUT_COLUMNS, score_csv
from tests.topics.examples import BAGS, LATE, PRAISE, labelled


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_pool_and_in_process_agree_and_no_model_leaves_columns_empty(tmp_path: Path) -> None:
    assert OUTPUT_COLUMNS[-2:] == ("topic", "topic_confidence")
    src = tmp_path / "in.csv"
    texts = [*BAGS, *LATE, *PRAISE] * 60  # 1,080 rows: past the in-process limit
    with src.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text"])
        writer.writerows([t] for t in texts)
    model = train(labelled())
    one, two, none = tmp_path / "one.csv", tmp_path / "two.csv", tmp_path / "none.csv"
    score_csv(src, one, workers=1, progress=False, topic_model=model, chunk_size=100)
    score_csv(src, two, workers=2, progress=False, topic_model=model, chunk_size=100)
    score_csv(src, none, workers=2, progress=False, chunk_size=100)
    a, b = _read(one), _read(two)
    assert a == b
    assert [r["topic"] for r in a[:len(BAGS)]] == ["Lost Luggage"] * len(BAGS)
    assert {r["topic"] for r in a[len(BAGS) + len(LATE):len(BAGS) + len(LATE) + 6]} == {""}
    assert {(r["topic"], r["topic_confidence"]) for r in _read(none)} == {("", "")}
