"""The topic model: a class-balanced linear model over masked word and character n-grams,
with keyword priors, a "no topic" class and praise gating.

It is plain data (a vocabulary, IDF and a weight matrix) so it can live in the database as
JSON and load in a few milliseconds in any process; the weights travel as base64 float32
(exact, and a fraction of the size of decimal lists).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from carewatch.topics.cues import has_complaint_cue
from carewatch.topics.evidence import has_evidence, text_stems
from carewatch.topics.keywords import KeywordMatcher
from carewatch.topics.matrix import F32, Encoder

FORMAT = 1
# How far a keyword hit lifts its topic's logit: a strong prior, which the text can
# still overrule.
KEYWORD_BOOST = 2.5
# Below this probability the best topic is not trusted and the item gets none.
MIN_CONFIDENCE = 0.35
POSITIVE = "positive"


@dataclass(frozen=True)
class TopicGuess:
    """The best topic of one text, or none when no topic is confident."""

    topic: str | None
    confidence: float
    # Every topic with its probability, best first (the "no topic" share is left out, so
    # the probabilities may sum to less than 1).
    ranked: tuple[tuple[str, float], ...]


def _encode(array: F32) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def _decode(text: str, shape: tuple[int, ...]) -> F32:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float32).reshape(shape)


@dataclass(frozen=True, eq=False)
class TopicModel:
    """Predicts topics. Immutable and thread-safe once built."""

    labels: tuple[str, ...]
    vocabulary: tuple[str, ...]
    idf: F32
    # (features, classes): one column per label, then one for "no topic" when `has_none`.
    weights: F32
    has_none: bool = False
    keywords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    mask_words: tuple[str, ...] = ()
    min_confidence: float = MIN_CONFIDENCE
    # Topics learned from few examples, with the words that tell each apart: such a topic is
    # named only when the text carries that evidence (`carewatch.topics.evidence`).
    evidence: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # What the model was built from (a digest the storage layer compares), opaque here.
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_encoder", Encoder(self.vocabulary, self.idf,
                                                     self.mask_words))
        object.__setattr__(self, "_matcher", KeywordMatcher(self.keywords))

    def predict(self, text: str, sentiment: str | None = None) -> TopicGuess:
        """The best topic of `text`. `sentiment` is the item's sentiment label when known:
        a positive item without a complaint cue gets no topic (praise is not a complaint)."""
        return self.predict_many([text], None if sentiment is None else [sentiment])[0]

    def predict_many(self, texts: Sequence[str],
                     sentiments: Sequence[str | None] | None = None) -> list[TopicGuess]:
        """Topics for a batch (one vectorised pass: the fast path)."""
        texts = [t or "" for t in texts]
        if not texts:
            return []
        if not self.labels:
            return [TopicGuess(None, 0.0, ()) for _ in texts]
        probs = self.probabilities(texts)
        sentiments = sentiments if sentiments is not None else [None] * len(texts)
        n_labels = len(self.labels)
        out = []
        for text, row, sentiment in zip(texts, probs.tolist(), sentiments, strict=True):
            ranked = sorted(zip(self.labels, row[:n_labels], strict=True),
                            key=lambda kv: (-kv[1], kv[0]))
            best, confidence = ranked[0]
            none_share = row[n_labels] if self.has_none else 0.0
            topic: str | None = best
            if confidence < self.min_confidence or confidence <= none_share or (
                    sentiment == POSITIVE and not has_complaint_cue(text)) or (
                    best in self.evidence and not self._evident(best, text)):
                topic = None
            out.append(TopicGuess(topic, round(confidence, 4),
                                  tuple((name, round(p, 4)) for name, p in ranked)))
        return out

    def _evident(self, topic: str, text: str) -> bool:
        """Whether `text` carries evidence for a topic learned from few examples: enough of
        its telling words, or one of its keywords."""
        if has_evidence(text_stems(text, self.mask_words), self.evidence[topic]):
            return True
        matcher: KeywordMatcher = self.__dict__["_matcher"]
        return bool(matcher) and topic in matcher.hits(text)

    def probabilities(self, texts: Sequence[str]) -> F32:
        """(texts, classes) softmax probabilities, keyword priors included."""
        encoder: Encoder = self.__dict__["_encoder"]
        logits = encoder.rows(texts).dot(self.weights)
        matcher: KeywordMatcher = self.__dict__["_matcher"]
        if matcher:
            column = {name: i for i, name in enumerate(self.labels)}
            for row, text in enumerate(texts):
                for name in matcher.hits(text):
                    logits[row, column[name]] += KEYWORD_BOOST
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        return logits

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (never pickle): it is stored in the database."""
        return {
            "format": FORMAT,
            "labels": list(self.labels),
            "has_none": self.has_none,
            "vocabulary": list(self.vocabulary),
            "idf": _encode(self.idf),
            "weights": _encode(self.weights),
            "keywords": {k: list(v) for k, v in self.keywords.items()},
            "mask_words": list(self.mask_words),
            "min_confidence": self.min_confidence,
            "evidence": {k: dict(v) for k, v in self.evidence.items()},
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TopicModel:
        """The model `to_json` wrote; ValueError on anything else."""
        try:
            if data.get("format") != FORMAT:
                raise ValueError(f"unknown topic model format {data.get('format')!r}")
            labels = tuple(str(x) for x in data["labels"])
            vocabulary = tuple(str(x) for x in data["vocabulary"])
            has_none = bool(data["has_none"])
            classes = len(labels) + (1 if has_none else 0)
            return cls(
                labels=labels, vocabulary=vocabulary,
                idf=_decode(data["idf"], (len(vocabulary),)),
                weights=_decode(data["weights"], (len(vocabulary), classes)),
                has_none=has_none,
                keywords={str(k): tuple(v) for k, v in data.get("keywords", {}).items()},
                mask_words=tuple(data.get("mask_words", ())),
                min_confidence=float(data.get("min_confidence", MIN_CONFIDENCE)),
                evidence={str(k): {str(s): int(n) for s, n in v.items()}
                          for k, v in data.get("evidence", {}).items()},
                source=str(data.get("source", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a topic model: {exc}") from None
