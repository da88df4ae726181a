"""Care-tuned sentiment: VADER as the base, a customer-care layer on top.

Ordinary text gets VADER's compound unchanged (its correlation with human ratings of ordinary
tweets is what we must not lose). Text in a care context (addressed to an account, or carrying
care cues such as "cancelled", "still waiting", sarcasm) is also read by a small logistic
regression over masked, hashed word n-grams plus VADER's scores and the rule cues (trained by
`scripts/train_sentiment.py`). Where VADER and the model agree on the label, VADER's compound
is kept as is; where they disagree, the score is moved just inside the model's label band, so
the contract's fixed thresholds (negative <= -0.05 < neutral < 0.05 <= positive) give the
model's labels while the size of the score still follows VADER and the model's confidence.

Korean is scored by a character n-gram model fitted on nsmc plus a small care lexicon.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from carewatch.domain import SentimentLabel
from listener.scoring import features as F
from listener.scoring.language import detect

MODEL_PATH = Path(__file__).with_name("data") / "care_model.json.gz"
NEG, POS = -0.05, 0.05
_NEUTRAL_EDGE = 0.049

# Korean care lexicon (tuned on kote_dev.tsv complaint/anger/irritation labels and nsmc):
# words that mark a complaint push the score down even when the movie-review model is unsure.
KO_NEG_RE = re.compile(
    r"취소|환불|지연|최악|짜증|화나|화가|실망|불만|불친절|엉망|답답|어이없|황당|"
    r"분실|파손|고장|연락이 ?없|연락 ?안|기다리|아직도|안 ?되|못 ?받|사기|쓰레기|별로"
)
KO_POS_RE = re.compile(r"감사|고맙|좋아요|좋았|최고|친절|만족|추천|빠르게 ?해결|해결해 ?주")


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
    """The contract's VADER convention."""
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


class _Model:
    """Weights of the care model and the Korean model, decoded once per process."""

    def __init__(self, path: Path | None = None, raw: dict[str, Any] | None = None) -> None:
        if raw is None:
            with gzip.open(path or MODEL_PATH, "rb") as fh:
                raw = json.loads(fh.read())
        if list(raw["dense_names"]) != list(F.DENSE_NAMES):
            raise RuntimeError(f"{path}: feature layout differs; rerun scripts/train_sentiment.py")
        self.buckets = int(raw["buckets"])
        self.W = _unpack(raw["W"]).reshape(self.buckets, 3)
        self.D = np.asarray(raw["D"], dtype=np.float64)
        self.b = np.asarray(raw["b"], dtype=np.float64)
        ko = raw.get("ko")
        self.ko_buckets = int(ko["buckets"]) if ko else 0
        self.ko_W = _unpack(ko["W"]).astype(np.float64) if ko else None
        self.ko_b = float(ko["b"]) if ko else 0.0

    def probs(self, idx: list[int], dense: list[float]) -> np.ndarray:
        logits = self.W[idx].sum(axis=0) + np.asarray(dense) @ self.D + self.b
        logits -= logits.max()
        p = np.exp(logits)
        return p / p.sum()


def _unpack(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.float16).astype(np.float64)


_model: _Model | None = None
_vader: SentimentIntensityAnalyzer | None = None
_lock = threading.Lock()


def _load() -> tuple[_Model, SentimentIntensityAnalyzer]:
    """Load VADER and the model lazily, once per process (forked workers inherit them)."""
    global _model, _vader
    if _model is None or _vader is None:
        with _lock:
            if _vader is None:
                _vader = SentimentIntensityAnalyzer()
            if _model is None:
                _model = _Model(MODEL_PATH)
    return _model, _vader


def warm_up() -> None:
    """Load everything now (e.g. before forking workers, so they share the pages)."""
    _load()


def _prepare(text: str, vader: SentimentIntensityAnalyzer, buckets: int
             ) -> tuple[float, bool, list[int], list[float], bool]:
    """VADER compound, whether the care model applies, its features, and the sarcasm cue."""
    scores = vader.polarity_scores(text)
    compound = float(scores["compound"])
    masked = F.mask(text)
    toks = F.tokens(masked)
    cue = F.cues(masked, text, toks)
    if not ("usertoken" in toks or cue.care):
        return compound, False, [], [], False  # ordinary text: VADER as it is
    return compound, True, F.hashed(toks, buckets), F.dense(scores, cue), cue.sarcasm


