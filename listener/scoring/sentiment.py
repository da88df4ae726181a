"""Care-tuned sentiment: VADER as the base, a customer-care layer on top.

Ordinary text gets VADER's compound unchanged, exactly (its correlation with human ratings of
ordinary tweets is what we must not lose), but for a request for help, whose request words
count as neutral (`REQUEST_WORDS`). Only text in a care context (`Cues.context`:
addressed to a company's care account, or naming a service failure together with a service
word or an addressed @handle) or naming a risk (safety, legal, privacy, discrimination) is
also read by a small logistic
regression over masked, hashed word n-grams plus VADER's scores and the rule cues (trained by
`scripts/train_sentiment.py`). Where VADER and the model agree on the label, VADER's compound
is kept as is; where they disagree, the score is moved just inside the model's label band, so
the fixed label thresholds (negative <= -0.05 < neutral < 0.05 <= positive) give the
model's labels while the size of the score still follows VADER and the model's confidence.

Korean is scored by a character n-gram model fitted on nsmc plus a small care lexicon.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import os
import re
import struct
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from itertools import chain
from operator import mul as _mul
from pathlib import Path
from typing import Any

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from carewatch.domain import SentimentLabel
from listener.scoring import features as F
from listener.scoring.language import UNKNOWN, detect, extend_english, scored_as_english
from listener.scoring.rounding import round4
from listener.scoring.urgency import default_matcher, risk_hits
from listener.scoring.vader_fast import FastVader

# Looked up from the package, not `__file__`: compiled, this module's file is in `.native/`.
MODEL_PATH = Path(str(resources.files("listener.scoring").joinpath("data", "care_model.json.gz")))
NEG, POS = -0.05, 0.05
SENTIMENT_OUTPUTS = ("negative", "neutral", "positive")
_NEUTRAL_EDGE = 0.049

# Korean care lexicon (tuned on kote_dev.tsv complaint/anger/irritation labels and nsmc):
# words that mark a complaint push the score down even when the movie-review model is unsure.
KO_NEG_RE = re.compile(
    r"취소|환불|지연|최악|짜증|화나|화가|실망|불만|불친절|엉망|답답|어이없|황당|"
    r"분실|파손|고장|연락이 ?없|연락 ?안|기다리|아직도|안 ?되|못 ?받|사기|쓰레기|별로"
)
KO_POS_RE = re.compile(r"감사|고맙|좋아요|좋았|최고|친절|만족|추천|빠르게 ?해결|해결해 ?주")
# Service failures ("delayed", "cancelled", "lost", "broken", "refund"...): the movie-review
# model has never seen them and reads the formal ending around them as praise ("비행기가
# 지연되었습니다", "the flight has been delayed", came out +0.31: "되었습니다" is positive in
# nsmc). Unless the text also thanks or praises (`KO_POS_RE`), such a text reads at least
# `KO_FAIL_FLOOR` negative. "고장" only with its verb or particle ("하고 장근석" is a name).
KO_FAIL_RE = re.compile(
    r"지연|취소|결항|연착|분실|파손|고장[나난났내이]|환불|누락|오배송|미배송|먹통|불통"
)
KO_FAIL_FLOOR = -1.0  # logit: tanh(-0.5), a score of -0.46 at most


NEG_EMOJI = frozenset("😡🤬😠😤👎💩🙄😒😞😢😭😩😫🤦😑😣😖💔")
POS_EMOJI = frozenset("😀😃😄😁😊🙂😍🥰😘👍🙏👏🎉💯🙌😎🤩")


def _emoji(text: str, s: float) -> float:
    """VADER reads many emoji as neutral words ("pouting face"): when the text is otherwise
    neutral, let clearly valenced emoji decide."""
    if -0.05 < s < 0.05 and not text.isascii():
        balance = sum(c in POS_EMOJI for c in text) - sum(c in NEG_EMOJI for c in text)
        if balance:
            return max(-0.6, min(0.6, 0.2 * balance))
    return s


def label_of(score: float) -> SentimentLabel:
    """VADER's usual cut-offs: negative at -0.05 or below, positive at 0.05 or above,
    neutral between; the `sentiment_label` every score carries."""
    if score <= NEG:
        return SentimentLabel.NEGATIVE
    if score >= POS:
        return SentimentLabel.POSITIVE
    return SentimentLabel.NEUTRAL


@dataclass(slots=True)
class SentimentResult:
    """Sentiment plus what urgency needs to know without re-reading the text."""

    sentiment: float
    label: SentimentLabel
    lang: str
    supported: bool
    strong: int | None = None  # the care rules' named failures, for urgency (None: not read)
    actionable: float | None = None  # the care model's complaint probability (None: not read)


class _Model:
    """Weights of the care model and the Korean model, decoded once per process.

    Pure Python (no numpy): a tweet touches ~40 weight rows, which plain float additions do
    in a few microseconds, while importing numpy alone costs ~0.15 s of start-up and a
    numpy call per text costs more than the arithmetic it saves.
    """

    def __init__(self, path: Path | None = None, raw: dict[str, Any] | None = None) -> None:
        if raw is None:
            with gzip.open(path or MODEL_PATH, "rb") as fh:
                raw = json.loads(fh.read())
        if list(raw["dense_names"]) != list(F.DENSE_NAMES):
            raise RuntimeError(f"{path}: feature layout differs; rerun scripts/train_sentiment.py")
        self.buckets = int(raw["buckets"])
        n_out = len(raw.get("classes") or SENTIMENT_OUTPUTS)
        if n_out not in (3, 4):
            raise RuntimeError(f"{path}: {n_out} outputs; rerun scripts/train_sentiment.py")
        # Four outputs (complaint, other negative, neutral, positive): sentiment adds the first
        # two; urgency reads the first. A three-output model (no complaint head) still loads.
        self.actionable = n_out == 4
        flat = _unpack(raw["W"])
        self._packed = (raw["W"], n_out)  # for `_arrays`: numpy reads it without the floats
        # One flat list per output: `sum(map(W0.__getitem__, idx))` adds a text's weights in
        # C, in the same order (so to the same float) as a Python loop, ~5x faster.
        W = [list(flat[k::n_out]) for k in range(n_out)]
        D = [[float(x) for x in row] for row in raw["D"]]
        Dk = [[row[k] for row in D] for k in range(n_out)]
        b = [float(x) for x in raw["b"]]
        if not self.actionable:  # a zero-weight complaint output that the softmax never uses
            W, Dk, b = [[0.0] * len(W[0]), *W], [[0.0] * len(D), *Dk], [-math.inf, *b]
        # unrolled attributes: one C-level `sum(map(...))` per output, no Python loop
        self.W0, self.W1, self.W2, self.W3 = W
        self.D0, self.D1, self.D2, self.D3 = Dk
        self.b: list[float] = b
        ko = raw.get("ko")
        self.ko_buckets = int(ko["buckets"]) if ko else 0
        self._ko_packed: str | None = ko["W"] if ko else None
        self._ko_W: tuple[float, ...] | None = None
        self.ko_b = float(ko["b"]) if ko else 0.0
        self._np_arrays: tuple[Any, Any, Any] | None = None

    @property
    def ko_W(self) -> tuple[float, ...] | None:
        """Korean weights, decoded on the first Korean text: most runs see none, and decoding
        them cost ~5 ms of every start-up."""
        if self._ko_W is None and self._ko_packed is not None:
            self._ko_W = _unpack(self._ko_packed)
        return self._ko_W

    def probs(self, idx: list[int], dense: list[float]
              ) -> tuple[tuple[float, float, float], float | None]:
        """Sentiment probabilities (negative, neutral, positive) of one text, and the
        probability that it is an actionable complaint (None for a three-output model)."""
        b0, b1, b2, b3 = self.b
        z1 = sum(map(_mul, dense, self.D1), sum(map(self.W1.__getitem__, idx), b1))
        z2 = sum(map(_mul, dense, self.D2), sum(map(self.W2.__getitem__, idx), b2))
        z3 = sum(map(_mul, dense, self.D3), sum(map(self.W3.__getitem__, idx), b3))
        if not self.actionable:
            return self._softmax(0.0, z1, z2, z3)
        z0 = sum(map(_mul, dense, self.D0), sum(map(self.W0.__getitem__, idx), b0))
        return self._softmax(z0, z1, z2, z3)

    def _softmax(self, z0: float, z1: float, z2: float, z3: float
                 ) -> tuple[tuple[float, float, float], float | None]:
        """Probabilities from the four outputs' logits (z0 unused by a three-output model)."""
        if not self.actionable:
            top = max(z1, z2, z3)
            e1, e2, e3 = math.exp(z1 - top), math.exp(z2 - top), math.exp(z3 - top)
            total = e1 + e2 + e3
            return (e1 / total, e2 / total, e3 / total), None
        top = max(z0, z1, z2, z3)
        e0, e1 = math.exp(z0 - top), math.exp(z1 - top)
        e2, e3 = math.exp(z2 - top), math.exp(z3 - top)
        total = e0 + e1 + e2 + e3
        return ((e0 + e1) / total, e2 / total, e3 / total), e0 / total

    def probs_many(self, idx_lists: list[list[int]], dense_rows: list[list[float]]
                   ) -> list[tuple[tuple[float, float, float], float | None]]:
        """`probs` of many texts at once, with numpy (`enable_batch` must have run): the
        same floats as `probs` (see `probs_flat`)."""
        np = _np
        assert np is not None, "enable_batch() first"
        lens = np.fromiter(map(len, idx_lists), dtype=np.intp, count=len(idx_lists))
        flat = np.fromiter(chain.from_iterable(idx_lists), dtype=np.intp,
                           count=int(lens.sum()))
        return self.probs_flat(flat, lens, dense_rows)

    def probs_flat(self, flat: Any, lens: Any, dense_rows: list[list[float]]
                   ) -> list[tuple[tuple[float, float, float], float | None]]:
        """`probs` of many texts from their n-gram indices concatenated (`flat`, a numpy
        array, each text's `lens[i]` in turn, as `features.BatchHasher.flat` gives them):
        the same floats as `probs`, several times cheaper a text.

        Why it gives the very same floats: `probs` adds, per output, the bias, then each
        n-gram weight in order, then each dense product in order, one double addition at a
        time (`sum` of floats in Python 3.11). Here each text's terms are laid out along a
        row, in that order (the bias, its n-gram weights, zeros up to the longest text's
        count, the dense products), and `np.add.accumulate` along the rows adds them one
        addition at a time, in order: an accumulation is sequential by definition, where
        numpy's `sum`/`reduceat` would add pairwise, in another order, and move the last
        bits. Adding 0.0 leaves a float as it is (but for -0.0, which becomes 0.0: the
        softmax reads both alike, exp(0) either way). Why rows: a chunk costs a dozen numpy
        calls whatever its texts' lengths, where growing all the logits one n-gram position
        at a time cost three calls a position, most of a 100-text page's model time (the
        fetch worker's pages). Texts go `_MODEL_ROWS` at a time, so the padded rows of a
        large chunk stay within the CPU caches. The softmax stays in Python (`math.exp`),
        shared with `probs`."""
        np = _np
        assert np is not None, "enable_batch() first"
        n = len(lens)
        if n <= _MODEL_ROWS:
            return self._probs_rows(np, flat, lens, dense_rows)
        ends = np.cumsum(lens).tolist()
        out: list[tuple[tuple[float, float, float], float | None]] = []
        for i in range(0, n, _MODEL_ROWS):
            j = min(n, i + _MODEL_ROWS)
            start = ends[i - 1] if i else 0
            out += self._probs_rows(np, flat[start:ends[j - 1]], lens[i:j], dense_rows[i:j])
        return out

    def _probs_rows(self, np: Any, flat: Any, lens: Any, dense_rows: list[list[float]]
                    ) -> list[tuple[tuple[float, float, float], float | None]]:
        """`probs_flat` of a few texts, one row of terms each (see `probs_flat`)."""
        n = len(lens)
        if n == 0:
            return []
        W, D, b = self._arrays()
        width = int(lens.max())
        # cols[r, j]: the j-th n-gram index of the r-th text; past its count, W's row of zeros
        cols = np.full((n, width), len(W) - 1, dtype=np.intp)
        cols[np.repeat(np.arange(n), lens),
             np.arange(len(flat)) - np.repeat(np.cumsum(lens) - lens, lens)] = flat
        terms = np.empty((n, 1 + width + len(D), 4))
        terms[:, 0] = b
        # `take`, not `W[cols]`: a tenth of the instructions (numpy's fancy indexing copies
        # row by row through a generic path)
        np.take(W, cols, axis=0, out=terms[:, 1:1 + width])
        dense = np.fromiter(chain.from_iterable(dense_rows), dtype=np.float64,
                            count=n * len(D)).reshape(n, len(D))
        np.multiply(dense[:, :, None], D, out=terms[:, 1 + width:])
        z = np.add.accumulate(terms, axis=1)[:, -1].tolist()
        softmax = self._softmax
        return [softmax(z0, z1, z2, z3) for z0, z1, z2, z3 in z]

    def _arrays(self) -> tuple[Any, Any, Any]:
        """The weights as numpy arrays for `probs_many`: W (buckets + 1, 4: the last row
        zeros, `_probs_rows`'s padding), D (dense, 4) and b (4,), built once (before any
        fork, by `enable_batch`, so workers share them)."""
        if self._np_arrays is None:
            np = _np
            assert np is not None
            # W straight from the packed half floats (row-major: a bucket's outputs in
            # turn, as `flat[k::n_out]` reads them), not from the four lists of Python
            # floats: `carewatch score`'s start-up before the fork 1.367G -> 1.311G
            # instructions (callgrind); half to double is exact either way.
            packed, n_out = self._packed
            W = np.frombuffer(base64.b64decode(packed), dtype="<f2").reshape(-1, n_out)
            if n_out == 3:  # the zero-weight complaint output (see `__init__`)
                W = np.concatenate([np.zeros((len(W), 1), dtype="<f2"), W], axis=1)
            W = np.concatenate([W.astype(np.float64), np.zeros((1, 4))])
            D = np.array([self.D0, self.D1, self.D2, self.D3], dtype=np.float64).T.copy()
            self._np_arrays = (W, D, np.array(self.b, dtype=np.float64))
        return self._np_arrays


