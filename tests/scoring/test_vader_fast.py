"""FastVader must return exactly VADER's dictionaries: same keys, same floats, bit for bit."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    NEGATE,
    SPECIAL_CASES,
    SentimentIntensityAnalyzer,
)

from listener.scoring.vader_fast import FastVader

AIRLINE = Path(__file__).parents[2].parent / "shared" / "data" / "airline_dev.csv"


def fuzz(n: int, seed: int = 1) -> list[str]:
    """Rule-heavy sentences: lexicon words, boosters, negations, idioms, "but", "kind of",
    "least", ALL CAPS, punctuation, emoticons and emoji."""
    rng = random.Random(seed)
    lexicon = sorted(SentimentIntensityAnalyzer().lexicon)
    vocab = (lexicon[::7] + sorted(BOOSTER_DICT) + NEGATE
             + [w for k in SPECIAL_CASES for w in k.split()]
             + ["but", "BUT", "kind", "of", "least", "at", "very", "no", "nor", "or", "never",
                "so", "this", "without", "doubt", "the", "flight", "GREAT", ":)", ":D", "😡",
                "💘", "❤️"])
    out = []
    for _ in range(n):
        words = [rng.choice(vocab) for _ in range(rng.randint(0, 14))]
        words = [w.upper() if rng.random() < 0.15 else w for w in words]
        words = [w + rng.choice(["", ",", "!", "?", "...", "'"]) for w in words]
        out.append(" ".join(words) + rng.choice(["", "!", "!!", "??", "?!?", "!!!!!!", " "]))
    return out


def test_identical_on_fuzz() -> None:
    slow, fast = SentimentIntensityAnalyzer(), FastVader()
    for text in fuzz(5000):
        assert fast.polarity_scores(text) == slow.polarity_scores(text), text


@pytest.mark.skipif(not AIRLINE.exists(), reason=f"shared dev data absent: {AIRLINE}")
def test_identical_on_dev_tweets() -> None:
    slow, fast = SentimentIntensityAnalyzer(), FastVader()
    with AIRLINE.open(encoding="utf-8", newline="") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)]
    assert len(texts) > 11_000
    mismatches = [t for t in texts if fast.polarity_scores(t) != slow.polarity_scores(t)]
    assert not mismatches, mismatches[:3]


def test_identical_when_the_token_memo_is_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-token memo is bounded: texts scored while it is cleared again and again
    (in the middle of a text too) get the same dictionaries."""
    import listener.scoring.vader_fast as vader_fast

    monkeypatch.setattr(vader_fast, "_WORDS_MAX", 5)
    monkeypatch.setattr(vader_fast, "_WORDS", {})
    monkeypatch.setattr(vader_fast, "_LOWER", {})
    slow, fast = SentimentIntensityAnalyzer(), FastVader()
    for text in fuzz(2000, seed=3):
        assert fast.polarity_scores(text) == slow.polarity_scores(text), text


def test_identical_on_rule_words_in_plain_text() -> None:
    """Texts whose words take the shortcut (no booster, negation, "no", "least" or idiom
    word anywhere) and texts that differ from them by one such word score as VADER does."""
    slow, fast = SentimentIntensityAnalyzer(), FastVader()
    base = ["the flight was GREAT and the crew friendly", "I LOVE this airline, thanks",
            "worst delay ever, lost bag", "Good luck with that :)", "HAPPY happy joy"]
    extra = ["very", "not", "no", "never", "least", "at least", "without doubt", "kind of",
             "don't", "DON'T", "so", "this", "the shit", "but", "nor", "yeah right"]
    for text in base:
        words = text.split()
        variants = [text] + [" ".join([*words[:k], e, *words[k:]])
                             for e in extra for k in range(len(words) + 1)]
        for variant in variants:
            assert fast.polarity_scores(variant) == slow.polarity_scores(variant), variant
