"""The care layer speaks only in a care context: ordinary text reads exactly as VADER reads it.

The issue behind this: on human-rated general tweets carewatch fell to Pearson r 0.819 where
VADER reaches 0.872, because the care model also re-read ordinary posts that merely said
"waiting", "hours", "update" or tagged a friend.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from carewatch.domain import SentimentLabel
from listener.scoring import Scorer
from listener.scoring import features as F

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from _general_proxy import generate


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer()


@pytest.fixture(scope="module")
def vader() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def context(text: str) -> bool:
    masked, toks = F.normalise(text)
    return F.cues(masked, text, toks).context


ORDINARY = [
    "waited 2 hours to get in, the festival was absolutely impressive?! @lily2000",
    "playing for hours and my headphones is impressive 😍",
    "the movie is not the worst 😬",
    "@mum why is this heatwave so brilliant tbh",
    "ordered takeaway again and the tacos are pretty good 🍕 #tgif",
    "installed the update!! the new phone tonight 🔥🙌",
    "Rain delay again, waiting for kick off 😩",
    "@tommy worst day ever lol",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_exactly_vader(scorer: Scorer, vader: SentimentIntensityAnalyzer,
                                        text: str) -> None:
    assert not context(text)
    assert scorer.score(text).sentiment == round(vader.polarity_scores(text)["compound"], 4)


def test_generated_ordinary_tweets_read_as_vader(scorer: Scorer,
                                                 vader: SentimentIntensityAnalyzer) -> None:
    """On the benchmark's general proxy nearly every post is VADER's exact compound, and
    the few that are not carry a real care cue (a failure phrase next to an @handle)."""
    texts = [t for _, t in generate(1500)]
    english = [(t, s) for t, s in zip(texts, scorer.score_many(texts), strict=True)
               if s.lang == "en"]
    assert len(english) > 1400
    differ = [t for t, s in english
              if s.sentiment != round(vader.polarity_scores(t)["compound"], 4)]
    assert len(differ) / len(english) < 0.03, differ[:5]
    assert all(context(t) for t in differ)


CARE = [
    ("@acmeair on hold for 2 hours again", SentimentLabel.NEGATIVE),
    ("@acmeair still waiting for my refund, 3 weeks now", SentimentLabel.NEGATIVE),
    ("@acmeair great job losing my bag", SentimentLabel.NEGATIVE),
    ("@jo my order never arrived", SentimentLabel.NEGATIVE),
    ("my parcel never arrived, the delivery app says delivered", SentimentLabel.NEGATIVE),
    ("@AppSupport the app keeps crashing", SentimentLabel.NEGATIVE),
]


@pytest.mark.parametrize(("text", "label"), CARE)
def test_care_text_keeps_its_care_reading(scorer: Scorer, vader: SentimentIntensityAnalyzer,
                                          text: str, label: SentimentLabel) -> None:
    assert context(text)
    s = scorer.score(text)
    assert s.sentiment_label is label
    # plain VADER does not read these as negative: the care layer is what makes them so
    assert vader.polarity_scores(text)["compound"] > -0.05


def test_risk_is_read_even_without_a_brand(scorer: Scorer) -> None:
    """Safety, legal, privacy and discrimination words stay a care matter on their own."""
    s = scorer.score("there is smoke in the cabin and nobody is telling us anything")
    assert s.sentiment_label is SentimentLabel.NEGATIVE
    assert "safety" in s.urgency_reasons


# Failures named in the passive voice (an acceptance audit): "My bag is lost!!! help" read
# +0.31 while "lost my bag, help!" read -0.57. The rules knew "lost my" but no passive form
# ("my bag is lost", "luggage was lost", "is still missing", "was stolen"), so the care layer
# stayed out and VADER's "help", amplified by "!!!", won. The same phrases in chatter, with
# no service word or handle, still read exactly as VADER reads them.


@pytest.mark.parametrize("text", [
    "My bag is lost!!! help", "lost my bag, help!", "@acmeair my bag is lost!!! help",
    "my luggage was lost on the way to Denver", "my bag got lost, can someone help",
    "my suitcase has been lost for 3 days", "my package is still missing",
    "my bag went missing at the airport", "my card was stolen and the bank won't answer",
    "still missing my luggage",
])
def test_passive_failures_read_negative(scorer: Scorer, text: str) -> None:
    assert context(text)
    assert scorer.score(text).sentiment <= -0.05


@pytest.mark.parametrize("text", [
    "we got lost in the woods lol, best hike ever", "all hope is lost, what a game!!",
    "my heart was stolen by this song", "my keys went missing again haha",
    "the remote is missing, movie night is ruined", "lost my mind at that concert, amazing",
])
def test_passive_words_in_chatter_read_as_vader(scorer: Scorer,
                                                vader: SentimentIntensityAnalyzer,
                                                text: str) -> None:
    assert not context(text)
    assert scorer.score(text).sentiment == round(vader.polarity_scores(text)["compound"], 4)


@pytest.mark.parametrize(("text", "phrases"), [
    ("my bag is lost", 1), ("my bag has been lost", 1),
    ("my bag is still missing", 1),  # one phrase, not "is still missing" and "still missing"
    ("i am lost", 0), ("lost and found", 0),
])
def test_passive_phrases_on_word_boundaries(text: str, phrases: int) -> None:
    assert len(F.CARE_NEG_PHRASES_RE.findall(text)) == phrases
    assert len(F._PHRASES_SCAN.findall(" " + text)) == phrases
