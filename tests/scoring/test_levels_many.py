"""`Scorer.levels_many` (a page scored at once, the care model in one numpy pass) gives, bit
for bit, what `Scorer.levels` gives text by text, and a text whose scoring raises gets None
alone. Why it matters: the listener's fetch worker stores what `levels_many` sends, so a
mention's score must not depend on the page it came in, nor on its neighbours."""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

import pytest

from listener.fetch_worker import _LEVELS
from listener.scoring import Scorer
from listener.scoring import scorer as scorer_module
from listener.scoring import sentiment as S

DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "airline_dev.csv"
ODD = ["", "   ", "ok", "😡😡😡", "@acmeair 😡", "가방이 어디 있나요? 환불 안 돼요",
       "¿Dónde está mi maleta?", "Где мой багаж? рейс отменён", "我的行李在哪里",
       "RT @acmeair: lost my bag again",
       "bad \udc00 service \ud83d", "smoke in the cabin!!", "my lawyer will hear about this",
       "a" * 300 + " lost luggage " * 40, "@acmeair where is my bag?? landed 3 hours ago",
       "thanks, lovely crew \U0001f44f", "flight 1234 cancelled, on hold 2 hours #5"]
HINTS = [None, "en", "es", "und", "ko", "in"]


def _texts() -> list[str]:
    out = list(ODD) * 3
    if DEV.exists():
        with DEV.open(newline="", encoding="utf-8") as fh:
            out += [row["text"] for row in csv.DictReader(fh)][:2000]
    random.Random(5).shuffle(out)
    return out


def _columns(texts: list[str]) -> dict[str, list[Any]]:
    rng = random.Random(7)
    n = len(texts)
    return {"followers": [rng.choice([None, 0, 12, 10_000, 250_000]) for _ in range(n)],
            "engagement": [rng.choice([0, 1, 10, 400]) for _ in range(n)],
            "waiting_minutes": [rng.choice([None, 0.0, 12.5, 61.0, 900.0]) for _ in range(n)],
            "langs": [rng.choice(HINTS) for _ in range(n)],
            "echoes": [rng.random() < 0.15 for _ in range(n)]}


def _one_by_one(scorer: Scorer, texts: list[str], cols: dict[str, list[Any]]) -> list[Any]:
    return [scorer.levels(t, followers=f, engagement=e, waiting_minutes=w, lang=lang, echo=echo,
                          repeat_contacts=_LEVELS)
            for t, f, e, w, lang, echo in zip(texts, *cols.values(), strict=True)]


@pytest.fixture(scope="module")
def batch_on() -> None:
    S.enable_batch()


@pytest.mark.parametrize("size", [1, 20, S.BATCH_MIN, 100, 1000])
def test_levels_many_is_levels_text_by_text(batch_on: None, size: int) -> None:
    scorer = Scorer()
    texts = _texts()
    cols = _columns(texts)
    expected = _one_by_one(scorer, texts, cols)
    got: list[Any] = []
    for start in range(0, len(texts), size):
        got += scorer.levels_many(texts[start:start + size],
                                  *(c[start:start + size] for c in cols.values()),
                                  repeat_contacts=_LEVELS)
    assert got == expected  # floats compared exactly: the same bits


def test_a_failing_text_is_none_alone(batch_on: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whichever step raises (keyword counts, reading, the care model's batch, urgency), the
    text that makes it raise gets None, reported once, and the page's others their scores."""
    scorer = Scorer()
    texts = _texts()[:150]
    cols = _columns(texts)
    bad = {3, 40, 41, 149}
    for i in bad:  # an echo's urgency is never computed: it could not fail there
        cols["echoes"][i] = False
    expected = _one_by_one(scorer, texts, cols)
    poison = [f"{t} POISON" if i in bad else t for i, t in enumerate(texts)]

    def failing(fn: Any) -> Any:
        def wrapped(*args: Any, **kw: Any) -> Any:
            if any(isinstance(a, str) and "POISON" in a for a in args):
                raise ValueError("odd text")
            return fn(*args, **kw)
        return wrapped

    matcher = scorer.rules.matcher
    small = S.BATCH_MIN - 1  # read text by text (`analyze`), not in a batch
    for where, name, n in [(S, "detect", 150), (S, "_english_head", 150), (S, "analyze", small),
                           (S, "detect", small), (scorer_module, "urgency_levels", 150),
                           (matcher, "counts", 150)]:
        page, page_cols = poison[:n], {k: v[:n] for k, v in cols.items()}
        failing_here = sorted(i for i in bad if i < n)
        with monkeypatch.context() as m:
            m.setattr(where, name, failing(getattr(where, name)))
            if name == "_english_head":  # the batch model's failure: each text read alone
                m.setattr(S._Model, "probs_flat", _raises)
            told: list[int] = []
            got = scorer.levels_many(page, *page_cols.values(), repeat_contacts=_LEVELS,
                                     failed=lambda i, exc, told=told: told.append(i))
            assert sorted(told) == failing_here, name
            assert [g for i, g in enumerate(got) if i not in bad] == [
                e for i, e in enumerate(expected[:n]) if i not in bad], name
            assert all(got[i] is None for i in failing_here)
        # without `failed`, as `levels`: the error raises
        with monkeypatch.context() as m:
            m.setattr(where, name, failing(getattr(where, name)))
            with pytest.raises(ValueError, match="odd text"):
                scorer.levels_many(page, *page_cols.values(), repeat_contacts=_LEVELS)


def _raises(*args: Any, **kw: Any) -> Any:
    raise RuntimeError("batch broken")
