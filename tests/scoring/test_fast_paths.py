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


def fuzz_or_dev(source: str, pieces: list[str], *, seed: int, longest: int) -> list[str]:
    """6,000 texts of 1 to `longest` random `pieces` ("fuzz"), or the dev tweets ("dev";
    the test skips without them)."""
    if source == "fuzz":
        rng = random.Random(seed)
        return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, longest)))
                for _ in range(6000)]
    texts = dev_texts()
    if not texts:
        pytest.skip("the shared dev data is absent")
    return texts


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

    texts = fuzz_or_dev(source, QUESTION_PIECES, seed=9, longest=8)
    hits = 0
    for text in [*texts, "@show thanks", "@Travis ok", "@a @b\tWhere", "@a@b how", "Isn't"]:
        general = U._QUESTION_START_RE.match(text) is not None
        hits += general
        if text.isascii():
            assert (U._ASCII_QUESTION_START_RE.match(text) is not None) == general, text
    assert hits > 50  # the texts do exercise matches


def _detect_reference(text: str, hint: str | None) -> str:
    """`language.detect` as it was before the `_letters_all_ascii` fast path, the English
    words counted over the whole text (the reference the fast path must equal)."""
    strip = "@" in text or "http" in text or "www" in text or "#" in text
    if text.isascii():
        body = L._ASCII_STRIP_RE.sub(" ", text) if strip else text
        english = sum(map(L._EN_WORDS.__contains__, L._ASCII_WORD_RE.findall(body.lower())))
        if english >= 2:
            return "en"
    body = (L._ASCII_STRIP_RE if text.isascii() else L._STRIP_RE).sub(" ", text) if strip \
        else text
    if body.isascii():
        return L._latin(body, L._ASCII_WORD_RE.findall(body.lower()), -1, hint)
    letters = sum(1 for c in body if c.isalpha())
    if letters == 0:
        return L.UNKNOWN  # no letter: no language
    hangul = len(L._HANGUL_RE.findall(body))
    if hangul and hangul * 3 >= letters:
        return "ko"
    latin = len(L._LATIN_RE.findall(body))
    if latin * 2 >= letters:
        words = [w.lower() for w in L._WORD_RE.findall(body)]
        return L._latin(body, words, -1 if all(map(str.isascii, words)) else letters, hint)
    lang, _prob = L._langid().classify(body)
    return str(lang)


def test_no_character_outside_the_fast_paths_test_reads_as_an_ascii_letter() -> None:
    """What `_letters_all_ascii` lets through (not alphanumeric, not Hangul) is, over all
    of Unicode, no word character of `_WORD_RE` and never lower-cases to an ASCII letter
    (or to nothing): the ASCII words of the lower-cased body are the body's words."""
    import re
    import sys

    for code in range(0x80, sys.maxunicode + 1):
        c = chr(code)
        if not L._letters_all_ascii(c):
            continue
        assert not c.isalpha(), hex(code)
        assert not L._HANGUL_RE.match(c), hex(code)
        assert not L._WORD_RE.match(c), hex(code)
        lower = c.lower()
        assert lower, hex(code)
        assert not re.search("[a-z]", lower), hex(code)


BEYOND_PIECES = [*PIECES, "\u03a3", "\u2708\ufe0f", "\U0001f44f", "\U0001f621", "\u2026",
                 "\u2019", "\u00d7", "\u00f7", "\u00e9", "caf\u00e9", "\u00bd", "\u00b2", "\u2167",
                 "\uc548\ub155", "\u3131", "\u318f", "\u0130", "\u212a", "\u24b6", "\u0663",
                 "\u00a0", "\u200b", "vuelo", "otra", "vez", "le", "la", "que", "por"]


@pytest.mark.parametrize("source", ["fuzz", "dev"])
def test_detect_beyond_ascii_is_the_general_path(source: str) -> None:
    texts = fuzz_or_dev(source, BEYOND_PIECES, seed=13, longest=16)
    fast = 0
    for text in texts:
        fast += not text.isascii() and L._letters_all_ascii(text)
        for hint in (None, "es"):
            assert L.detect(text, hint) == _detect_reference(text, hint), text
            assert L.detect(text, hint, text.split()) == _detect_reference(text, hint), text
    assert fast > (100 if source == "fuzz" else 0)  # the fast path is exercised
