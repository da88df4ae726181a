"""Topics on brands the model never saw: carewatch's topic model vs TF-IDF + logistic
regression, in one run, on the shared airline tweets' `negativereason` labels.

    .venv/bin/python benchmarks/topic_eval.py [--data ../shared/data] [--steps N]

How the figures are computed:
* Leave brands out: four folds, one per airline; each model is trained on the other three
  airlines' tweets and tested on the held-out one. Predictions of the four folds are pooled
  before scoring (the per-fold mean is printed too).
* carewatch trains exactly as `carewatch topics learn --label-column negativereason` would:
  every non-empty reason is a topic except "Can't Tell" (a negative tweet with no stated
  reason is left out of training), and the tweets with no reason (positive, neutral) teach
  the "no topic" class. It predicts as the listener does: with the item's sentiment label
  from carewatch's own scorer (praise gating) and "no topic" when not confident; a complaint
  left without a topic counts as a miss.
* Macro-F1 over the nine reasons (not "Can't Tell"), on the held-out complaints.
* The baseline is scikit-learn's `TfidfVectorizer()` + `LogisticRegression(max_iter=1000)`
  trained on the nine reasons of the same training tweets; it always names a topic.
* Praise: the held-out tweets labelled positive that get a (complaint) topic, in %.
* Throughput: texts/s on one core (`predict_many` on all held-out texts of a fold, best of 3)
  against the baseline pipeline's `predict` on the same texts in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, for the model and the baseline
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from carewatch.topics import train  # noqa: E402

CANT_TELL = "Can't Tell"
NONE = "(none)"
TARGET, STRETCH, MARGIN, PRAISE_MAX, SPEED_MIN = 0.55, 0.60, 0.03, 0.25, 5000.0


def macro_f1(truth: list[str], pred: list[str], labels: list[str]) -> float:
    """Mean F1 over `labels` (a prediction outside them, such as no topic, is a miss)."""
    scores = []
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(truth, pred, strict=True))
        fp = sum(t != label and p == label for t, p in zip(truth, pred, strict=True))
        fn = sum(t == label and p != label for t, p in zip(truth, pred, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def best_rate(fn: object, texts: list[str], rounds: int = 3) -> float:
    """Texts per second, best of `rounds`."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        fn(texts)  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: the "
                    "product's)")
    args = ap.parse_args()
    path = args.data / "airline_dev.csv"
    if not path.exists():
        print(f"skipped: {path} is absent (the shared dev data is not in this checkout)")
        return 0
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
    except ImportError:
        print("skipped: scikit-learn (the baseline) is not installed: pip install '.[dev]'")
        return 0
    from listener.scoring.scorer import Scorer

    df = pd.read_csv(path, dtype=str, keep_default_na=False).drop_duplicates("tweet_id")
    df = df.reset_index(drop=True)
    reasons = sorted(set(df["negativereason"]) - {"", CANT_TELL})
    scorer = Scorer()
    df["label"] = [s.sentiment_label.value for s in scorer.score_many(df["text"].tolist())]
    print(f"airline_dev.csv: {len(df)} tweets, {len(reasons)} reasons, "
          f"airlines: {', '.join(sorted(set(df['airline'])))}")

    truth: list[str] = []
    ours: list[str] = []
    base: list[str] = []
    praise_total = praise_ours = 0
    folds: list[tuple[str, float, float]] = []
    speed_ours: list[float] = []
    speed_base: list[float] = []
    kwargs = {} if args.steps is None else {"steps": args.steps}
    for airline in sorted(set(df["airline"])):
        train_df = df[(df["airline"] != airline) & (df["negativereason"] != CANT_TELL)]
        test_df = df[df["airline"] == airline]
        model = train(zip(train_df["text"], train_df["negativereason"], strict=True),
                      **kwargs)
        labelled = train_df[train_df["negativereason"] != ""]
        baseline = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000))
        baseline.fit(labelled["text"].tolist(), labelled["negativereason"].tolist())

        complaints = test_df[test_df["negativereason"].isin(reasons)]
        texts = complaints["text"].tolist()
        guesses = model.predict_many(texts, complaints["label"].tolist())
        fold_truth = complaints["negativereason"].tolist()
        fold_ours = [g.topic or NONE for g in guesses]
        fold_base = [str(p) for p in baseline.predict(texts)]
        truth += fold_truth
        ours += fold_ours
        base += fold_base
        folds.append((airline, macro_f1(fold_truth, fold_ours, reasons),
                      macro_f1(fold_truth, fold_base, reasons)))

        praise = test_df[test_df["airline_sentiment"] == "positive"]
        praised = model.predict_many(praise["text"].tolist(), praise["label"].tolist())
        praise_total += len(praised)
        praise_ours += sum(g.topic is not None for g in praised)

        all_texts = test_df["text"].tolist()
        speed_ours.append(best_rate(model.predict_many, all_texts))
        speed_base.append(best_rate(baseline.predict, all_texts))

    f1_ours, f1_base = macro_f1(truth, ours, reasons), macro_f1(truth, base, reasons)
    print("\nleave-one-airline-out macro-F1 over the nine reasons (held-out brand):")
    print(f"  {'airline':<12} {'carewatch':>9} {'baseline':>9}")
    for airline, a, b in folds:
        print(f"  {airline:<12} {a:9.3f} {b:9.3f}")
    mean_ours = sum(a for _, a, _ in folds) / len(folds)
    mean_base = sum(b for _, _, b in folds) / len(folds)
    print(f"  {'fold mean':<12} {mean_ours:9.3f} {mean_base:9.3f}")
    print(f"  {'pooled':<12} {f1_ours:9.3f} {f1_base:9.3f}   "
          f"(target ≥ {TARGET:.2f}, stretch {STRETCH:.2f}, and ≥ baseline + {MARGIN:.2f})")
    no_topic = sum(p == NONE for p in ours) / len(ours)
    print(f"complaints left without a topic: {no_topic:.1%}")
    praise_share = praise_ours / max(1, praise_total)
    print(f"praise tweets given a complaint topic: carewatch {praise_share:.1%} of "
          f"{praise_total}, baseline 100% (it always names one)   (target ≤ {PRAISE_MAX:.0%})")
    rate_ours, rate_base = min(speed_ours), min(speed_base)
    print(f"throughput, one core: carewatch {rate_ours:,.0f} texts/s, baseline "
          f"{rate_base:,.0f} texts/s ({rate_ours / rate_base:.2f}×)   "
          f"(target ≥ {SPEED_MIN:,.0f})")
    ok = (f1_ours >= TARGET and f1_ours >= f1_base + MARGIN and praise_share <= PRAISE_MAX
          and rate_ours >= SPEED_MIN)
    print("verdict:", "all targets met" if ok else "a target is missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