def _unpack(text: str) -> tuple[float, ...]:
    data = base64.b64decode(text)
    return struct.unpack(f"<{len(data) // 2}e", data)


_model: _Model | None = None
_vader: SentimentIntensityAnalyzer | None = None
_lock = threading.Lock()
# numpy, once `enable_batch` has imported it: only then do batches use `_Model.probs_many`.
_np: Any = None
# `_Model.probs_flat` reads this many texts at a time (their padded rows of terms, ~230 KB
# for 100 tweets, stay within the CPU caches).
_MODEL_ROWS = 128
# Batches smaller than this score text by text: a few numpy calls per batch cost more than
# the pure-Python model on a handful of texts.
BATCH_MIN = 64


def _load() -> tuple[_Model, SentimentIntensityAnalyzer]:
    """Load VADER and the model lazily, once per process (forked workers inherit them)."""
    global _model, _vader
    if _model is None or _vader is None:
        with _lock:
            if _vader is None:
                vader = FastVader()  # VADER's exact scores, in less than half the time
                extend_english(vader.lexicon)
                extend_english(F.CARE_NEG_WORDS | F.SERVICE_WORDS)
                _vader = vader
            if _model is None:
                _model = _Model(MODEL_PATH)
    return _model, _vader


def warm_up() -> None:
    """Load everything now (e.g. before forking workers, so they share the pages)."""
    _load()


