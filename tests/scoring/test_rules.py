"""Rule-level behaviour of sentiment, language and urgency: the cases agents notice."""

from __future__ import annotations

import pytest

from carewatch.domain import SentimentLabel
from carewatch.settings import UrgencyConfig
from listener.scoring import REASONS, Scorer
from listener.scoring.urgency import REPEAT_CONTACT_CAP, repeat_contact_level


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer()


def label(scorer: Scorer, text: str) -> SentimentLabel:
    return scorer.score(text).sentiment_label


def test_care_complaints_are_negative(scorer: Scorer) -> None:
    # plain VADER reads these as neutral or positive
    for text in ["@acmeair my flight was cancelled and no one at the gate can help",
                 "@acmeair still waiting for my refund, 3 weeks now",
                 "@acmeair on hold for 2 hours again", "@acmeair my bag never arrived"]:
        assert label(scorer, text) is SentimentLabel.NEGATIVE, text


def test_sarcasm_is_negative(scorer: Scorer) -> None:
    assert label(scorer, "@acmeair great job losing my bag") is SentimentLabel.NEGATIVE
    assert label(scorer, "@acmeair thanks for nothing, flight delayed again"
                 ) is SentimentLabel.NEGATIVE


def test_thanks_is_positive(scorer: Scorer) -> None:
    assert label(scorer, "@acmeair thank you for the quick help!") is SentimentLabel.POSITIVE


def test_negation_and_contrast(scorer: Scorer) -> None:
    assert label(scorer, "@acmeair the crew was not helpful at all") is SentimentLabel.NEGATIVE
    assert label(scorer, "@acmeair nice crew but my flight was cancelled and I missed my "
                 "connection") is SentimentLabel.NEGATIVE


def test_emoji(scorer: Scorer) -> None:
    assert label(scorer, "@acmeair 😡😡😡") is SentimentLabel.NEGATIVE
    assert label(scorer, "@acmeair ❤️❤️ best crew ever") is SentimentLabel.POSITIVE


def test_question_leans_neutral(scorer: Scorer) -> None:
    s = scorer.score("@acmeair what time does boarding start for flight 123?")
    assert s.sentiment_label is SentimentLabel.NEUTRAL
    assert "question" in s.urgency_reasons


def test_ordinary_text_is_vader(scorer: Scorer) -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    text = "What a beautiful morning, coffee and sunshine"
    vader = SentimentIntensityAnalyzer().polarity_scores(text)["compound"]
    assert scorer.score(text).sentiment == pytest.approx(vader, abs=1e-4)


def test_korean(scorer: Scorer) -> None:
    neg = scorer.score("환불 요청했는데 아직도 연락이 없네요 최악입니다")
    pos = scorer.score("빠르게 해결해 주셔서 정말 감사합니다 최고예요")
    assert neg.lang == pos.lang == "ko"
    assert neg.sentiment_label is SentimentLabel.NEGATIVE
    assert pos.sentiment_label is SentimentLabel.POSITIVE
    assert "complaint" in neg.urgency_reasons


def test_lang_unsupported_is_neutral_with_reason(scorer: Scorer) -> None:
    for text in ["Mein Flug wurde gestrichen und niemand hilft mir, unglaublich schlecht",
                 "Мой рейс отменили, это ужасно"]:
        s = scorer.score(text)
        assert s.lang not in ("en", "ko", None)
        assert s.sentiment == 0.0
        assert s.sentiment_label is SentimentLabel.NEUTRAL
        assert "lang_unsupported" in s.urgency_reasons


def test_reason_codes(scorer: Scorer) -> None:
    cases = {
        "legal": "@acmeair I will sue you, my lawyer is on it",
        "safety": "@acmeair there is smoke in the cabin, this is unsafe",
        "churn": "@acmeair never flying with you again, switching to another airline",
        "privacy": "@acmeair my account was hacked, is this a data breach?",
        "discrimination": "@acmeair your agent was racist to my family",
        "complaint": "@acmeair my luggage is lost",
    }
    for reason, text in cases.items():
        assert reason in scorer.score(text).urgency_reasons, (reason, text)
    s = scorer.score("@acmeair flight cancelled", followers=50_000, engagement=40,
                     repeat_contacts=2)
    assert {"negative", "high_reach", "engagement", "repeat_contact"} <= set(s.urgency_reasons)
    assert set(s.urgency_reasons) <= set(REASONS)
    assert 0.0 <= s.urgency <= 1.0


def test_waiting_sla_grows_and_is_deterministic(scorer: Scorer) -> None:
    text = "@acmeair my bag is missing"
    base = scorer.score(text)
    values = []
    for minutes in (0, 30, 59, 61, 120, 600):
        s = scorer.rescore_urgency(base, text, followers=None, engagement=0,
                                   waiting_minutes=minutes, repeat_contacts=0)
        values.append(s.urgency)
        assert ("waiting_sla" in s.urgency_reasons) == (minutes > 60)
        assert s.sentiment == base.sentiment
    assert values == sorted(values)
    assert values[-1] > values[0]
    again = scorer.rescore_urgency(base, text, followers=None, engagement=0,
                                   waiting_minutes=120, repeat_contacts=0)
    assert again.urgency == values[4]


