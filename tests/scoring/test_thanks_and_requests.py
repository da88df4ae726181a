"""Sincere thanks is no sarcasm, and a polite request for service is no praise.

"Thanks for the quick refund, great service" read -0.45: "thanks for the ..." was a sarcasm
cue whatever was thanked for, and sarcasm forces a care text negative. Only thanks for a
failure is sarcasm ("thanks for the 3 hour delay"). "Please fix my account" read +0.32:
VADER scores "please" +1.3, and only help requests had their request words muted.
"""

from __future__ import annotations

import pytest

from carewatch.domain import SentimentLabel
from listener.scoring import Scorer
from listener.scoring import features as F
from listener.scoring.sentiment import analyze_many, enable_batch, warm_up

# (sincere, sarcastic): the same opening, told apart by what is thanked for
THANKS = [
    ("Thanks for the quick refund, great service", "@acmeair thanks for the 3 hour delay"),
    ("@acmeair thanks for not losing my bag this time!", "@acmeair thanks for not helping"),
    ("@acmeair thanks for the help!", "@acmeair thanks for nothing"),
    ("@acmeair thanks for the quick refund, great service",
     "@acmeair thanks for losing my bag, great job"),
    ("@acmeair thanks for the help with my delayed flight",
     "@acmeair thank you for the 3 hour delay on my flight"),
    ("@acmeair thanks a lot for the quick refund!",
     "@acmeair thanks for answering and thanks for keeping me on hold for an hour"),
    ("@acmeair thank you for the upgrade, lovely crew",
     "@acmeair thank you for the 3 hour delay on my flight"),
    ("@acmeair thank you for compensating us for our lost bags, we will fly again",
     "@acmeair thank you for the 3 hour delay on my flight"),
]
# (request, praise): the same courtesy word, told apart by what it asks
REQUESTS = [
    ("Please fix my account", "please keep up the great work"),
    ("please call me back", "please, I love you"),
    ("pls send me a dm", "pls keep up the great work"),
    ("kindly check my order", "kindly accept my thanks, great service"),
    ("please look into this", "please keep being awesome"),
    ("can you please respond", "can you please keep up the great work"),
    ("fix my account please", "keep up the great work please"),
]


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    warm_up()
    return Scorer()


@pytest.mark.parametrize(("sincere", "sarcastic"), THANKS)
def test_thanks_reads_what_is_thanked_for(scorer: Scorer, sincere: str, sarcastic: str) -> None:
    for text, label in ((sincere, SentimentLabel.POSITIVE), (sarcastic, SentimentLabel.NEGATIVE)):
        for score in (scorer.score(text), scorer.score_many([text])[0]):
            assert score.sentiment_label is label, text


@pytest.mark.parametrize(("text", "sarcasm"), [
    ("thanks for the quick refund, great service", False),
    ("thanks for the update on my delayed flight", False),  # the update, not the delay
    ("thank you for compensating us for our 4 lost bags", False),
    ("thanks for the reply, but 2 hours on hold", False),  # the clause ends at the comma
    ("thank you for fixing my 5 hour delay", False),  # the remedy comes first
    ("thank you for your help resolving my problem", False),
    ("thanks for the 3 hour delay", True),
    ("thank u for the 1hr delay then a dirty plane", True),
    ("thanks for keeping me on hold", True),
    ("thanks for wasting my time on hold", True),
    ("thanks for being such a terrible airline", True),
    ("thanks for nothing", True),  # no remedy at all
    ("thanks for not helping", True),  # a remedy denied
    ("thank you for never refunding me", True),
    ("thanks for no help whatsoever", True),
    ("thanks for not losing my bag this time", False),  # a failure denied: sincere
])
def test_thanks_for_failure_reads_what_is_thanked_for(text: str, sarcasm: bool) -> None:
    assert F.thanks_for_failure(text) is sarcasm
    masked, toks = F.normalise("@acmeair " + text)
    assert F.cues(masked, "@acmeair " + text, toks).sarcasm is sarcasm


@pytest.mark.parametrize(("ask", "praise"), REQUESTS)
def test_a_polite_request_for_service_reads_neutral(scorer: Scorer, ask: str,
                                                    praise: str) -> None:
    """The courtesy word only asks; with praise it stays praise."""
    for score in (scorer.score(ask), scorer.score_many([ask])[0]):
        assert score.sentiment_label is SentimentLabel.NEUTRAL, ask
    assert scorer.score(praise).sentiment_label is SentimentLabel.POSITIVE, praise


def test_the_batch_path_reads_them_as_one_text_at_a_time(scorer: Scorer) -> None:
    enable_batch()
    pairs = THANKS + REQUESTS
    texts = [text for pair in pairs for text in pair] * 8  # past BATCH_MIN: the numpy path
    for text, result in zip(texts, analyze_many(texts), strict=True):
        assert result.sentiment == scorer.score(text).sentiment, text
    labels = [r.label for r in analyze_many([s for s, _ in THANKS] * 16)]
    assert set(labels) == {SentimentLabel.POSITIVE}
    labels = [r.label for r in analyze_many([r for r, _ in REQUESTS] * 16)]
    assert set(labels) == {SentimentLabel.NEUTRAL}
