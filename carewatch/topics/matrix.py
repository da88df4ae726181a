"""Texts → sparse rows (CSR as three numpy arrays), and the two products the model needs.

numpy only (no scipy at run time): a batch of texts becomes `indptr, indices, data`, scored
with one gather and one `add.reduceat`. Every row holds the bias feature, so no row is empty
(`reduceat` would misread an empty one).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from carewatch.topics.features import BIAS, bigrams, features, normalize, tokens, word_features

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
# Words whose feature ids are remembered; the cache is emptied when it grows past this.
WORD_CACHE_SIZE = 200_000


@dataclass
class Rows:
    """A batch of sparse, L2-normalised TF-IDF rows."""

    indptr: I64
    indices: I64
    data: F32
    _by_feature: tuple[I64, I64, F32, I64] | None = field(default=None, repr=False)

    @property
    def count(self) -> int:
        return len(self.indptr) - 1

    def dot(self, weights: F32) -> F32:
        """rows @ weights → (rows, classes)."""
        gathered = weights[self.indices]
        gathered *= self.data[:, None]
        out: F32 = np.add.reduceat(gathered, self.indptr[:-1], axis=0)
        return out

    def t_dot(self, grad: F32, n_features: int) -> F32:
        """rowsᵀ @ grad → (features, classes); features no row holds stay zero. The
        feature-major order is computed once and reused (training calls this every step)."""
        if self._by_feature is None:
            row_of = np.repeat(np.arange(self.count), np.diff(self.indptr))
            order = np.argsort(self.indices, kind="stable")
            sorted_idx = self.indices[order]
            starts = np.flatnonzero(np.r_[True, sorted_idx[1:] != sorted_idx[:-1]])
            self._by_feature = (row_of[order], sorted_idx[starts], self.data[order], starts)
        rows, features_present, data, starts = self._by_feature
        contrib = grad[rows]
        contrib *= data[:, None]
        out = np.zeros((n_features, grad.shape[1]), dtype=np.float32)
        out[features_present] = np.add.reduceat(contrib, starts, axis=0)
        return out


def build_vocabulary(texts: Sequence[str], mask_words: Sequence[str], min_df: int
                     ) -> tuple[list[str], F32]:
    """Features seen in at least `min_df` texts (sorted: the same examples give the same
    model), and their smoothed IDF."""
    df: Counter[str] = Counter()
    for text in texts:
        df.update(set(features(normalize(text, mask_words))))
    kept = sorted(f for f, c in df.items() if c >= min_df or f == BIAS)
    n = len(texts)
    idf = np.array([math.log((1 + n) / (1 + df[f])) + 1.0 for f in kept], dtype=np.float32)
    return kept, idf


class Encoder:
    """Texts → Rows under one vocabulary. Each word's own feature ids are cached, so a text
    costs a normalisation, a tokenisation and a few dictionary lookups."""

    def __init__(self, vocabulary: Sequence[str], idf: F32, mask_words: Sequence[str]
                 ) -> None:
        self.index: Mapping[str, int] = {f: i for i, f in enumerate(vocabulary)}
        self.idf = idf
        self.mask_words = tuple(mask_words)
        self.bias = self.index[BIAS]
        self._words: dict[str, list[int]] = {}

    def _word_ids(self, word: str) -> list[int]:
        ids = self._words.get(word)
        if ids is None:
            get = self.index.get
            ids = [i for i in map(get, word_features(word)) if i is not None]
            if len(self._words) >= WORD_CACHE_SIZE:
                self._words = {}
            self._words[word] = ids
        return ids

    def ids(self, text: str) -> list[int]:
        words = tokens(normalize(text, self.mask_words))
        get = self.index.get
        out = [self.bias]
        out.extend(i for i in map(get, bigrams(words)) if i is not None)
        cache = self._words
        for w in words:
            ids = cache.get(w)
            out.extend(ids if ids is not None else self._word_ids(w))
        return out

    def rows(self, texts: Sequence[str]) -> Rows:
        """Sublinear TF × IDF, L2-normalised per row; unknown features are dropped."""
        flat: list[int] = []
        lengths: list[int] = []
        for text in texts:
            ids = self.ids(text)
            flat.extend(ids)
            lengths.append(len(ids))
        n, width = len(texts), max(1, len(self.index))
        row_of = np.repeat(np.arange(n, dtype=np.int64), lengths)
        keys = row_of * width + np.asarray(flat, dtype=np.int64)
        uniq, counts = np.unique(keys, return_counts=True)  # sorted: by row, then feature
        rows = uniq // width
        indices = uniq - rows * width
        data = ((1.0 + np.log(counts)) * self.idf[indices]).astype(np.float32)
        norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=n)).astype(np.float32)
        data /= norms[rows]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        return Rows(indptr, indices, data)
