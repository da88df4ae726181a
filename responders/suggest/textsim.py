"""Text similarity that needs no model: TF-IDF cosine over a handful to a few thousand texts.

Why TF-IDF and not embeddings: suggestions run on every opened item, in-process, on a shared
machine; an index over the recent past replies builds in milliseconds and explains itself
(the shared words become the `why`). Tokens are lower-cased words with a light suffix strip
(bags → bag, delayed → delay), minus English stop words and the item's @handles.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

_WORD = re.compile(r"[^\W\d_](?:[\w']*\w)?", re.UNICODE)
_HANDLE = re.compile(r"[@#]\w+|https?://\S+")
STOP_WORDS = frozenset("""
a about after again all am an and any are as at be been being but by can could did do does
doing don for from get got had has have having he her here hers him his how i i'm if in into
is it it's its just me more my no not now of off on once only or our out over own please so
some still than that the their them then there these they this those to too up us very was
we were what when where which who why will with would you your yours yet been also im dont
thanks thank hi hello hey
""".split())


@lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    """A light English suffix strip, enough to meet `bags`/`bag` and `delayed`/`delay`."""
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + keep
    return word


def _words(text: str) -> list[tuple[str, str]]:
    """(stem, word as written, lower-cased) for each word of `text` that carries meaning."""
    words = _WORD.findall(_HANDLE.sub(" ", text.lower()))
    return [(_stem(w), w) for w in (w.replace("'", "") for w in words)
            if w not in STOP_WORDS and len(w) > 1]


def tokens(text: str) -> list[str]:
    """The words of `text` that carry meaning, stemmed (handles and links dropped)."""
    return [stem for stem, _ in _words(text)]


@dataclass(frozen=True, slots=True)
class Match:
    """A document's cosine similarity to the query, and the shared words that weigh most
    (as the query wrote them)."""

    index: int
    score: float
    terms: tuple[str, ...]


class TextIndex:
    """TF-IDF (sublinear tf, smoothed idf) vectors of `documents`, queried by cosine."""

    def __init__(self, documents: Sequence[str]) -> None:
        counted = [Counter(tokens(doc)) for doc in documents]
        df: Counter[str] = Counter()
        for bag in counted:
            df.update(bag.keys())
        n = len(counted)
        self._idf = {t: math.log((1 + n) / (1 + f)) + 1.0 for t, f in df.items()}
        self._default_idf = math.log(1 + n) + 1.0
        self._vectors = [self._weigh(bag) for bag in counted]

    def _weigh(self, bag: Counter[str]) -> dict[str, float]:
        vector = {t: (1.0 + math.log(c)) * self._idf.get(t, self._default_idf)
                  for t, c in bag.items()}
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        return {t: v / norm for t, v in vector.items()}

    def __len__(self) -> int:
        return len(self._vectors)

    def query(self, text: str, *, top_terms: int = 3) -> list[Match]:
        """Every document with a similarity above zero, best first."""
        words = _words(text)
        written = {stem: word for stem, word in reversed(words)}  # first spelling wins
        query = self._weigh(Counter(stem for stem, _ in words))
        matches: list[Match] = []
        for index, vector in enumerate(self._vectors):
            shared = {t: w * vector[t] for t, w in query.items() if t in vector}
            if not shared:
                continue
            terms = tuple(written[t] for t, _ in sorted(shared.items(), key=lambda kv: -kv[1]))
            matches.append(Match(index, min(1.0, sum(shared.values())), terms[:top_terms]))
        matches.sort(key=lambda m: (-m.score, m.index))
        return matches

    def similarities(self, text: str) -> list[float]:
        """The similarity of `text` to each document, in document order."""
        scores = [0.0] * len(self._vectors)
        for match in self.query(text):
            scores[match.index] = match.score
        return scores
