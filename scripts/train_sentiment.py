"""Train carewatch's care-sentiment model and its Korean model; write them as one JSON.gz.

    .venv/bin/python scripts/train_sentiment.py [--data ../shared/data] [--cv-only]

Why a model at all: VADER reads "my flight was cancelled and no one can help" as neutral; a
small logistic regression over hashed word n-grams plus VADER's own scores and the care rules
learns what complaints look like. It has four outputs: an actionable complaint (a negative
tweet whose reason someone can act on: cancelled or late flight, lost or damaged luggage, a
booking problem, customer service), any other negative, neutral and positive. Sentiment reads
the first two together as "negative"; urgency reads the first as how actionable the complaint
is (`listener.scoring.urgency`), so one weight table serves both. Each tweet counts by the
square of its annotators' agreement (`airline_sentiment_confidence`): a quarter of the labels
are split votes (agreement below 0.7), and letting them count fully taught the model their
noise. It is trained on the airline set with brand handles, brand names and URLs masked,
checked with leave-one-airline-out cross-validation (train on three airlines, test on the
fourth) so the figure predicts brands it has never seen, and then refit
on everything. Pure numpy (no scikit-learn): full-batch Adam on the class-weighted
multinomial cross-entropy with L2, deterministic for a given data file.

The Korean model is a binary logistic regression over character n-grams, fitted on
nsmc_dev.tsv (movie reviews, 1 positive / 0 negative); 20 % is held out for the reported
accuracy before refitting on all of it.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from listener.scoring import features as F  # noqa: E402

CLASSES = ("negative", "neutral", "positive")
# The model's outputs: sentiment's negative class split by whether the reason is actionable.
OUTPUTS = ("complaint", "negative", "neutral", "positive")
ACTIONABLE = frozenset({"Cancelled Flight", "Late Flight", "Lost Luggage", "Damaged Luggage",
                        "Flight Booking Problems", "Customer Service Issue"})
EN_BUCKETS = 1 << 16
KO_BUCKETS = 1 << 16
OUT = ROOT / "listener" / "scoring" / "data" / "care_model.json.gz"


def load_airline(data: Path) -> pd.DataFrame:
    df = pd.read_csv(data / "airline_dev.csv", dtype={"tweet_id": str})
    return df.drop_duplicates("tweet_id").reset_index(drop=True)


def targets(df: pd.DataFrame) -> np.ndarray:
    """Index into OUTPUTS of each tweet: an actionable negative is `complaint`."""
    y = df["airline_sentiment"].map({c: i + 1 for i, c in enumerate(CLASSES)}).to_numpy()
    actionable = ((df["airline_sentiment"] == "negative")
                  & df["negativereason"].isin(ACTIONABLE)).to_numpy()
    return np.where(actionable, 0, y)


def agreement(df: pd.DataFrame) -> np.ndarray:
    """Training weight of each tweet: the square of its annotators' agreement (0..1)."""
    conf = pd.to_numeric(df["airline_sentiment_confidence"], errors="coerce").fillna(1.0)
    return conf.clip(0.0, 1.0).to_numpy() ** 2


def sentiment_probs(p: np.ndarray) -> np.ndarray:
    """(negative, neutral, positive) from the four outputs: both negatives together."""
    return np.stack([p[:, 0] + p[:, 1], p[:, 2], p[:, 3]], axis=1)