_hashers: dict[int, F.BatchHasher] = {}


def _hasher(model: _Model) -> F.BatchHasher:
    """The batch n-gram hasher for the model's bucket count (one per process)."""
    hasher = _hashers.get(model.buckets)
    if hasher is None:
        hasher = _hashers[model.buckets] = F.BatchHasher(_np, model.buckets)
    return hasher


def enable_batch() -> None:
    """Let `analyze_many` run the care model a batch at a time with numpy (see
    `_Model.probs_many`). Opt-in because importing numpy costs ~0.1 s, more than the model
    costs on a few thousand texts: `score_csv` enables it for large inputs, and the
    listener before it forks its fetch worker, which scores a page at a time.

    The care model makes no BLAS call and the processes are the parallelism: OpenBLAS's own
    threads (started with numpy, again in every forked worker) only spun, ~1% of the CPU
    (perf), so unless numpy is loaded already they are kept to one."""
    global _np
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import numpy

    model, _ = _load()
    _np = numpy
    model._arrays()
    _hasher(model)


def _finish(compound: float, p: tuple[float, float, float], sarcasm: bool) -> float:
    """In a care context: keep VADER's compound when its label agrees with the model's;
    otherwise move the score just inside the model's label band, sized by VADER's strength
    and the model's confidence."""
    k = 0 if p[0] >= p[1] and p[0] >= p[2] else 1 if p[1] >= p[2] else 2
    if sarcasm and k == 2:
        k = 0  # "great job losing my bag": praise words around a care failure
    vk = 0 if compound <= NEG else 2 if compound >= POS else 1
    if vk == k:
        return compound
    if k == 1:
        return _NEUTRAL_EDGE * compound
    confidence = max((p[k] - 1 / 3) * 1.5, 0.0)
    size = min(1.0, 0.05 + 0.5 * abs(compound) + 0.45 * confidence)
    return -size if k == 0 else size


