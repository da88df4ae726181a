"""`train`: configured topics plus labelled examples → a TopicModel, deterministically.

A multinomial logistic regression, class-balanced (every topic counts the same, which is
what macro-F1 and a care team want: a rare "Damaged Luggage" matters as much as a common
"Late Flight"), L2-regularised, fitted by full-batch Adam for a fixed number of steps from
zero weights. No randomness anywhere: the same examples give the same model, byte for
byte, so a rebuild is reproducible and testable.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import numpy as np

from carewatch.topics.evidence import topic_evidence
from carewatch.topics.keywords import keyword_examples
from carewatch.topics.matrix import F32, Encoder, Rows, build_vocabulary
from carewatch.topics.model import MIN_CONFIDENCE, TopicModel

STEPS = 120
LEARNING_RATE = 0.2
L2 = 2e-5
MIN_DF = 2
# Examples learned from per label at most: past a few thousand a topic gains little, while
# training time and memory grow with every row (300,000 rows took 9 minutes and 3 GB). The
# ones kept are chosen by a hash of their text, so the input order never matters.
MAX_PER_LABEL = 5000
# Part of every model's fingerprint: raised when training changes meaning, so a model stored
# by an older version is rebuilt (2: a "no topic" class is always learned; 3: topics learned
# from few examples need evidence in the text, `carewatch.topics.evidence`).
TRAINING_VERSION = 3


class TopicLike(Protocol):
    """What train needs of a configured topic (carewatch.settings.TopicConfig fits)."""

    name: str
    keywords: list[str]
    examples: list[str]


def training_set(examples: Iterable[tuple[str, str]], topics: Sequence[TopicLike] = ()
                 ) -> list[tuple[str, str]]:
    """The labelled examples plus each configured topic's examples and keywords, in a
    canonical order (sorted), so the input order never changes the model."""
    rows = [((text or "").strip(), (label or "").strip()) for text, label in examples]
    for topic in topics:
        rows.extend((text.strip(), topic.name) for text in topic.examples)
        rows.extend((text, topic.name) for text in keyword_examples(topic.keywords))
    return sorted((t, lab) for t, lab in rows if t)


def capped_count(rows: Sequence[tuple[str, str]], per_label: int = MAX_PER_LABEL) -> int:
    """How many rows `capped` keeps, without choosing them."""
    return sum(min(n, per_label) for n in Counter(lab for _, lab in rows).values())


def capped(rows: Sequence[tuple[str, str]], per_label: int = MAX_PER_LABEL
           ) -> list[tuple[str, str]]:
    """At most `per_label` rows of each label, the same ones whatever the order (those whose
    text hashes lowest), kept in the order given."""
    counts = Counter(lab for _, lab in rows)
    if all(n <= per_label for n in counts.values()):
        return list(rows)

    def rank(row: tuple[str, str]) -> bytes:
        return hashlib.blake2b(f"{row[1]}\x00{row[0]}".encode(), digest_size=8).digest()

    keep: set[tuple[str, str]] = set()
    for label, n in counts.items():
        group = [r for r in rows if r[1] == label]
        keep.update(group if n <= per_label else sorted(group, key=rank)[:per_label])
    return [r for r in rows if r in keep]


def config_digest(topics: Sequence[TopicLike] = (), mask_words: Sequence[str] = ()) -> str:
    """A fingerprint of the configuration a model was built with (configured topics and
    brand words): when it changes, the stored model is rebuilt."""
    blob = json.dumps([TRAINING_VERSION,
                       [[t.name, t.keywords, t.examples] for t in topics],
                       sorted({w.strip().lower() for w in mask_words if w.strip()})],
                      ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def train(examples: Iterable[tuple[str, str]], topics: Sequence[TopicLike] = (), *,
          mask_words: Sequence[str] = (), steps: int = STEPS,
          min_confidence: float = MIN_CONFIDENCE,
          on_progress: Callable[[int, int], None] | None = None) -> TopicModel:
    """Learn a model from (text, label) examples and configured topics.

    Each distinct non-empty label is a topic; examples with an empty label teach the "no
    topic" class (praise, chit-chat). `mask_words` (the brand's names) are masked like
    handles, so the model learns problems rather than brands. `on_progress(done, total)`
    follows the fit (for a progress bar). ValueError when there is no topic at all.
    """
    rows = capped(training_set(examples, topics), MAX_PER_LABEL)
    masks = tuple(sorted({w.strip().lower() for w in mask_words if w.strip()},
                         key=lambda w: (-len(w), w)))
    labels = tuple(sorted({lab for _, lab in rows if lab} | {t.name for t in topics}))
    if not labels:
        raise ValueError("no topics: give labelled examples or configure [[topics]]")
    keywords = {t.name: tuple(t.keywords) for t in topics if t.keywords}
    if not any(not lab for _, lab in rows):
        # Nothing teaches "no topic" (keywords alone, or every example labelled): without
        # that class every text would get a topic, a lone topic at confidence 1.0. One
        # empty example (the bias feature alone) stands for "nothing a topic is known by",
        # so a text sharing no feature with any topic gets none.
        rows = [("", ""), *rows]
    classes = [*labels, ""]  # the last: "no topic", always learned (above)
    column = {name: i for i, name in enumerate(classes)}

    texts = [t for t, _ in rows]
    vocab, idf = build_vocabulary(texts, masks, MIN_DF if len(rows) >= 50 else 1)
    x = Encoder(vocab, idf, masks).rows(texts)
    y = np.array([column[lab] for _, lab in rows], dtype=np.int64)
    weights = _fit(x, y, len(vocab), len(classes), steps, on_progress)
    return TopicModel(
        labels=labels, vocabulary=tuple(vocab), idf=idf, weights=weights,
        has_none=True, keywords=keywords, mask_words=masks,
        min_confidence=min_confidence, evidence=topic_evidence(rows, masks),
        source=config_digest(topics, masks),
    )


def _fit(x: Rows, y: np.ndarray, n_features: int, n_classes: int, steps: int,
         on_progress: Callable[[int, int], None] | None = None) -> F32:
    """Class-balanced softmax regression by full-batch Adam from zeros."""
    n = x.count
    counts = Counter(y.tolist())
    sample_w = np.array([n / (len(counts) * counts[c]) for c in y.tolist()], dtype=np.float32)
    sample_w /= sample_w.sum()
    onehot = np.zeros((n, n_classes), dtype=np.float32)
    onehot[np.arange(n), y] = 1.0
    w = np.zeros((n_features, n_classes), dtype=np.float32)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for step in range(1, steps + 1):
        logits = x.dot(w)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        grad = x.t_dot((p - onehot) * sample_w[:, None], n_features) + L2 * w
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        v += (1 - b2) * grad * grad
        lr = LEARNING_RATE * np.sqrt(1 - b2 ** step) / (1 - b1 ** step)
        w -= (lr * m / (np.sqrt(v) + eps)).astype(np.float32)
        if on_progress is not None:
            on_progress(step, steps)
    return w
