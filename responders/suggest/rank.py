"""Ranking candidate replies for one item: pure, so the CLI, the dashboard and the benchmark
rank the same way.

Every score is in [0, 1] and comparable across sources:
- a canned reply tagged with topics scores `0.9 p + 0.1 s`, where `p` is the item's
  probability for the best of those topics (the model's ranked probabilities, not only its
  top topic, so the right reply still surfaces when the top topic is wrong) and `s` the text
  similarity of the item to the reply's name and text; an untagged one scores `0.5 s`;
- a knowledge article tagged with topics scores `0.8 p + 0.2 s` (a ready canned reply
  outranks an article on the same topic); an untagged one `0.6 s`;
- a past reply scores `0.7 s + 0.3 p`, `s` the similarity of the item to the item that
  reply answered (at least `PAST_MIN_SIMILARITY`), `p` the item's probability for that
  item's topic.
Only texts within the platform's limit for the reply kind, in the item's language (or any),
are offered; the same text is offered once. A canned or past reply whose tone contradicts the
item's (a thank-you to a complaint, an apology to praise: `tone`) keeps `TONE_PENALTY` of
its score, and its `why` says so.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from responders.suggest.fit import fit_answer, fits
from responders.suggest.knowledge import Article
from responders.suggest.textsim import Match, TextIndex
from responders.suggest.tone import TONE_PENALTY, clash, shape

MIN_SCORE = 0.01
PAST_MIN_SIMILARITY = 0.2


class Origin(enum.StrEnum):
    """Where a suggestion comes from: the `source` of `carewatch suggest --json`."""

    CANNED = "canned"
    KNOWLEDGE = "knowledge"
    PAST_REPLY = "past_reply"


_ORDER = {Origin.CANNED: 0, Origin.KNOWLEDGE: 1, Origin.PAST_REPLY: 2}


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One reply an agent may use as it is: the text (placeholders filled), where it comes
    from, its score in [0, 1] and why it was chosen, in words."""

    text: str
    source: Origin
    score: float
    why: str

    def as_json(self) -> dict[str, object]:
        return {"text": self.text, "source": self.source.value,
                "score": round(self.score, 4), "why": self.why}


@dataclass(frozen=True, slots=True)
class Item:
    """The item to answer, as ranking sees it. `topics`: (topic, probability) best first;
    `sentiment` its label and `complaint` whether urgency lists `complaint`, for the tone
    of the replies (None, False: unknown, no reply's tone is held against it)."""

    text: str
    platform: str
    kind: str
    lang: str | None = None
    topics: tuple[tuple[str, float], ...] = ()
    sentiment: str | None = None
    complaint: bool = False

    def probability(self, topics: Iterable[str]) -> tuple[str | None, float]:
        """The best of `topics` for this item and its probability (None, 0 when none)."""
        wanted = {t.casefold() for t in topics}
        for topic, probability in self.topics:
            if topic.casefold() in wanted:
                return topic, probability
        return None, 0.0

    def speaks(self, lang: str) -> bool:
        """Whether a text in `lang` ("" = any) suits the item (unknown language: any)."""
        if not lang or not self.lang or self.lang in ("und", "unknown"):
            return True
        return self.lang.split("-")[0].casefold() == lang.split("-")[0].casefold()


@dataclass(frozen=True, slots=True)
class Canned:
    """A canned reply: its template (for similarity) and its text filled for the item."""

    name: str
    template: str
    text: str
    topics: tuple[str, ...] = ()
    lang: str = ""


@dataclass(frozen=True, slots=True)
class PastReply:
    """A reply the team sent: the item it answered (ref, text, topic), the text adapted to
    the new item's author, and who wrote it."""

    ref: str
    item_text: str
    text: str
    topic: str | None
    agent: str | None


def _terms(terms: Sequence[str]) -> str:
    return ", ".join(terms)


def _toned(item: Item, reply: str, score: float, why: str) -> tuple[float, str]:
    """`score` and `why` of `reply` for `item`, held back when their tones clash."""
    reason = clash(item.sentiment, item.complaint, shape(reply))
    return (score * TONE_PENALTY, f"{why}; {reason}") if reason else (score, why)