def test_config_overrides() -> None:
    text = "@acmeair the wifi is glitchy"
    weights = {"complaint": 1.0, "negative": 0.0}
    # the same weights without the keyword: the care model's complaint probability carries
    # most of the complaint strength, so the keyword's own effect is measured against this
    plain = Scorer(UrgencyConfig(weights=weights)).score(text)
    custom = Scorer(UrgencyConfig(keywords={"complaint": ["wifi"]}, weights=weights))
    s = custom.score(text)
    assert "complaint" in s.urgency_reasons
    assert s.urgency > plain.urgency
    assert "negative" not in custom.score("@acmeair worst flight ever").urgency_reasons
    sla = Scorer(first_response_minutes=10).score("@acmeair hi", waiting_minutes=15)
    assert "waiting_sla" in sla.urgency_reasons
    reach = Scorer(UrgencyConfig(high_reach_followers=100)).score("@acmeair hi", followers=150)
    assert "high_reach" in reach.urgency_reasons
    with pytest.raises(ValueError, match="unknown reason"):
        Scorer(UrgencyConfig(weights={"nonsense": 1.0}))


def test_score_many_matches_score(scorer: Scorer) -> None:
    texts = ["@acmeair flight cancelled again", "lovely day", "환불 해주세요",
             "¿Dónde está mi maleta? Nadie me ayuda en el aeropuerto"]
    assert [s.sentiment for s in scorer.score_many(texts)] == [
        scorer.score(t).sentiment for t in texts]


def test_person_handle_keeps_vader(scorer: Scorer) -> None:
    """An @friend on ordinary text is not care context: VADER's compound passes through."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    for text in ["@jess_k such a fun night with the girls!!", "@mike88 worst haircut ever lol",
                 "So proud of you, congrats on the new job! @anna_b"]:
        plain = text.replace("@jess_k ", "").replace("@mike88 ", "").replace(" @anna_b", "")
        expected = vader.polarity_scores(plain)["compound"]
        assert scorer.score(text).sentiment == pytest.approx(expected, abs=0.06), text


def test_generic_care_domains_are_negative(scorer: Scorer) -> None:
    """Care cues beyond airlines: delivery, telecoms, banks, apps, call centres."""
    for text in ["@ShopCoHelp my order never arrived", "@telco_care no signal for 3 days",
                 "@AskBank I was charged twice for the same payment",
                 "@AppSupport the app keeps crashing", "@PowerCo on hold for an hour"]:
        assert label(scorer, text) is SentimentLabel.NEGATIVE, text


def test_care_context_cues() -> None:
    from listener.scoring import features as F

    def ctx(text: str) -> bool:
        masked = F.mask(text)
        return F.cues(masked, text, F.tokens(masked)).care

    assert ctx("@AmazonHelp where is my package")
    assert ctx("@comcastcares internet is down again")
    assert ctx("@jo my order never arrived")
    assert not ctx("@jo what a beautiful morning")
    assert not ctx("@jo worst day ever")


def test_keyword_phrases_span_any_whitespace() -> None:
    """Phrases match across runs of spaces or newlines, and only on word boundaries."""
    from listener.scoring.urgency import UrgencyRules

    matcher = UrgencyRules.build().matcher
    assert matcher.counts("On   hold\nfor ages").get("complaint", 0) >= 2  # "on hold", "hold"
    assert "churn" in matcher.counts("I am switching   to another bank")
    assert "churn" not in matcher.counts("the light switching tone")
    assert matcher.counts("any updates??").get("question") == 1  # "any update*"


def test_repeat_contacts_past_the_cap_score_the_same(scorer: Scorer) -> None:
    """The listener skips rescoring a mention whose author's count changed only above
    `REPEAT_CONTACT_CAP`; that is sound only while such counts give the same score."""
    text = "@acmeair still no answer about my refund"
    by_count = {n: scorer.score(text, repeat_contacts=n).urgency for n in range(8)}
    assert [repeat_contact_level(n) for n in range(6)] == [0, 1, 2, 3, 3, 3]
    assert by_count[0] < by_count[1] < by_count[2] < by_count[REPEAT_CONTACT_CAP]
    assert {by_count[n] for n in range(REPEAT_CONTACT_CAP, 8)} == {by_count[REPEAT_CONTACT_CAP]}


@pytest.mark.parametrize("text", [
    "비행기가 지연되었습니다", "항공편이 취소되었습니다", "짐이 분실되었습니다",
    "택배가 파손되어 왔어요", "세탁기가 고장났어요"])
def test_korean_service_failures_read_negative(scorer: Scorer, text: str) -> None:
    """"비행기가 지연되었습니다" ("the flight has been delayed") read +0.31: the
    movie-review model reads the formal ending "되었습니다" as praise."""
    s = scorer.score(text)
    assert s.lang == "ko"
    assert s.sentiment_label is SentimentLabel.NEGATIVE


@pytest.mark.parametrize("text", [
    "환불 받았어요 감사합니다", "지연 없이 도착했어요 좋아요", "빠르게 해결해 주셔서 최고예요",
    "문메이슨하고장근석오빠넘잘어울려용"])  # thanks or praise; "하고 장근석" is not 고장
def test_korean_failure_floor_leaves_praise_alone(text: str) -> None:
    from listener.scoring.sentiment import korean

    assert korean(text) > 0.05