# A risk mention that is not clearly positive reads at least this negative, plus half of
# VADER's strength: "smoke in the cabin" is never a neutral remark to a care team.
RISK_BASE = 0.25


def _risk(text: str, risk: int | None) -> int:
    """Risk keyword hits of `text`: as given by the caller (a Scorer's resolved rules), or
    by the built-in lists."""
    if risk is not None:
        return risk
    return risk_hits(default_matcher().counts(text))


# A request for help is not praise: VADER reads "help" (+1.7) and "please" (+1.3) as positive,
# so "I need help with my booking" and "can you help me change my flight?" scored +0.40, and
# the inbox showed them as happy customers. In a help request (`HELP_REQUEST_RE`) these words
# only ask; their positive valence is muted, so the request reads neutral unless something
# else in it is positive or negative ("thanks so much for the quick help!" is no request and
# stays positive; "can you help? thanks!" keeps its thanks). Only where the care model stays
# out: where it reads the text, it learned from labelled care tweets that requests are no
# praise, from VADER's unmuted scores.
REQUEST_WORDS = frozenset({"help", "please", "pls", "plz", "kindly"})
HELP_REQUEST_RE = re.compile(
    # "need help", "any help", "asking for help", "get some help"
    r"\b(?:need(?:s|ed|ing)?|want(?:s|ed)?|get(?:ting)?|require[sd]?|some|any|urgent|"
    r"asking for|ask for|looking for|seeking)\s+(?:some\s+|urgent\s+|immediate\s+)?help\b"
    # "help me", "help with", "help please", "help!" at the start
    r"|\bhelp\s+(?:me|us|please|pls|plz|with|needed|asap|anyone|someone|somebody)\b"
    r"|^(?:usertoken\s+)*help\b"
    # "can you help", "could someone please help", "please help", "pls help"
    r"|\b(?:can|could|would|will|pls|plz|please|kindly|somebody|someone|anyone)\s+"
    r"(?:(?:you|u|someone|anyone|somebody|please|pls|plz|kindly|guys|all)\s+)*help\b"
)


