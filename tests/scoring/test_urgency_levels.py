"""`urgency_levels` (urgency at several repeat-contact counts, the text's reasons computed
once) gives, bit for bit, what `urgency` gives at each count, and `Scorer.score_levels`
the scores that reading. Why it matters: the listener's fetch worker stores the level it
picks from these, so one ulp of difference would make its scores differ from scoring the
mention in-process."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from listener.scoring import Scorer
from listener.scoring.sentiment import analyze
from listener.scoring.urgency import UrgencyRules, risk_hits, urgency, urgency_levels

DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "airline_dev.csv"
COUNTS = (-1, 0, 1, 2, 3, 4, 9)
OWN_TEXTS = ["@acmeair where is my bag?? landed 3 hours ago", "thanks, lovely crew",
             "my lawyer will hear about this data breach", "", "가방이 어디 있나요?",
             "on hold 2 hours, flight cancelled, how do I rebook?"]


def _texts() -> list[str]:
    if not DEV.exists():
        pytest.skip(f"shared dev data absent: {DEV}")
    with DEV.open(newline="", encoding="utf-8") as fh:
        return [row["text"] for row in csv.DictReader(fh)][:1500] + OWN_TEXTS


def _contexts(n: int) -> list[tuple[int | None, int, float | None]]:
    rng = random.Random(3)
    return [(rng.choice([None, 0, 12, 9_999, 10_000, 250_000]), rng.choice([0, 1, 9, 10, 400]),
             rng.choice([None, 0.0, 12.5, 60.0, 61.0, 900.0])) for _ in range(n)]


@pytest.mark.parametrize("rules", [
    UrgencyRules.build(),
    UrgencyRules.build({"repeat_contact": 0.0}),  # weighted 0: never listed
    UrgencyRules.build({"repeat_contact": 1.0, "waiting_sla": 0.9, "negative": 0.0},
                       high_reach_followers=500, first_response_minutes=15),
], ids=["default", "repeat-off", "tuned"])
def test_levels_equal_urgency_at_each_count(rules: UrgencyRules) -> None:
    texts = _texts()
    for text, (followers, engagement, waiting) in zip(texts, _contexts(len(texts)),
                                                      strict=True):
        found = rules.matcher.counts(text)
        r = analyze(text, None, risk_hits(found))
        common = {"supported": r.supported, "followers": followers, "engagement": engagement,
                  "waiting_minutes": waiting, "strong": r.strong, "found": found,
                  "actionable": r.actionable}
        expected = [urgency(rules, text, r.sentiment, repeat_contacts=c, **common)
                    for c in COUNTS]
        got = urgency_levels(rules, text, r.sentiment, repeat_contacts=COUNTS, **common)
        assert got == expected, text  # floats compared exactly: the same bits
        if rules.weights["repeat_contact"] == 0:
            assert all("repeat_contact" not in reasons for _, reasons in got)


def test_scorer_levels_are_the_scores_of_each_count() -> None:
    scorer = Scorer()
    texts = _texts()
    seen_repeat = False
    for text, (followers, engagement, waiting) in zip(texts, _contexts(len(texts)),
                                                      strict=True):
        found = scorer.rules.matcher.counts(text)
        r = analyze(text, None, risk_hits(found))
        scores = scorer.score_levels(text, followers=followers, engagement=engagement,
                                     waiting_minutes=waiting, repeat_contacts=COUNTS)
        for count, s in zip(COUNTS, scores, strict=True):
            value, reasons = urgency(scorer.rules, text, r.sentiment, supported=r.supported,
                                     followers=followers, engagement=engagement,
                                     waiting_minutes=waiting, repeat_contacts=count,
                                     strong=r.strong, found=found, actionable=r.actionable)
            assert (s.sentiment, s.sentiment_label, s.lang) == (r.sentiment, r.label, r.lang)
            assert (s.urgency, s.urgency_reasons) == (value, reasons), (text, count)
            seen_repeat = seen_repeat or "repeat_contact" in reasons
        # each score owns its reasons list (the listener may change one)
        assert len({id(s.urgency_reasons) for s in scores}) == len(scores)
    assert seen_repeat


def test_plain_levels_are_the_scores_values() -> None:
    """`Scorer.levels` (what the fetch worker sends) holds, per count, the very values of
    `score_levels`' scores, echoes included; its levels may share their reasons' lists."""
    scorer = Scorer()
    texts = _texts()
    for text, (followers, engagement, waiting) in zip(texts, _contexts(len(texts)),
                                                      strict=True):
        for echo in (False, True):
            kw = {"followers": followers, "engagement": engagement,
                  "waiting_minutes": waiting, "echo": echo, "repeat_contacts": COUNTS}
            sentiment, label, lang, levels = scorer.levels(text, **kw)
            scores = scorer.score_levels(text, **kw)
            assert [(sentiment, label, value, reasons, lang) for value, reasons in levels] == [
                (s.sentiment, s.sentiment_label, s.urgency, s.urgency_reasons, s.lang)
                for s in scores], (text, echo)