def en_matrix(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse hashed part as (row, col) index arrays, plus the dense matrix."""
    vader = SentimentIntensityAnalyzer()
    rows: list[int] = []
    cols: list[int] = []
    dense: list[list[float]] = []
    for i, text in enumerate(texts):
        masked, toks = F.normalise(text)
        idx = F.hashed(toks, EN_BUCKETS)
        rows.extend([i] * len(idx))
        cols.extend(idx)
        dense.append(F.dense(vader.polarity_scores(text), F.cues(masked, text, toks)))
    return np.array(rows), np.array(cols), np.array(dense, dtype=np.float64)


def ko_matrix(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    rows: list[int] = []
    cols: list[int] = []
    for i, text in enumerate(texts):
        idx = F.ko_hashed(text, KO_BUCKETS)
        rows.extend([i] * len(idx))
        cols.extend(idx)
    return np.array(rows), np.array(cols)


def fit(rows: np.ndarray, cols: np.ndarray, dense: np.ndarray | None, y: np.ndarray,
        n_classes: int, buckets: int, l2: float, epochs: int = 250, lr: float = 0.05,
        weight: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Class-balanced softmax regression by full-batch Adam (deterministic: zero init);
    `weight` scales each sample on top of the class balance."""
    n = len(y)
    d = 0 if dense is None else dense.shape[1]
    counts = np.maximum(np.bincount(y, minlength=n_classes).astype(float), 1.0)
    sample_w = (n / (n_classes * counts))[y]
    if weight is not None:
        sample_w = sample_w * weight
    sample_w /= sample_w.sum()
    onehot = np.eye(n_classes)[y]
    params = {"W": np.zeros((buckets, n_classes)), "D": np.zeros((d, n_classes)),
              "b": np.zeros(n_classes)}
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(val) for k, val in params.items()}
    for step in range(1, epochs + 1):
        logits = np.stack([np.bincount(rows, weights=params["W"][cols, k], minlength=n)
                           for k in range(n_classes)], axis=1) + params["b"]
        if d:
            logits += dense @ params["D"]
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) * sample_w[:, None]
        grads = {
            "W": np.stack([np.bincount(cols, weights=g[rows, k], minlength=buckets)
                           for k in range(n_classes)], axis=1) + l2 * params["W"],
            "D": (dense.T @ g if d else params["D"]) + (l2 * params["D"] if d else 0),
            "b": g.sum(axis=0),
        }
        for k in params:
            m[k] = 0.9 * m[k] + 0.1 * grads[k]
            v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
            mh = m[k] / (1 - 0.9 ** step)
            vh = v[k] / (1 - 0.999 ** step)
            params[k] -= lr * mh / (np.sqrt(vh) + 1e-8)
    return params


def predict(params: dict[str, np.ndarray], rows: np.ndarray, cols: np.ndarray,
            dense: np.ndarray | None, n: int) -> np.ndarray:
    k = params["W"].shape[1]
    logits = np.stack([np.bincount(rows, weights=params["W"][cols, j], minlength=n)
                       for j in range(k)], axis=1) + params["b"]
    if dense is not None and dense.shape[1]:
        logits += dense @ params["D"]
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def macro_f1(y: np.ndarray, pred: np.ndarray, k: int = 3) -> tuple[float, list[float]]:
    per = []
    for c in range(k):
        tp = float(((pred == c) & (y == c)).sum())
        denom = float((pred == c).sum() + (y == c).sum())
        per.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(per)), per


def subset(rows: np.ndarray, cols: np.ndarray, keep: np.ndarray):
    """Rows of the sparse part for the documents in `keep`, renumbered from 0."""
    new_index = -np.ones(keep.shape[0], dtype=int)
    new_index[keep] = np.arange(int(keep.sum()))
    sel = keep[rows]
    return new_index[rows[sel]], cols[sel]


def fit_care(rows: np.ndarray, cols: np.ndarray, dense: np.ndarray, df: pd.DataFrame,
             keep: np.ndarray, l2: float) -> dict[str, np.ndarray]:
    """The care model fitted on the tweets in `keep` only (the training airlines of a fold,
    or all of them): the one recipe shared by cross-validation, the benchmark and the
    shipped model."""
    tr_r, tr_c = subset(rows, cols, keep)
    return fit(tr_r, tr_c, dense[keep], targets(df)[keep], len(OUTPUTS), EN_BUCKETS, l2,
               weight=agreement(df)[keep])