# An imperative request for service with a courtesy word ("please fix my account", "pls dm
# me", "kindly check my order", "can you please call me back", "refund me please") asks as a
# help request does: VADER's +1.3 for "please" made "Please fix my account" read +0.32.
# Only verbs that ask a service to act: "please keep up the great work" stays praise.
SERVICE_VERBS = (
    "fix", "refund", "send", "check", "change", "cancel", "call", "dm", "reply", "respond",
    "look into", "look at", "get back", "contact", "email", "message", "update", "sort",
    "resolve", "reset", "return", "process", "escalate", "follow up", "confirm", "explain",
    "advise", "assist", "tell", "let me know", "give", "reimburse", "rebook", "unlock",
    "restore", "replace", "remove", "credit", "investigate", "answer", "text", "ring",
)
_COURTESY = r"(?:please|pls|plz|kindly)"
_VERB = r"(?:" + "|".join(SERVICE_VERBS) + r")"
SERVICE_REQUEST_RE = re.compile(
    # "please fix", "pls can you fix", "kindly just check", "please could someone call"
    rf"\b{_COURTESY}\s+(?:(?:can|could|would|will|you|u|someone|somebody|anyone|just|"
    rf"urgently|asap|again)\s+)*{_VERB}\b"
    # "can you please fix", "could u pls send"
    rf"|\b(?:can|could|would|will)\s+(?:you|u|someone|somebody|anyone)\s+{_COURTESY}\s+"
    rf"{_VERB}\b"
    # "fix my account please", "dm me pls": the verb opens the text (or its sentence)
    rf"|(?:^|[.!?]\s*)(?:usertoken\s+)*{_VERB}\b[^.!?]*\b{_COURTESY}\b"
)
# Every `REQUEST_WORDS` mute needs one of these tokens: most texts skip the regexes.
_COURTESY_TOKENS = frozenset({"please", "pls", "plz", "kindly"})


