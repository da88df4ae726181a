"""Where `carewatch score`'s CPU goes, stage by stage, against plain VADER, in one process.

    .venv/bin/python benchmarks/score_profile.py [--data ../shared/data] [--n 12000]
        [--rounds 5]

Why: the issue asks for scoring faster than plain VADER end to end on two cores, which
needs the whole per-row pipeline within ~1.5x plain VADER's CPU. On a shared machine wall
clock swings by 2x from run to run, so this times CPU (`time.process_time`) of each stage
over the same dev tweets, warm (the per-word caches filled, as they are after the first
~12k rows of a large input), every stage once per round and the median of the rounds.
Each stage is timed alone, in a tight loop over its precomputed inputs, so the stages sum
to less than `Scorer.score_many` (the rest is the calls between them and cache misses of
running every stage per text); the figure that matters is `score_many` against plain VADER.
`score_many` runs in chunks of 1,000 texts with the batch care model (`enable_batch`), as
`score_csv` does on large inputs; "hashed n-grams" and "care model" are the per-text steps,
"n-grams+model x1k" the batch ones that replace them there. "levels" and "levels_many x100"
are the listener's fetch worker's scoring at every repeat-contact level, text by text and a
100-text page at once (the batch care model).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # noqa: E402

from listener.scoring import features as F  # noqa: E402
from listener.scoring.language import detect  # noqa: E402
from listener.scoring.scorer import Scorer  # noqa: E402
from listener.scoring.sentiment import _hasher, _load, enable_batch  # noqa: E402
from listener.scoring.urgency import REPEAT_CONTACT_CAP, urgency  # noqa: E402


def stages(texts: list[str]) -> dict[str, Callable[[], object]]:
    """Each stage of scoring as a call over all `texts`, with its inputs precomputed."""
    enable_batch()  # as `score_csv` does for large inputs: the care model a chunk at a time
    model, fast = _load()
    plain = SentimentIntensityAnalyzer()
    scorer = Scorer()
    matcher = scorer.rules.matcher
    norm = [F.normalise(t) for t in texts]
    vader = [fast.polarity_scores(t) for t in texts]
    cues = [F.cues(m, t, toks) for (m, toks), t in zip(norm, texts, strict=True)]
    idx = [F.hashed(toks, model.buckets) for _, toks in norm]
    dense = [F.dense(v, c) for v, c in zip(vader, cues, strict=True)]
    found = [matcher.counts(t) for t in texts]
    toks = [tk for _, tk in norm]
    hasher = _hasher(model)
    chunks = [texts[i:i + 1000] for i in range(0, len(texts), 1000)]
    pages = [texts[i:i + 100] for i in range(0, len(texts), 100)]
    levels = tuple(range(REPEAT_CONTACT_CAP + 1))
    context = ([900] * 100, [2] * 100, [300.0] * 100, [None] * 100, [False] * 100)
    return {
        "plain VADER": lambda: [plain.polarity_scores(t) for t in texts],
        "score_many": lambda: [scorer.score_many(chunk) for chunk in chunks],
        # the fetch worker's scoring of a page, every repeat-contact level: text by text
        # (`levels`) and the page at once (`levels_many`, the batch care model)
        "levels": lambda: [scorer.levels(t, followers=900, engagement=2,
                                         waiting_minutes=300.0, repeat_contacts=levels)
                           for t in texts],
        "levels_many x100": lambda: [scorer.levels_many(p, *(c[:len(p)] for c in context),
                                                        repeat_contacts=levels)
                                     for p in pages],
        "FastVader": lambda: list(map(fast.polarity_scores, texts)),
        "language": lambda: list(map(detect, texts)),
        "keyword counts": lambda: list(map(matcher.counts, texts)),
        "normalise": lambda: list(map(F.normalise, texts)),
        "care cues": lambda: [F.cues(m, t, toks)
                              for (m, toks), t in zip(norm, texts, strict=True)],
        "hashed n-grams": lambda: [F.hashed(toks, model.buckets) for _, toks in norm],
        "dense": lambda: list(map(F.dense, vader, cues)),
        "care model": lambda: list(map(model.probs, idx, dense)),
        "n-grams+model x1k": lambda: [
            model.probs_flat(*hasher.flat(toks[i:i + 1000]), dense[i:i + 1000])
            for i in range(0, len(toks), 1000)],
        "urgency": lambda: [urgency(scorer.rules, t, -0.3, found=f, strong=c.strong)
                            for t, f, c in zip(texts, found, cues, strict=True)],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--n", type=int, default=12_000, help="dev tweets to time")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    airline = args.data / "airline_dev.csv"
    if not airline.exists():
        print(f"skipped: {airline} is absent (the shared dev data is not in this checkout)")
        return 0
    with airline.open(newline="", encoding="utf-8") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)][:args.n]
    calls = stages(texts)
    for call in calls.values():
        call()  # warm: per-word caches filled, regexes compiled
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(args.rounds):
        for name, call in calls.items():
            t = time.process_time()
            call()
            seconds[name].append(time.process_time() - t)
    base = statistics.median(seconds["plain VADER"])
    from listener.scoring import mode

    print(f"{len(texts):,} dev tweets, CPU, median of {args.rounds} rounds, scoring {mode()}:")
    for name, values in seconds.items():
        med = statistics.median(values)
        print(f"  {name:17s} {med * 1e6 / len(texts):6.1f} µs/text  {med / base:5.2f}x plain VADER")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