def _matches(item: Item, documents: Sequence[str]) -> dict[int, Match]:
    """The documents that share words with the item, by position."""
    return {m.index: m for m in TextIndex(documents).query(item.text)} if documents else {}


def rank_canned(item: Item, canned: Sequence[Canned]) -> list[Suggestion]:
    usable = [c for c in canned if item.speaks(c.lang) and fits(item.platform, item.kind, c.text)]
    matches = _matches(item, [f"{c.name} {c.template}" for c in usable])
    out: list[Suggestion] = []
    for position, reply in enumerate(usable):
        match = matches.get(position)
        similarity = match.score if match else 0.0
        topic, probability = item.probability(reply.topics)
        if topic is not None:
            score = 0.9 * probability + 0.1 * similarity
            why = f"canned '{reply.name}' for topic {topic} ({probability:.2f})"
        elif reply.topics:
            score = 0.1 * similarity
            why = f"canned '{reply.name}' matches '{_terms(match.terms)}'" if match else ""
        else:
            score = 0.5 * similarity
            why = f"canned '{reply.name}' matches '{_terms(match.terms)}'" if match else ""
        if why:
            score, why = _toned(item, reply.template, score, why)
            out.append(Suggestion(reply.text, Origin.CANNED, score, why))
    return out


def rank_knowledge(item: Item, articles: Sequence[Article]) -> list[Suggestion]:
    usable = [a for a in articles if item.speaks(a.lang)]
    matches = _matches(item, [f"{a.title} {a.title} {a.summary} {a.body}" for a in usable])
    out: list[Suggestion] = []
    for position, article in enumerate(usable):
        match = matches.get(position)
        similarity = match.score if match else 0.0
        topic, probability = item.probability(article.topics)
        if topic is not None:
            score = 0.8 * probability + 0.2 * similarity
            why = f"knowledge article '{article.title}' for topic {topic} ({probability:.2f})"
        elif match:
            score = 0.6 * similarity
            why = f"knowledge article '{article.title}' matches '{_terms(match.terms)}'"
        else:
            continue
        text = fit_answer(item.platform, item.kind, article.summary, article.link)
        if text:
            out.append(Suggestion(text, Origin.KNOWLEDGE, score, why))
    return out


def rank_past(item: Item, past: Sequence[PastReply], *, agent: str | None = None
              ) -> list[Suggestion]:
    usable = [p for p in past if fits(item.platform, item.kind, p.text)]
    if not usable:
        return []
    index = TextIndex([p.item_text for p in usable])
    out: list[Suggestion] = []
    for match in index.query(item.text):
        if match.score < PAST_MIN_SIMILARITY:
            break
        reply = usable[match.index]
        _, probability = item.probability([reply.topic] if reply.topic else [])
        whose = "your" if agent and reply.agent == agent else (
            f"{reply.agent}'s" if reply.agent else "the team's")
        why = (f"{whose} reply to a similar item on {reply.ref} "
               f"(similarity {match.score:.2f}")
        why += f", same topic {reply.topic})" if probability > 0 and reply.topic else ")"
        score, why = _toned(item, reply.text, 0.7 * match.score + 0.3 * probability, why)
        out.append(Suggestion(reply.text, Origin.PAST_REPLY, score, why))
    return out


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def best(suggestions: Iterable[Suggestion], n: int = 3) -> list[Suggestion]:
    """The `n` best, each text once, above `MIN_SCORE`; ties go to canned, then knowledge."""
    ordered = sorted(suggestions, key=lambda s: (-s.score, _ORDER[s.source], s.text))
    chosen: list[Suggestion] = []
    seen: set[str] = set()
    for suggestion in ordered:
        key = _key(suggestion.text)
        if suggestion.score < MIN_SCORE or key in seen:
            continue
        seen.add(key)
        chosen.append(suggestion)
        if len(chosen) == n:
            break
    return chosen