def _finish(compound: float, p: np.ndarray, sarcasm: bool) -> float:
    """Keep VADER's compound when its label agrees with the model's; otherwise move the score
    just inside the model's label band, sized by VADER's strength and the model's confidence."""
    k = int(p.argmax())
    if sarcasm and k == 2:
        k = 0  # "great job losing my bag": praise words around a care failure
    vk = 0 if compound <= NEG else 2 if compound >= POS else 1
    if vk == k:
        return compound
    if k == 1:
        return _NEUTRAL_EDGE * compound
    confidence = max((float(p[k]) - 1 / 3) * 1.5, 0.0)
    size = min(1.0, 0.05 + 0.5 * abs(compound) + 0.45 * confidence)
    return -size if k == 0 else size


def english(text: str, model: _Model | None = None) -> float:
    """Care-tuned sentiment of English text in [-1, 1] (`model` only for cross-validation)."""
    loaded, vader = _load()
    model = model or loaded
    compound, care, idx, dense, sarcasm = _prepare(text, vader, model.buckets)
    if not care:
        return _emoji(text, compound)
    return _emoji(text, _finish(compound, model.probs(idx, dense), sarcasm))


def english_many(texts: list[str], model: _Model | None = None) -> list[float]:
    """`english` for many texts, with one vectorised model pass instead of one per text."""
    loaded, vader = _load()
    model = model or loaded
    prepared = [_prepare(t, vader, model.buckets) for t in texts]
    care = [i for i, item in enumerate(prepared) if item[1]]
    out = [item[0] for item in prepared]
    if care:
        flat: list[int] = []
        starts: list[int] = []
        for i in care:
            starts.append(len(flat))
            flat.extend(prepared[i][2])
        summed = np.add.reduceat(model.W[np.asarray(flat, dtype=np.int64)], starts, axis=0)
        logits = summed + np.asarray([prepared[i][3] for i in care]) @ model.D + model.b
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        for row, i in enumerate(care):
            out[i] = _finish(prepared[i][0], probs[row], prepared[i][4])
    return [_emoji(t, v) for t, v in zip(texts, out, strict=True)]


def korean(text: str) -> float:
    """Korean sentiment in [-1, 1]: nsmc-trained model nudged by the care lexicon."""
    model, _ = _load()
    if model.ko_W is None:
        return 0.0
    idx = F.ko_hashed(text, model.ko_buckets)
    z = float(model.ko_W[idx].sum()) + model.ko_b if idx else 0.0
    z -= 0.8 * len(KO_NEG_RE.findall(text))
    z += 0.5 * len(KO_POS_RE.findall(text))
    return math.tanh(z / 2)


def _result(s: float, lang: str) -> SentimentResult:
    s = round(max(-1.0, min(1.0, s)), 4)
    return SentimentResult(s, label_of(s), lang, supported=True)


def analyze(text: str, lang_hint: str | None = None) -> SentimentResult:
    """Sentiment, label and language of one text; unsupported languages are neutral 0.0."""
    lang = detect(text, lang_hint)
    if lang == "ko":
        return _result(korean(text), lang)
    if lang == "en":
        return _result(english(text), lang)
    return SentimentResult(0.0, SentimentLabel.NEUTRAL, lang, supported=False)


def analyze_many(texts: list[str]) -> list[SentimentResult]:
    """`analyze` for a batch (no language hints): English goes through `english_many`."""
    langs = [detect(t) for t in texts]
    en = [i for i, lang in enumerate(langs) if lang == "en"]
    en_scores = english_many([texts[i] for i in en])
    out: list[SentimentResult] = []
    en_iter = iter(en_scores)
    for text, lang in zip(texts, langs, strict=True):
        if lang == "en":
            out.append(_result(next(en_iter), lang))
        elif lang == "ko":
            out.append(_result(korean(text), lang))
        else:
            out.append(SentimentResult(0.0, SentimentLabel.NEUTRAL, lang, supported=False))
    return out
