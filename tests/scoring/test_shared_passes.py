"""The per-piece shortcuts of the scorer's text passes give what the whole-text passes give.

Why: `KeywordMatcher.counts` and `language.detect` read a text one whitespace-separated piece
at a time, with each piece's result memoised, instead of running their word regexes over the
whole text. That is only sound because none of their patterns can match across whitespace;
these tests hold each shortcut against the plain whole-text computation on the dev tweets
(when present) and on a seeded fuzz of the inputs that could tell them apart: mixed case,
unusual whitespace (tabs, no-break and ideographic spaces, separators), apostrophes, digits,
URLs, @handles, hashtags, emoji, Korean and other non-ASCII letters.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from listener.scoring import language as L
from listener.scoring import urgency as U

DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "airline_dev.csv"
PIECES = ["on", "hold", "On", "HOLD", "still", "waiting", "for", "hours", "can't", "cant",
          "get", "through", "never", "again", "switching", "to", "cancel", "cancelled",
          "Refund", "lawyer", "my", "data", "the", "and", "you", "el", "de", "que", "is",
          "there", "any", "updates", "wifi", "wi-fi", "don't", "x'y'z", "'", "''", "3pm", "12:30",
          "@united", "@AskPayPal", "@jo_1", "#fail", "#", "http://t.co/AbC", "HTTPS://X.co/a",
          "www.site.com", "Www.Foo.com", "😡", "👍", "환불", "취소", "해지", "ㅋㅋ", "café",
          "İstanbul", "ß", "٣", "Привет", "!", "?", ".", ",", "-", "_", "…", "’", "great",
          "job", "#not", "thanks", "a lot", "no one", "hung up", "keeps crashing"]
SEPARATORS = [" ", " ", " ", "", "  ", "\n", "\t", "\xa0", "\u3000", "\u2009", "\x1c",
              "\x85", "\u200b", ", ", "'", "-", "@", "#"]


def fuzz(n: int = 3000, seed: int = 3, ascii_only: bool = False) -> list[str]:
    rng = random.Random(seed)
    pieces = [p for p in PIECES if p.isascii() or not ascii_only]
    separators = [s for s in SEPARATORS if s.isascii() or not ascii_only]
    return ["".join(rng.choice(pieces) + rng.choice(separators)
                    for _ in range(rng.randint(1, 14))) for _ in range(n)]


def texts(source: str, ascii_only: bool = False) -> list[str]:
    if source == "fuzz":
        return fuzz(ascii_only=ascii_only)
    if not DEV.exists():
        pytest.skip("the shared dev data is absent")
    with DEV.open(newline="", encoding="utf-8") as fh:
        return [row["text"] for row in csv.DictReader(fh)]


def whole_text_counts(matcher: U.KeywordMatcher, text: str) -> dict[str, int]:
    """`KeywordMatcher.counts` as it read the text before the per-piece memo: one regex
    pass over the whole lower-cased text."""
    lowered = text.lower()
    found: dict[str, int] = {}
    toks = (U._ASCII_WORD_RE if lowered.isascii() else U._WORD_RE).findall(lowered)
    for tok in toks:
        for reason in matcher.words.get(tok, ()):
            found[reason] = found.get(reason, 0) + 1
        for prefix, reason in matcher.prefixes:
            if tok.startswith(prefix):
                found[reason] = found.get(reason, 0) + 1
    spaced = " ".join(lowered.split())
    for tok in matcher.phrases.keys() & toks:
        for reason, literal, pattern in matcher.phrases[tok]:
            if literal in spaced and U._regex(pattern).search(lowered):
                found[reason] = found.get(reason, 0) + 1
    if matcher.korean and not lowered.isascii():
        for probe, reason in matcher.korean:
            if probe in lowered:
                found[reason] = found.get(reason, 0) + 1
    return found


@pytest.mark.parametrize("source", ["fuzz", "dev"])
def test_keyword_counts_read_piece_by_piece_as_on_the_whole_text(source: str) -> None:
    matcher = U.KeywordMatcher(U.DEFAULT_KEYWORDS)
    sample = texts(source)
    hits = 0
    for _ in range(2):  # cold, then with every piece memoised
        for text in sample:
            got = matcher.counts(text)
            assert got == whole_text_counts(matcher, text), text
            hits += bool(got)
    assert hits > len(sample) // 4  # the sample does exercise the keywords


def test_keyword_piece_memo_is_bounded_and_stays_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    matcher = U.KeywordMatcher(U.DEFAULT_KEYWORDS)
    for text in fuzz(200, seed=9):
        matcher.counts(text)
    assert len(matcher._pieces) > 50
    monkeypatch.setattr(U, "_PIECES_MAX", 50)
    for text in fuzz(200, seed=10):
        assert matcher.counts(text) == whole_text_counts(matcher, text)
        assert len(matcher._pieces) <= 50 + len(text.split())


def whole_text_english(text: str) -> int:
    """English words among the words `detect` reads in ASCII `text`, over the whole text."""
    strip = "@" in text or "http" in text or "www" in text or "#" in text
    body = L._ASCII_STRIP_RE.sub(" ", text) if strip else text
    return sum(map(L._EN_WORDS.__contains__, L._ASCII_WORD_RE.findall(body.lower())))


@pytest.mark.parametrize("source", ["fuzz", "dev"])
def test_english_words_counted_piece_by_piece_as_on_the_whole_text(source: str) -> None:
    sample = [t for t in texts(source, ascii_only=True) if t.isascii()]
    assert len(sample) > 500
    decided = 0
    for text in sample:
        strip = "@" in text or "http" in text or "www" in text or "#" in text
        by_piece = sum(L._english_in(p, strip) for p in text.split())
        assert by_piece == whole_text_english(text), text
        decided += by_piece >= 2
        if by_piece >= 2:
            assert L.detect(text) == "en"
    assert decided > len(sample) // 3


@pytest.mark.parametrize(("text", "english"), [
    ("HTTP://x.co/abc then the", 2),  # upper-case URL and no "@"/"#"/"http"/"www": kept
    ("HTTP://the.and.you www", 0),  # the same URL goes because "www" is there
    ("@the_and you", 1),  # handle words are not English evidence
    ("#the and", 2),  # "#" goes, its word stays
    ("the's,and\x1cyou", 3),  # "\x1c" is whitespace to `str.split`
])
def test_english_count_on_tricky_ascii(text: str, english: int) -> None:
    strip = "@" in text or "http" in text or "www" in text or "#" in text
    assert whole_text_english(text) == english
    assert sum(L._english_in(p, strip) for p in text.split()) == english


@pytest.mark.parametrize("piece", ["#299", "12", "12?!", "@", "?", "--", "#1_0"])
def test_ascii_pieces_without_letters_count_no_english_without_the_regexes(
        piece: str, monkeypatch: pytest.MonkeyPatch) -> None:
    class Unused:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"a regex ran on {piece!r}")

    assert whole_text_english(piece) == 0
    monkeypatch.setattr(L, "_ASCII_STRIP_RE", Unused())
    monkeypatch.setattr(L, "_ASCII_WORD_RE", Unused())
    assert L._english_in(piece, True) == 0
    assert L._english_in(piece, False) == 0


def test_a_cased_character_without_lower_case_leaves_the_words_counted() -> None:
    # U+1F130 is upper case and has no lower case: `islower` of such a piece is False
    # although it holds an English word.
    assert L._english_in("\U0001f130the", True) == 1
    assert L._english_in("the\U0001f130my", False) == 2


def masked_texts(source: str) -> list[str]:
    from listener.scoring import features as F

    sample = texts(source)
    return [*map(F.mask, sample), *(t.lower() for t in sample), *sample]


@pytest.mark.parametrize("source", ["fuzz", "dev"])
def test_phrase_and_sarcasm_scans_find_what_the_plain_patterns_find(source: str) -> None:
    from listener.scoring import features as F

    phrases = sarcasm = 0
    for text in masked_texts(source):
        n = len(F.CARE_NEG_PHRASES_RE.findall(text))
        assert len(F._PHRASES_SCAN.findall(" " + text)) == n, text
        found = F.SARCASM_RE.search(text) is not None
        assert (F._SARCASM_SCAN.search(" " + text) is not None) == found, text
        phrases += n
        sarcasm += found
    assert phrases > 20  # the sample does exercise both
    assert sarcasm > 10


@pytest.mark.parametrize(("text", "phrases"), [
    ("on hold on hold", 2),  # back to back
    ("on hold'on hold", 2),  # an apostrophe is a word boundary
    ("x'on hold", 1),
    ("3on hold", 0),  # no boundary after a digit
    ("éon hold", 0),  # nor after a non-ASCII letter
    ("on holdé", 0),
    ("on hold_", 0),
    ("no wi-fi, no signal", 2),
    ("for 12 hours", 1),
    ("we're still waiting for hours", 2),  # "still waiting", then "for hours", not "waiting for"
])
def test_phrase_scan_on_word_boundaries(text: str, phrases: int) -> None:
    from listener.scoring import features as F

    assert len(F.CARE_NEG_PHRASES_RE.findall(text)) == phrases
    assert len(F._PHRASES_SCAN.findall(" " + text)) == phrases


def test_word_scan_refuses_alternatives_it_cannot_group() -> None:
    from listener.scoring import features as F

    for bad in ("(?:a|b)c", "s?x", "'tis"):
        with pytest.raises(ValueError, match="must start with a plain letter"):
            F._word_scan(("ok", bad))


@pytest.mark.parametrize("source", ["fuzz", "dev"])
def test_token_scan_and_brand_gate_match_their_plain_forms(source: str) -> None:
    from listener.scoring import features as F

    for text in masked_texts(source):
        assert F._TOKEN_SCAN.findall(text) == F.TOKEN_RE.findall(text), text
        gate = any(map(text.__contains__, F._BRAND_GATE))
        assert (F._BRAND_GATE_RE.search(text) is not None) == gate, text


def test_score_many_with_the_shared_split_scores_as_score() -> None:
    from listener.scoring.scorer import Scorer

    scorer = Scorer()
    sample = [*fuzz(400, seed=11), *texts("fuzz", ascii_only=True)[:400]]
    assert scorer.score_many(sample) == [scorer.score(t) for t in sample]
