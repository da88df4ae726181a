"""Risk mentions read as negative, and trailing tags / numbers / ids do not flip labels.

Both came from an acceptance test: "smoke in the cabin ... #3" scored neutral (the trailing
number's "0 </s>" bigram had learned "neutral" from airline questions ending in a flight
number), and "why are you flying unsafe planes?" scored neutral (neither VADER nor the model
know a safety incident as a complaint).
"""

from __future__ import annotations

import pytest

from carewatch.domain import SentimentLabel
from carewatch.settings import UrgencyConfig
from listener.scoring import Scorer
from listener.scoring import features as F
from listener.scoring.sentiment import english

NEG, POS = SentimentLabel.NEGATIVE, SentimentLabel.POSITIVE


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer()


RISK_COMPLAINTS = [
    # the acceptance test's sentences
    "@acmeair there is smoke in the cabin on flight AA412, everyone is terrified #3",
    "@acmeair there is smoke in the cabin on flight AA412, everyone is terrified",
    "@acmeair why are you flying unsafe planes? smoke in the cabin",
    # other industries, with and without a handle
    "my phone charger caught fire",
    "@acmeco my phone charger caught fire",
    "the app leaked my personal data",
    "@acmeapp the app leaked my personal data",
    "I'm calling my lawyer about this charge",
    "@acmebank I'm calling my lawyer about this charge",
    "@acmefoods got food poisoning from your chicken wrap",
    "@acmehotel the manager was racist to my husband",
]


@pytest.mark.parametrize("text", RISK_COMPLAINTS)
def test_risk_mentions_are_negative(scorer: Scorer, text: str) -> None:
    s = scorer.score(text)
    assert s.sentiment_label is NEG, (text, s.sentiment)
    assert "negative" in s.urgency_reasons
    assert {"safety", "legal", "privacy", "discrimination"} & set(s.urgency_reasons)
    # the batch path and the sentiment-only path (built-in lists) agree with `score`
    assert scorer.score_many([text])[0].sentiment == s.sentiment
    assert english(text) == pytest.approx(s.sentiment, abs=1e-4)


@pytest.mark.parametrize("text", [
    "the crew were amazing during the medical emergency, thank you",
    "@acmeair the crew were amazing during the medical emergency, thank you",
    "@acmeco thanks for replacing my charger so fast after it caught fire, great service",
    "@acmebank thank you for protecting my privacy, really appreciate it",
])
def test_risk_praise_stays_positive(scorer: Scorer, text: str) -> None:
    s = scorer.score(text)
    assert s.sentiment_label is POS, (text, s.sentiment)


def test_risk_cue_follows_configured_keywords() -> None:
    """The Scorer uses its resolved keyword lists, not only the built-in ones."""
    text = "@acmegas there is a hissing sound by the meter"
    assert Scorer().score(text).sentiment_label is not NEG  # no built-in keyword here
    custom = Scorer(UrgencyConfig(keywords={"safety": ["hissing sound"]}))
    s = custom.score(text)
    assert s.sentiment_label is NEG
    assert "safety" in s.urgency_reasons
    assert custom.score_many([text])[0].sentiment == s.sentiment


TRAILERS = [" #3", " #12", " 3", " AA412", " #1 #2", " 12345"]


@pytest.mark.parametrize("text", [
    "@acmeair there is smoke in the cabin on flight AA412, everyone is terrified",
    "@acmeair my flight was cancelled and no one can help",
    "@acmeair thank you for the quick help!",
    "@acmeair what time does boarding start?",
    "@ShopCoHelp my order never arrived",
    "@telco_care love the new plan, great value",
    "@AskBank I was charged twice for the same payment",
])
def test_trailing_tags_numbers_ids_do_not_flip_labels(scorer: Scorer, text: str) -> None:
    base = scorer.score(text)
    for tail in TRAILERS:
        s = scorer.score(text + tail)
        assert s.sentiment_label is base.sentiment_label, (text + tail, s.sentiment)


def test_numbers_tags_and_ids_mask_to_one_token() -> None:
    def toks(text: str) -> list[str]:
        return F.normalise(text)[1]

    assert toks("flight AA412 delayed") == toks("flight 412 delayed") == [
        "flight", "0", "delayed"]
    assert toks("smoke in the cabin #3") == toks("smoke in the cabin 12 #4 UA88") == toks(
        "smoke in the cabin")
    # a number inside the text keeps its place: "for 3 hours" is a care phrase
    assert toks("on hold for 3 hours!") == ["on", "hold", "for", "0", "hours", "!"]
    assert toks("flight 1234?") == ["flight", "0", "?"]