def request_mute(masked: str, toks: list[str]) -> bool:
    """Whether `masked` text (`features.mask`) asks for help (`HELP_REQUEST_RE`) or for a
    service's action with a courtesy word (`SERVICE_REQUEST_RE`), so its `REQUEST_WORDS`
    count as neutral. Texts without "help" or a courtesy word skip the regexes."""
    if "help" in toks and HELP_REQUEST_RE.search(masked) is not None:
        return True
    return (not _COURTESY_TOKENS.isdisjoint(toks)
            and SERVICE_REQUEST_RE.search(masked) is not None)


def _ordinary(text: str, scores: dict[str, float], masked: str, toks: list[str],
              vader: SentimentIntensityAnalyzer, pieces: list[str] | None) -> float:
    """Sentiment of text the care layer stays out of: VADER's compound, but for a positive
    help request, whose request words are muted (see `REQUEST_WORDS`)."""
    compound = scores["compound"]
    if compound >= POS and isinstance(vader, FastVader) and request_mute(masked, toks):
        return vader.polarity_scores(text, pieces, REQUEST_WORDS)["compound"]
    return compound


def english_parts(text: str, vader: SentimentIntensityAnalyzer, model: _Model,
                  risk: int | None = None) -> tuple[float, F.Cues, float | None]:
    """Care-tuned sentiment of English text, its rule cues and the care model's probability
    that it is an actionable complaint (None when the care layer stays out: ordinary text);
    urgency reuses the last two.

    `risk` is how many safety / legal / privacy / discrimination keywords the text holds
    (None: count them with the built-in lists). Such a text is a care context, and unless
    the result is clearly positive ("the crew were amazing during the medical emergency,
    thank you") it reads as negative: neither VADER nor the airline-trained model know
    "smoke in the cabin" or "leaked my personal data" as complaints."""
    scores, cue, risk, toks, masked = _english_head(text, vader, risk)
    compound = scores["compound"]
    if not (cue.context or risk > 0):  # ordinary text: VADER's reading (a request muted)
        return _ordinary(text, scores, masked, toks, vader, None), cue, None
    p, actionable = model.probs(F.hashed(toks, model.buckets), F.dense(scores, cue))
    return _english_tail(text, compound, p, cue, risk), cue, actionable


