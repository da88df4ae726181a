"""The care model's complaint head and how urgency uses it.

The shipped care model has four outputs (actionable complaint, other negative, neutral,
positive): sentiment adds the first two, urgency reads the first. These tests pin what that
promises: complaints a team can act on rank above venting, re-scoring gives the number
scoring gave, ordinary text never reaches the model, and the artifact holds weights only.
"""

from __future__ import annotations

import base64
import gzip
import json
import struct

import pytest

from listener.scoring import Scorer
from listener.scoring import features as F
from listener.scoring.sentiment import MODEL_PATH, _load, _Model, analyze, english_actionable
from listener.scoring.urgency import ACTIONABLE_FLOOR, COMPLAINT_LEARNED, UrgencyRules, urgency

ACTIONABLE = [
    "@acmeair my flight was cancelled and I've been on hold for 3 hours, please rebook me",
    "@acmeair you lost my luggage and nobody at the desk can tell me where it is",
    "@acmebank I was charged twice for the same payment, need a refund",
]
VENTING = [
    "@acmeair the food on board was bland and the seats felt cramped",
    "@acmeair the flight attendant was a bit grumpy today",
]


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer()


def test_shipped_model_has_the_complaint_head_and_weights_only() -> None:
    with gzip.open(MODEL_PATH, "rb") as fh:
        raw = json.loads(fh.read())
    assert raw["classes"] == ["complaint", "negative", "neutral", "positive"]
    # weights, shapes and cross-validated figures; never the training texts or labels
    assert set(raw) <= {"version", "classes", "buckets", "dense_names", "W", "D", "b",
                        "cv_macro_f1", "cv_complaint_auc", "ko", "ko_holdout_accuracy"}
    assert len(raw["D"][0]) == 4
    assert len(raw["b"]) == 4
    assert _load()[0].actionable


def test_actionable_complaints_rank_above_venting(scorer: Scorer) -> None:
    fixable = [scorer.score(t) for t in ACTIONABLE]
    venting = [scorer.score(t) for t in VENTING]
    assert all(s.sentiment_label.value == "negative" for s in fixable)
    assert all("complaint" in s.urgency_reasons for s in fixable)
    assert min(s.urgency for s in fixable) > max(s.urgency for s in venting)
    for text in ACTIONABLE:
        assert english_actionable(text) > 0.5, text
    for text in VENTING:
        assert english_actionable(text) < 0.5, text


@pytest.mark.parametrize("text", [
    *ACTIONABLE, *VENTING, "What a beautiful morning, coffee and sunshine",
    "@acmeair thanks, the crew were lovely", "배송이 너무 늦어요 환불해 주세요",
    "smoke in the cabin on flight 12, nobody is telling us anything",
])
def test_rescore_gives_what_scoring_gave(scorer: Scorer, text: str) -> None:
    scored = scorer.score(text)
    again = scorer.rescore_urgency(scored, text)
    assert again.urgency == scored.urgency
    assert again.urgency_reasons == scored.urgency_reasons


def test_ordinary_text_never_reaches_the_model() -> None:
    assert analyze("What a beautiful morning, coffee and sunshine").actionable is None
    assert english_actionable("@tommy worst day ever lol") is None
    assert analyze("@acmeair my order never arrived").actionable is not None


def test_learned_complaint_strength() -> None:
    rules = UrgencyRules.build()
    text = "@acmeair my flight is late"  # one complaint keyword: rule strength 0.75
    rule_only = urgency(rules, text, -0.5)
    sure = urgency(rules, text, -0.5, actionable=0.95)
    unsure = urgency(rules, text, -0.5, actionable=0.05)
    assert unsure[0] < rule_only[0] < sure[0]
    assert "complaint" in unsure[1]  # keywords still name the reason
    # no keyword, but the model is sure: listed; unsure and no keyword: not listed
    assert "complaint" in urgency(rules, "@acmeair hmm", -0.5, actionable=0.9)[1]
    assert "complaint" not in urgency(rules, "@acmeair hmm", -0.5, actionable=0.2)[1]
    assert 0 < COMPLAINT_LEARNED <= 1


def test_venting_and_curious_questions_count_less_where_the_model_read_them() -> None:
    """Negativity and questions count in full when the model finds the text actionable, a
    quarter when it finds it venting; text the model did not read keeps the plain rule."""
    rules = UrgencyRules.build(weights={"complaint": 0.0})
    text = "@acmeair why was the food so bad?"
    plain = urgency(rules, text, -0.6)[0]
    assert urgency(rules, text, -0.6, actionable=1.0)[0] == pytest.approx(plain)
    venting = urgency(rules, text, -0.6, actionable=0.0)
    assert venting[0] < plain
    assert venting[1] == ["negative", "question"]  # still listed, only weaker
    assert 0 < ACTIONABLE_FLOOR < 1


def test_three_output_model_still_loads() -> None:
    """A model trained before the complaint head (three outputs) reads sentiment only."""
    n = len(F.DENSE_NAMES)
    model = _Model(raw={"dense_names": list(F.DENSE_NAMES), "buckets": 4,
                        "classes": ["negative", "neutral", "positive"],
                        "W": _pack([0.0] * 12), "D": [[0.0, 0.0, 0.0]] * n,
                        "b": [0.0, 1.0, 0.0]})
    (neg, neu, pos), actionable = model.probs([1, 2], [0.0] * n)
    assert actionable is None
    assert neu > neg == pytest.approx(pos)


def _pack(values: list[float]) -> str:
    """Weights as the model file stores them: little-endian float16, base64."""
    return base64.b64encode(struct.pack(f"<{len(values)}e", *values)).decode()