def loao(df: pd.DataFrame, rows, cols, dense, l2: float) -> np.ndarray:
    """Out-of-fold probabilities of the four OUTPUTS, each airline predicted by a model
    trained on the others."""
    probs = np.zeros((len(df), len(OUTPUTS)))
    for airline in sorted(df["airline"].unique()):
        test = (df["airline"] == airline).to_numpy()
        te_r, te_c = subset(rows, cols, test)
        params = fit_care(rows, cols, dense, df, ~test, l2)
        probs[test] = predict(params, te_r, te_c, dense[test], int(test.sum()))
    return probs


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney ROC-AUC of `score` for the boolean `positive`."""
    ranks = pd.Series(score).rank().to_numpy()
    n1 = int(positive.sum())
    n0 = len(positive) - n1
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def pack(a: np.ndarray) -> str:
    return base64.b64encode(a.astype(np.float16).tobytes()).decode()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--l2", type=float, default=3e-4)
    ap.add_argument("--cv-only", action="store_true")
    args = ap.parse_args()
    if not (args.data / "airline_dev.csv").exists():
        print(f"no airline_dev.csv under {args.data}; nothing to train", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    df = load_airline(args.data)
    y = df["airline_sentiment"].map({c: i for i, c in enumerate(CLASSES)}).to_numpy()
    rows, cols, dense = en_matrix(df["text"].tolist())
    probs = loao(df, rows, cols, dense, args.l2)
    f1, per = macro_f1(y, sentiment_probs(probs).argmax(1))
    auc = roc_auc(targets(df) == 0, probs[:, 0])
    print(f"leave-one-airline-out macro-F1 (argmax) {f1:.3f} per class "
          + " ".join(f"{c}={p:.3f}" for c, p in zip(CLASSES, per, strict=True))
          + f"; actionable-complaint ROC-AUC {auc:.3f}")
    if args.cv_only:
        return 0
    params = fit_care(rows, cols, dense, df, np.ones(len(df), dtype=bool), args.l2)

    ko_model = None
    ko_acc = None
    nsmc = args.data / "nsmc_dev.tsv"
    if nsmc.exists():
        kdf = pd.read_csv(nsmc, sep="\t", dtype={"document": str}, keep_default_na=False)
        kdf = kdf[kdf["document"].str.strip() != ""].reset_index(drop=True)
        ky = kdf["label"].astype(int).to_numpy()
        kr, kc = ko_matrix(kdf["document"].tolist())
        rng = np.random.default_rng(0)
        test = rng.random(len(ky)) < 0.2
        tr_r, tr_c = subset(kr, kc, ~test)
        te_r, te_c = subset(kr, kc, test)
        kp = fit(tr_r, tr_c, None, ky[~test], 2, KO_BUCKETS, 1e-4)
        kprob = predict(kp, te_r, te_c, None, int(test.sum()))
        ko_acc = float((kprob.argmax(1) == ky[test]).mean())
        print(f"Korean nsmc held-out (20 %) accuracy {ko_acc:.3f}")
        kp = fit(kr, kc, None, ky, 2, KO_BUCKETS, 1e-4)
        ko_model = {"buckets": KO_BUCKETS, "W": pack(kp["W"][:, 1] - kp["W"][:, 0]),
                    "b": float(kp["b"][1] - kp["b"][0])}

    model = {
        "version": 2,
        "classes": list(OUTPUTS),
        "buckets": EN_BUCKETS,
        "dense_names": list(F.DENSE_NAMES),
        "W": pack(params["W"]),
        "D": params["D"].tolist(),
        "b": params["b"].tolist(),
        "cv_macro_f1": round(f1, 4),
        "cv_complaint_auc": round(auc, 4),
        "ko": ko_model,
        "ko_holdout_accuracy": ko_acc,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(OUT, "wb", mtime=0) as fh:
        fh.write(json.dumps(model).encode())
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB) in {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
