"""The batch care model gives the very floats of the per-text one, and so the same scores.

Why: `score_csv` runs the care model a chunk at a time with numpy (`_Model.probs_many`) on
large inputs and text by text (`_Model.probs`) on small ones or in the listener; a row's
score must not depend on which path read it, nor on the size of its file. Compared exactly
(`==` on floats), on the dev tweets when present and on generated ordinary and care text.
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

import pytest

from listener.scoring import features as F
from listener.scoring import sentiment as S
from listener.scoring.scorer import Scorer

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT.parent / "shared" / "data" / "airline_dev.csv"
CARE = ["@AmazonHelp my order never arrived", "flight cancelled again, on hold 2 hours",
        "@united thanks for losing my bag", "smoke in the cabin!!", "love the crew",
        "the app keeps crashing, refund please", "@jo my package is still missing",
        "Where is my refund? @AskPayPal", "great job delaying my flight @delta 😡", "",
        "ok", "a" * 300 + " lost luggage " * 40]


def texts() -> list[str]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _general_proxy import generate

    out = [t for _, t in generate(1500)] + CARE
    if DEV.exists():
        with DEV.open(newline="", encoding="utf-8") as fh:
            out += [row["text"] for row in csv.DictReader(fh)][:4000]
    rng = random.Random(3)
    rng.shuffle(out)
    return out


@pytest.fixture(scope="module")
def batch_on() -> None:
    S.enable_batch()


def _inputs(sample: list[str], model: S._Model) -> tuple[list[list[int]], list[list[float]]]:
    _, vader = S._load()
    idx, dense = [], []
    for text in sample:
        scores, cue, _, toks, _ = S._english_head(text, vader, None)
        idx.append(F.hashed(toks, model.buckets))
        dense.append(F.dense(scores, cue))
    return idx, dense


def test_probs_many_is_probs_exactly(batch_on: None) -> None:
    model, _ = S._load()
    idx, dense = _inputs(texts(), model)
    assert model.probs_many(idx, dense) == [model.probs(i, d) for i, d in zip(idx, dense,
                                                                             strict=True)]
    assert model.probs_many([], []) == []


def test_three_output_model_batches_the_same(batch_on: None) -> None:
    rng = random.Random(9)
    n_dense = len(F.DENSE_NAMES)
    raw = {"dense_names": list(F.DENSE_NAMES), "buckets": 64,
           "classes": ["negative", "neutral", "positive"],
           "W": S.base64.b64encode(S.struct.pack("<192e", *[rng.uniform(-2, 2)
                                                            for _ in range(192)])).decode(),
           "D": [[rng.uniform(-1, 1) for _ in range(3)] for _ in range(n_dense)],
           "b": [0.1, -0.2, 0.3]}
    model = S._Model(raw=raw)
    idx = [[rng.randrange(64) for _ in range(rng.randint(1, 30))] for _ in range(200)]
    dense = [[rng.uniform(-1, 1) for _ in range(n_dense)] for _ in range(200)]
    got = model.probs_many(idx, dense)
    assert got == [model.probs(i, d) for i, d in zip(idx, dense, strict=True)]
    assert all(actionable is None for _, actionable in got)


def test_weight_array_read_from_the_packed_model_is_the_lists(batch_on: None) -> None:
    """`_arrays` reads W from the packed half floats: the very doubles of the per-text
    model's lists (bit for bit), plus the padding row of zeros."""
    np = S._np
    model, _ = S._load()
    W, _, _ = model._arrays()
    lists = np.array([model.W0, model.W1, model.W2, model.W3], dtype=np.float64).T
    assert W.shape == (model.buckets + 1, 4)
    assert W[:-1].tobytes() == np.ascontiguousarray(lists).tobytes()
    assert not W[-1].any()


def test_score_many_batched_equals_score(batch_on: None) -> None:
    sample = texts()
    scorer = Scorer()
    one_by_one = [scorer.score(t) for t in sample]
    for size in (S.BATCH_MIN - 1, S.BATCH_MIN, 1000):
        batched = []
        for start in range(0, len(sample), size):
            batched += scorer.score_many(sample[start:start + size])
        assert batched == one_by_one


@pytest.mark.parametrize("size", [1, 7, 1000])
def test_batch_hasher_gives_hashed_indices(size: int) -> None:
    import numpy as np

    sample = [*texts(), "x" * 200 + " lost " + "é" * 70 + " bag", "!!! ???", "a b"]
    tok_lists = [F.normalise(t)[1] for t in sample]
    hasher = F.BatchHasher(np, 1 << 16)
    for start in range(0, len(tok_lists), size):
        chunk = tok_lists[start:start + size]
        flat, lens = hasher.flat(chunk)
        offsets = np.cumsum(lens) - lens
        got = [flat[o:o + n].tolist() for o, n in zip(offsets, lens, strict=True)]
        assert got == [F.hashed(toks, 1 << 16) for toks in chunk]


def test_batch_hasher_resets_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    monkeypatch.setattr(F, "_BUCKET_MAX", 5)
    hasher = F.BatchHasher(np, 1 << 10)
    for words in (["the", "bag", "was", "lost"], ["again", "and", "again"], ["new", "w"]):
        flat, lens = hasher.flat([words, words[:1]])
        assert flat.tolist() == F.hashed(words, 1 << 10) + F.hashed(words[:1], 1 << 10)
        assert lens.tolist() == [2 * len(words) + 1, 3]