def _english_head(text: str, vader: SentimentIntensityAnalyzer, risk: int | None,
                  pieces: list[str] | None = None
                  ) -> tuple[dict[str, float], F.Cues, int, list[str], str]:
    """What `english_parts` reads before the care model: VADER's scores, the rule cues, the
    risk hits, the tokens and the masked text. The care layer speaks when
    `cue.context or risk > 0`.
    `pieces`: `text.split()` when the caller has it (only `FastVader` takes it)."""
    scores = (vader.polarity_scores(text) if pieces is None or not isinstance(vader, FastVader)
              else vader.polarity_scores(text, pieces))
    masked, toks = F.normalise(text)  # one pass, shared by the cues and the hashed features
    return scores, F.cues(masked, text, toks), _risk(text, risk), toks, masked


def _english_tail(text: str, compound: float, p: tuple[float, float, float], cue: F.Cues,
                  risk: int) -> float:
    """The care layer's score from VADER's compound and the model's probabilities `p`."""
    base = compound
    compound = _finish(compound, p, cue.sarcasm)
    if risk and compound < POS:
        compound = min(compound, -(RISK_BASE + 0.5 * abs(base)))
    return _emoji(text, compound)


def english(text: str, model: _Model | None = None) -> float:
    """Care-tuned sentiment of English text in [-1, 1] (`model` only for cross-validation)."""
    loaded, vader = _load()
    return english_parts(text, vader, model or loaded)[0]


def english_actionable(text: str, risk: int | None = None) -> float | None:
    """The care model's actionable-complaint probability of English `text`, exactly as
    scoring computed it (None for ordinary text): urgency re-scoring needs it without the
    stored score carrying it."""
    model, vader = _load()
    return english_parts(text, vader, model, risk)[2]


def english_many(texts: list[str], model: _Model | None = None) -> list[float]:
    """`english` for many texts."""
    loaded, vader = _load()
    model = model or loaded
    return [english_parts(t, vader, model)[0] for t in texts]


def korean(text: str) -> float:
    """Korean sentiment in [-1, 1]: nsmc-trained model nudged by the care lexicon; a named
    service failure (`KO_FAIL_RE`) without thanks or praise reads at least -0.46."""
    model, _ = _load()
    if model.ko_W is None:
        return 0.0
    idx = F.ko_hashed(text, model.ko_buckets)
    weights = model.ko_W
    z = sum(weights[i] for i in idx) + model.ko_b if idx else 0.0
    z -= 0.8 * len(KO_NEG_RE.findall(text))
    pos = KO_POS_RE.findall(text)
    z += 0.5 * len(pos)
    if not pos and z > KO_FAIL_FLOOR and KO_FAIL_RE.search(text) is not None:
        z = KO_FAIL_FLOOR
    return math.tanh(z / 2)


def _result(s: float, lang: str, strong: int | None = None,
            actionable: float | None = None) -> SentimentResult:
    s = round4(max(-1.0, min(1.0, s)))
    return SentimentResult(s, label_of(s), lang, True, strong, actionable)


def analyze(text: str, lang_hint: str | None = None, risk: int | None = None
            ) -> SentimentResult:
    """Sentiment, label and language of one text; unsupported languages are neutral 0.0.
    `risk`: risk keyword hits from the caller's rules (see `english_parts`)."""
    model, vader = _load()  # before detect: loading extends the English vocabulary
    lang = detect(text, lang_hint)
    if scored_as_english(lang):  # no language too: emoji and symbols read as English
        score, cue, actionable = english_parts(text, vader, model, risk)
        return _result(score, lang, cue.strong, actionable)
    if lang == "ko":
        return _result(korean(text), lang)
    return SentimentResult(0.0, SentimentLabel.NEUTRAL, lang, supported=False)


#: Told of a text whose scoring raised: its index in the batch and the error (`analyze_many`).
Failed = Callable[[int, Exception], None]


