"""What a score says must be true of the text: a help request is no praise, praise is no
complaint, and text in no language claims none."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from carewatch.domain import UNDETERMINED_LANG, SentimentLabel
from listener.scoring import Scorer
from listener.scoring.batch import score_csv
from listener.scoring.language import detect
from listener.scoring.sentiment import analyze_many, enable_batch, warm_up

HELP_REQUESTS = [
    "I need help with my booking",
    "Can you help me change my flight?",
    "Please help me",
    "could someone please help, my package is late",
    "Help! my order never arrived",
]
PRAISE = [
    "Thanks so much for the quick help!",
    "Thank you for your help today, you were great",
    "Can you help? Thanks!",  # the thanks still counts
]
NO_LANGUAGE = ["", "   ", "😡", "😍😍", "!!!", "12:30", "https://t.co/abc", "@acmeair", "Hola!"]


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    warm_up()  # the English evidence (VADER's lexicon) is added when VADER loads
    return Scorer()


@pytest.mark.parametrize("text", HELP_REQUESTS)
def test_a_help_request_is_not_positive(scorer: Scorer, text: str) -> None:
    assert scorer.score(text).sentiment_label is not SentimentLabel.POSITIVE
    assert scorer.score_many([text])[0].sentiment_label is not SentimentLabel.POSITIVE


@pytest.mark.parametrize("text", PRAISE)
def test_praise_with_help_stays_positive(scorer: Scorer, text: str) -> None:
    assert scorer.score(text).sentiment_label is SentimentLabel.POSITIVE


def test_a_refused_help_stays_negative(scorer: Scorer) -> None:
    """Only the request words' positive valence is muted: a negated one keeps its sign."""
    assert scorer.score("I can't get any help from anyone").sentiment_label \
        is SentimentLabel.NEGATIVE


def test_the_batch_care_path_mutes_requests_as_one_text_at_a_time(scorer: Scorer) -> None:
    enable_batch()
    texts = (HELP_REQUESTS + PRAISE + NO_LANGUAGE) * 8  # past BATCH_MIN: the numpy path
    batch = analyze_many(texts)
    for text, result in zip(texts, batch, strict=True):
        one = scorer.score(text)
        assert (result.sentiment, result.lang) == (one.sentiment, one.lang), text


@pytest.mark.parametrize("text", ["Thanks so much for the quick help!",
                                  "Got my refund already, thank you so much!",
                                  "Love the new app, booking was so easy",
                                  "@acmeair thank you, the new booking works perfectly"])
def test_praise_carries_no_complaint_reason(scorer: Scorer, text: str) -> None:
    for score in (scorer.score(text), scorer.score_many([text])[0]):
        assert score.sentiment_label is SentimentLabel.POSITIVE
        assert "complaint" not in score.urgency_reasons


def test_a_complaint_keyword_in_praise_still_orders(scorer: Scorer) -> None:
    """The reason is unlisted, not its strength: urgency is what it was (0.1575)."""
    assert scorer.score("Thanks so much for the quick help!").urgency == pytest.approx(0.1575)


def test_a_neutral_or_negative_complaint_keeps_its_reason(scorer: Scorer) -> None:
    assert "complaint" in scorer.score("I need help with my booking").urgency_reasons
    assert "complaint" in scorer.score("my bag is lost and nobody answers").urgency_reasons


@pytest.mark.parametrize("text", NO_LANGUAGE)
def test_text_in_no_language_claims_none(scorer: Scorer, text: str) -> None:
    assert detect(text) == UNDETERMINED_LANG
    for score in (scorer.score(text), scorer.score_many([text])[0],
                  scorer.score(text, lang="es")):
        assert score.lang == UNDETERMINED_LANG
        assert "lang_unsupported" not in score.urgency_reasons
    again = scorer.rescore_urgency(scorer.score(text), text, waiting_minutes=5)
    assert "lang_unsupported" not in again.urgency_reasons


def test_text_in_no_language_is_still_scored(scorer: Scorer) -> None:
    """Emoji are read by VADER's emoji lexicon, as before."""
    assert scorer.score("😍😍").sentiment_label is SentimentLabel.POSITIVE


@pytest.mark.parametrize("text", ["ok", "@acmeair thx!!", "lol", "bad"])
def test_short_english_stays_english(scorer: Scorer, text: str) -> None:
    assert scorer.score(text).lang == "en"


def test_unsupported_language_is_still_named(scorer: Scorer) -> None:
    score = scorer.score("Mein Flug wurde gestrichen und niemand hilft mir, unglaublich")
    assert score.lang == "de"
    assert "lang_unsupported" in score.urgency_reasons


def test_score_csv_writes_und_for_an_empty_text(tmp_path: Path) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("text\n\"\"\n😍\nI need help with my booking\n", encoding="utf-8")
    score_csv(src, out, progress=False)
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["lang"] for r in rows] == [UNDETERMINED_LANG, UNDETERMINED_LANG, "en"]
    assert rows[2]["sentiment_label"] == "neutral"


def test_the_platforms_english_decides_a_text_too_short_to_tell(scorer: Scorer) -> None:
    assert scorer.score("@acmeair exactly").lang == UNDETERMINED_LANG
    assert scorer.score("@acmeair exactly", lang="en").lang == "en"
    assert scorer.score("@acmeair exactly", lang="in").lang == UNDETERMINED_LANG
