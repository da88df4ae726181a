"""`Scorer`: care-tuned sentiment, language and explainable urgency for one mention or many.

It holds only the resolved urgency rules; VADER and the model weights are module-level and
loaded lazily once per process, so a Scorer is cheap to create and to share between threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from carewatch.domain import Score, SentimentLabel
from listener.scoring.language import supported
from listener.scoring.sentiment import (
    analyze,
    analyze_many,
    english_actionable,
)
from listener.scoring.urgency import UrgencyRules, risk_hits, urgency, urgency_levels

if TYPE_CHECKING:  # importing the settings costs ~0.2 s (pydantic): `carewatch score`
    # without a configuration passes None and never loads them
    from carewatch.settings import UrgencyConfig

ECHO = "echo"
#: `Scorer.levels`: (sentiment, label, lang, [(urgency, reasons) at each count]).
Levels = tuple[float, SentimentLabel, str | None, list[tuple[float, list[str]]]]


class Scorer:
    """Scores mentions. Thread-safe: it holds nothing mutable after construction."""

    def __init__(self, urgency: UrgencyConfig | None = None,
                 first_response_minutes: float = 60.0) -> None:
        if urgency is None:  # the built-in rules: what `UrgencyConfig()` resolves to
            self.rules = UrgencyRules.build(first_response_minutes=first_response_minutes)
        else:
            self.rules = UrgencyRules.build(urgency.weights, urgency.keywords,
                                            urgency.high_reach_followers,
                                            first_response_minutes)

    def score(self, text: str, *, followers: int | None = None, engagement: int = 0,
              waiting_minutes: float | None = None, repeat_contacts: int = 0,
              lang: str | None = None, echo: bool = False) -> Score:
        """Score one mention; `lang` is the platform's hint, used only when the text is
        undecided. An `echo` (a retweet) gets its sentiment, for trends, but urgency 0 with
        the reason `echo`: it repeats someone else's words and asks nothing of the team."""
        return self.score_levels(text, followers=followers, engagement=engagement,
                                 waiting_minutes=waiting_minutes, lang=lang, echo=echo,
                                 repeat_contacts=(repeat_contacts,))[0]

    def score_levels(self, text: str, *, followers: int | None = None, engagement: int = 0,
                     waiting_minutes: float | None = None, lang: str | None = None,
                     echo: bool = False, repeat_contacts: Sequence[int] = (0,)) -> list[Score]:
        """`score` at each repeat-contact count of `repeat_contacts`, in order, reading the
        text once (`levels`), each score with its own list of reasons."""
        sentiment, label, lang, levels = self.levels(
            text, followers=followers, engagement=engagement,
            waiting_minutes=waiting_minutes, lang=lang, echo=echo,
            repeat_contacts=repeat_contacts)
        return [Score(sentiment, label, value, list(reasons), lang)
                for value, reasons in levels]

    def levels(self, text: str, *, followers: int | None = None, engagement: int = 0,
               waiting_minutes: float | None = None, lang: str | None = None,
               echo: bool = False, repeat_contacts: Sequence[int] = (0,)) -> Levels:
        """`score_levels` as plain values: (sentiment, label, lang, [(urgency, reasons) at
        each count]), the lists of reasons shared between levels (`urgency_levels`). Why:
        the listener's fetch worker scores a mention before it knows how often its author
        wrote lately, at every level urgency tells apart, and sends these as they are:
        building a `Score` per level and packing it again was ~5% of its scoring (compiled:
        ~61 -> ~58 us a mention, about the cost of one level)."""
        text = text or ""
        found = self.rules.matcher.counts(text)  # once: sentiment's risk cue and urgency
        result = analyze(text, lang, risk_hits(found))
        if echo:
            echoed = (0.0, [ECHO])
            return (result.sentiment, result.label, result.lang,
                    [echoed for _ in repeat_contacts])
        # the text's reasons once, the repeat-contact one per count (`urgency_levels`)
        return (result.sentiment, result.label, result.lang, urgency_levels(
            self.rules, text, result.sentiment, supported=result.supported,
            followers=followers, engagement=engagement, waiting_minutes=waiting_minutes,
            repeat_contacts=repeat_contacts, strong=result.strong, found=found,
            actionable=result.actionable,
        ))

    def score_many(self, texts: list[str]) -> list[Score]:
        """Score a batch without context (no reach, engagement or waiting time): the CSV path.

        The same calls as `score` a text, without its per-text wrappers."""
        clean = [t or "" for t in texts]
        rules = self.rules
        # one whitespace split a text, shared by the keyword counts, language and VADER
        splits = [t.split() for t in clean]
        founds = list(map(rules.matcher.counts, clean, splits))
        results = analyze_many(clean, list(map(risk_hits, founds)), splits)
        out = []
        for r, t, f in zip(results, clean, founds, strict=True):
            value, reasons = urgency(rules, t, r.sentiment, supported=r.supported,
                                     strong=r.strong, found=f, actionable=r.actionable)
            out.append(Score(r.sentiment, r.label, value, reasons, r.lang))
        return out

    def rescore_urgency(self, score: Score, text: str, *, followers: int | None = None,
                        engagement: int = 0, waiting_minutes: float | None = None,
                        repeat_contacts: int = 0) -> Score:
        """Recompute urgency from a stored score (e.g. as waiting time grows) without
        re-running language detection or sentiment."""
        text = text or ""
        found = self.rules.matcher.counts(text)
        # the care model's reading, as scoring computed it (English only; None otherwise)
        actionable = (english_actionable(text, risk_hits(found)) if score.lang == "en"
                      else None)
        value, reasons = urgency(
            self.rules, text, score.sentiment, supported=supported(score.lang),
            followers=followers, engagement=engagement, waiting_minutes=waiting_minutes,
            repeat_contacts=repeat_contacts, found=found, actionable=actionable,
        )
        return Score(score.sentiment, score.sentiment_label, value, reasons, score.lang)
