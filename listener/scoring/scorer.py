"""`Scorer`: care-tuned sentiment, language and explainable urgency for one mention or many.

It holds only the resolved urgency rules; VADER and the model weights are module-level and
loaded lazily once per process, so a Scorer is cheap to create and to share between threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from carewatch.domain import Score, SentimentLabel
from listener.scoring.language import scored_as_english, supported
from listener.scoring.sentiment import (
    Failed,
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

    def levels_many(self, texts: Sequence[str], followers: Sequence[int | None],
                    engagement: Sequence[int], waiting_minutes: Sequence[float | None],
                    langs: Sequence[str | None], echoes: Sequence[bool], *,
                    repeat_contacts: Sequence[int] = (0,), failed: Failed | None = None
                    ) -> list[Levels | None]:
        """`levels` of many mentions, one per entry of the parallel sequences (`langs`: each
        text's platform hint), with the same results text by text. Why: the fetch worker
        scores a page at a time, and once `enable_batch` has run the care model reads a
        page's care texts in one numpy pass (`analyze_many`) instead of one text at a time.

        `failed` (index, error; called inside the `except`), when given, is told of each
        mention whose scoring raised, which gets None while the others are scored as usual;
        without it the error raises."""
        clean = [t or "" for t in texts]
        rules = self.rules
        counts = rules.matcher.counts
        splits = [t.split() for t in clean]  # one split a text: counts, language, VADER
        live: list[int] = []  # the texts whose keyword counts did not raise
        founds: list[dict[str, int]] = []
        for i, (text, pieces) in enumerate(zip(clean, splits, strict=True)):
            try:  # written out, as below: a helper call a text cost ~1 µs
                founds.append(counts(text, pieces))
            except Exception as exc:
                if failed is None:
                    raise
                failed(i, exc)
            else:
                live.append(i)

        def failed_live(k: int, exc: Exception) -> None:
            failed(live[k], exc)  # type: ignore[misc]  # only passed on when given

        results = analyze_many([clean[i] for i in live], list(map(risk_hits, founds)),
                               [splits[i] for i in live], [langs[i] for i in live],
                               None if failed is None else failed_live)
        out: list[Levels | None] = [None] * len(clean)
        echoed = (0.0, [ECHO])
        for i, found, r in zip(live, founds, results, strict=True):
            if r is None:
                continue
            if echoes[i]:
                out[i] = (r.sentiment, r.label, r.lang, [echoed for _ in repeat_contacts])
                continue
            try:
                out[i] = (r.sentiment, r.label, r.lang, urgency_levels(
                    rules, clean[i], r.sentiment, supported=r.supported,
                    followers=followers[i], engagement=engagement[i],
                    waiting_minutes=waiting_minutes[i], repeat_contacts=repeat_contacts,
                    strong=r.strong, found=found, actionable=r.actionable))
            except Exception as exc:
                if failed is None:
                    raise
                failed(i, exc)
        return out

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
        # the care model's reading, as scoring computed it (English scoring only; else None)
        actionable = (english_actionable(text, risk_hits(found))
                      if scored_as_english(score.lang) else None)
        value, reasons = urgency(
            self.rules, text, score.sentiment, supported=supported(score.lang),
            followers=followers, engagement=engagement, waiting_minutes=waiting_minutes,
            repeat_contacts=repeat_contacts, found=found, actionable=actionable,
        )
        return Score(score.sentiment, score.sentiment_label, value, reasons, score.lang)