def analyze_many(texts: list[str], risks: list[int] | None = None,
                 splits: list[list[str]] | None = None, hints: list[str | None] | None = None,
                 failed: Failed | None = None) -> list[SentimentResult]:
    """`analyze` for a batch; `risks` and `hints` (the platform's language guesses) as
    `analyze`'s `risk` and `lang_hint`, per text; `splits`, when given, each text's
    `text.split()` (one split shared by the keyword counts, language detection and VADER).

    Once `enable_batch` has run, a batch of `BATCH_MIN` texts or more reads each text as
    `analyze` does up to the care model, then runs the model once for all the texts in a
    care context (`features.BatchHasher` for the n-grams, `_Model.probs_flat` for the model:
    the same indices and floats) and finishes each: the same results as `analyze`, text by
    text.

    `failed`, when given, is told of each text whose reading raised (its index, the error,
    called inside the `except`), whose result is then None, and the others are read as
    usual: one odd mention must not leave its page unscored. Without it the error raises."""
    n = len(texts)
    risks_ = risks or [None] * n
    hints_ = hints or [None] * n
    if _np is None or n < BATCH_MIN:
        return [_guarded(failed, i, analyze, t, h, r)  # type: ignore[misc]
                for i, (t, h, r) in enumerate(zip(texts, hints_, risks_, strict=True))]
    model, vader = _load()
    out: list[SentimentResult | None] = [None] * n
    waiting: list[tuple[int, str, float, F.Cues, int, str]] = []
    tok_lists: list[list[str]] = []
    dense_rows: list[list[float]] = []
    # Written out, not a helper call a text (which cost the CSV path ~2%, score_profile.py):
    # a `try` costs next to nothing when nothing raises, and `score_many` runs as many
    # instructions as before failures were reported (callgrind, 4,000 dev tweets: -0.2%).
    for i, (text, hint, risk, pieces) in enumerate(zip(texts, hints_, risks_,
                                                       splits or [None] * n, strict=True)):
        try:
            lang = detect(text, hint, pieces)
            if lang == "en" or lang == UNKNOWN:  # `scored_as_english`, written out
                scores, cue, hits, toks, masked = _english_head(text, vader, risk, pieces)
                if cue.context or hits > 0:
                    dense = F.dense(scores, cue)
                    waiting.append((i, text, scores["compound"], cue, hits, lang))
                    tok_lists.append(toks)
                    dense_rows.append(dense)
                else:
                    out[i] = _result(_ordinary(text, scores, masked, toks, vader, pieces),
                                     lang, cue.strong)
            elif lang == "ko":
                out[i] = _result(korean(text), lang)
            else:
                out[i] = SentimentResult(0.0, SentimentLabel.NEUTRAL, lang, supported=False)
        except Exception as exc:
            if failed is None:
                raise
            failed(i, exc)
    if waiting:
        _batch_tail(model, waiting, tok_lists, dense_rows, out, hints_, failed)
    return out  # type: ignore[return-value]


def _guarded(failed: Failed | None, i: int, fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)`, or None when it raises and `failed` is given (told of it)."""
    if failed is None:
        return fn(*args)
    try:
        return fn(*args)
    except Exception as exc:
        failed(i, exc)
        return None


def _batch_tail(model: _Model, waiting: list[tuple[int, str, float, F.Cues, int, str]],
                tok_lists: list[list[str]], dense_rows: list[list[float]],
                out: list[SentimentResult | None], hints: list[str | None],
                failed: Failed | None) -> None:
    """The care model over all `waiting` texts at once, then each one finished into `out`.
    Should the batch itself raise with `failed` given, each text is read again alone
    (`analyze`), so only the texts that fail alone are left without a result."""
    try:
        probs = model.probs_flat(*_hasher(model).flat(tok_lists), dense_rows)
    except Exception:  # a bug of the batch path, not of one text: read each alone
        if failed is None:
            raise
        for i, text, _, _, hits, _ in waiting:
            out[i] = _guarded(failed, i, analyze, text, hints[i], hits)
        return
    for (i, text, compound, cue, hits, lang), (p, actionable) in zip(waiting, probs,
                                                                      strict=True):
        try:
            out[i] = _result(_english_tail(text, compound, p, cue, hits), lang, cue.strong,
                             actionable)
        except Exception as exc:
            if failed is None:
                raise
            failed(i, exc)
