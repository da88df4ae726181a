"""The ASCII fast paths of the scorer's regexes find exactly what the general patterns find.

Why: `features._brand_handle` and `language.detect` use case-sensitive ASCII patterns on
lower-cased ASCII text instead of IGNORECASE / Unicode classes because they are faster;
they are only worth having if no text can tell them apart. A seeded fuzz of handle-heavy
ASCII text (mixed case, digits, underscores, punctuation glued on) and the dev tweets when
present compare each fast path with the pattern it stands in for.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from listener.scoring import features as F
from listener.scoring import language as L

DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "airline_dev.csv"
PIECES = ["@", "@", "ask", "Ask", "help", "HELP", "support", "Cares", "care", "united",
          "Delta", "air", "_uk", "hq", "official", "x", "Q", "7", "_", "-", ".", "!", "'",
          " ", " ", "#", "http://t.co/x", "www.a.b", "el", "de", "the", "and"]


def fuzz(n: int = 4000, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 14))) for _ in range(n)]


def dev_texts() -> list[str]:
    if not DEV.exists():
        return []
    with DEV.open(newline="", encoding="utf-8") as fh:
        return [row["text"] for row in csv.DictReader(fh)]


@pytest.mark.parametrize("source", ["fuzz", "dev"])
def test_brand_handle_fast_path_matches_the_pattern(source: str) -> None:
    texts = fuzz() if source == "fuzz" else dev_texts()
    if not texts:
        pytest.skip("the shared dev data is absent")
    assert sum(F._brand_handle(t) for t in texts) > 10  # the fuzz does exercise matches
    for text in texts:
        assert F._brand_handle(text) == (F.BRAND_HANDLE_RE.search(text) is not None), text


@pytest.mark.parametrize("source", ["fuzz", "dev"])
def test_ascii_words_match_the_unicode_class(source: str) -> None:
    texts = fuzz() if source == "fuzz" else dev_texts()
    if not texts:
        pytest.skip("the shared dev data is absent")
    for text in texts:
        if text.isascii():
            lowered = text.lower()
            assert L._ASCII_WORD_RE.findall(lowered) == L._WORD_RE.findall(lowered), text



MIXED = "HTTPS://X.co/a Www.Site.com @Jo_1 #tag hTtP://a don't WON'T 'quoted' a_b 3'4 x''y"


@pytest.mark.parametrize("source", ["fuzz", "dev"])
@pytest.mark.parametrize("pair", ["keyword words", "language strip"])
def test_ascii_patterns_match_the_general_ones(source: str, pair: str) -> None:
    from listener.scoring import urgency as U

    texts = fuzz() if source == "fuzz" else dev_texts()
    if not texts:
        pytest.skip("the shared dev data is absent")
    texts = [*texts, MIXED]
    if pair == "keyword words":  # on lower-cased text, as `KeywordMatcher.counts` uses it
        texts = [t.lower() for t in texts]

        def fast(t: str) -> object:
            return U._ASCII_WORD_RE.findall(t)

        def general(t: str) -> object:
            return U._WORD_RE.findall(t)
    else:
        def fast(t: str) -> object:
            return L._ASCII_STRIP_RE.sub(" ", t)

        def general(t: str) -> object:
            return L._STRIP_RE.sub(" ", t)
    for text in texts:
        if text.isascii():
            assert fast(text) == general(text), text


# Handles whose end is a question word ("@show", "@Travis"), several handles, whitespace
# runs and separators before the word, words glued to more letters, digits or underscores.
QUESTION_PIECES = ["@", "@show", "@Travis", "@SouthwestAir", "@x_1", "how", "HOW", "Is",
                   "iS", "any", "anyone", "whY", "what's", "who", "doesn't", "did_", "can7",
                   "Should", "x", "_", "'", " ", " ", "\t", "\n", "\x1c", ".", "!", "-"]


@pytest.mark.parametrize("source", ["fuzz", "dev"])
def test_ascii_question_start_matches_the_general_pattern(source: str) -> None:
    from listener.scoring import urgency as U

    if source == "fuzz":
        rng = random.Random(9)
        texts = ["".join(rng.choice(QUESTION_PIECES) for _ in range(rng.randint(1, 8)))
                 for _ in range(6000)]
    else:
        texts = dev_texts()
        if not texts:
            pytest.skip("the shared dev data is absent")
    hits = 0
    for text in [*texts, "@show thanks", "@Travis ok", "@a @b\tWhere", "@a@b how", "Isn't"]:
        general = U._QUESTION_START_RE.match(text) is not None
        hits += general
        if text.isascii():
            assert (U._ASCII_QUESTION_START_RE.match(text) is not None) == general, text
    assert hits > 50  # the texts do exercise matches
