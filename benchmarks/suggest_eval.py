"""Reply suggestions on brands the topic model never saw: is the canned reply for a
complaint's true topic among the three suggestions? carewatch's ranking against plain text
similarity, in one run, on the shared airline tweets' `negativereason` labels.

    .venv/bin/python benchmarks/suggest_eval.py [--data ../shared/data] [--steps N]

How the figures are computed:
* One canned reply per reason (nine: every reason but "Can't Tell"), tagged with that
  reason as its topic, written below as a care team would write them.
* Leave brands out: four folds, one per airline; the topic model is trained with
  `carewatch.topics.train` on the other three airlines' tweets (reasons as topics, tweets
  without a reason as "no topic", "Can't Tell" left out) and the held-out airline's
  complaints (negative tweets with one of the nine reasons) are ranked. Folds are pooled.
* carewatch: `responders.suggest.rank` exactly as `carewatch suggest` ranks canned replies
  (the model's ranked topic probabilities plus text similarity, public X reply limits,
  placeholders filled); a hit when the true reason's reply is among the three best.
* Baselines, same replies and items: the nine replies ranked by TF-IDF cosine similarity to
  the tweet alone; and "top topic only" (the reply of the model's best topic, then nothing:
  what offering only the item's stored topic gives).
* Tone: the same items ranked again with a tenth, untagged thank-you reply (`THANKS`, the
  demo's), once as complaints (sentiment negative, urgency reason `complaint`, as scoring
  labels them) and once with the tone unknown (what ranking did before it read the tone):
  how often the thank-you reply is offered to a complaint, and the top-3 hit rate with it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from carewatch.topics import train  # noqa: E402
from responders.suggest.rank import Canned, Item, best, rank_canned  # noqa: E402
from responders.suggest.textsim import TextIndex  # noqa: E402

CANT_TELL = "Can't Tell"
TARGET = 0.85
VALUES = {"first_name": "Sam", "handle": "@samlee", "agent": "Ana",
          "case_id": "CW-1"}
CANNED = {
    "Bad Flight": "Hi {first_name}, we're sorry the flight wasn't comfortable. Tell us "
                  "your seat and flight number and we'll pass it to the onboard team. ^{agent}",
    "Cancelled Flight": "Hi {first_name}, sorry your flight was cancelled. DM us your "
                        "confirmation code and we'll rebook you on the next available "
                        "flight. ^{agent}",
    "Customer Service Issue": "Hi {first_name}, we're sorry about the service you got and "
                              "the wait on hold. DM us the details and we'll make it right. "
                              "^{agent}",
    "Damaged Luggage": "Hi {first_name}, sorry your bag arrived damaged. File a damage "
                       "report within 7 days with photos and we'll repair or replace it. "
                       "^{agent}",
    "Flight Attendant Complaints": "Hi {first_name}, that is not how our crew should treat "
                                   "you. DM us the flight and we'll share it with the "
                                   "in-flight team. ^{agent}",
    "Flight Booking Problems": "Hi {first_name}, sorry the booking gave you trouble. DM us "
                               "the reservation or the error on the website and we'll fix "
                               "it. ^{agent}",
    "Late Flight": "Hi {first_name}, we're sorry about the delay. We're working to get you "
                   "on your way; DM us your flight if you might miss a connection. ^{agent}",
    "Lost Luggage": "Hi {first_name}, sorry your bag hasn't arrived. DM us your baggage "
                    "claim file reference and we'll trace it for you. ^{agent}",
    "longlines": "Hi {first_name}, sorry about the long line at the airport. Check in "
                 "online or at a kiosk to skip the counter queue. ^{agent}",
}


THANKS = Canned("Thanks", "Thank you {handle}, we're glad you flew with us! ^{agent}",
                "Thank you @samlee, we're glad you flew with us! ^Ana")


def canned_replies() -> list[Canned]:
    return [Canned(reason, text, text.format_map(VALUES), (reason,))
            for reason, text in CANNED.items()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--steps", type=int, default=None,
                    help="topic model training steps (default: the product's)")
    args = ap.parse_args()
    path = args.data / "airline_dev.csv"
    if not path.exists():
        print(f"skipped: {path} is absent (the shared dev data is not in this checkout)")
        return 0
    df = pd.read_csv(path, dtype=str, keep_default_na=False).drop_duplicates("tweet_id")
    reasons = sorted(set(df["negativereason"]) - {"", CANT_TELL})
    assert sorted(CANNED) == reasons, "one canned reply per reason"
    canned = canned_replies()
    name_of = {c.text: c.name for c in canned}
    baseline_index = TextIndex([f"{c.name} {c.template}" for c in canned])
    kwargs = {} if args.steps is None else {"steps": args.steps}

    total = hits = hits_top1 = hits_base = hits_only_top = 0
    ranking_seconds = 0.0
    per_reason: dict[str, list[int]] = {r: [0, 0, 0] for r in reasons}
    # [thank-you first, thank-you in the top 3, true reply in the top 3] with the tone read
    # (complaint) and with it unknown, the thank-you reply among the candidates
    toned, untoned = [0, 0, 0], [0, 0, 0]
    with_thanks = [*canned, THANKS]
    folds: list[tuple[str, int, float, float]] = []
    for airline in sorted(set(df["airline"])):
        train_df = df[(df["airline"] != airline) & (df["negativereason"] != CANT_TELL)]
        model = train(zip(train_df["text"], train_df["negativereason"], strict=True),
                      **kwargs)
        test = df[(df["airline"] == airline) & df["negativereason"].isin(reasons)]
        guesses = model.predict_many(test["text"].tolist())
        fold_hits = fold_base = 0
        for text, truth, guess in zip(test["text"], test["negativereason"], guesses,
                                      strict=True):
            started = time.perf_counter()
            item = Item(text, "x", "public", "en", tuple(guess.ranked))
            top = [name_of[s.text] for s in best(rank_canned(item, canned), 3)]
            ranking_seconds += time.perf_counter() - started
            sims = baseline_index.similarities(text)
            base_top = [canned[i].name for i in sorted(range(len(canned)),
                                                       key=lambda i: (-sims[i], i))[:3]]
            for counts, tone in ((toned, ("negative", True)), (untoned, (None, False))):
                item_t = Item(text, "x", "public", "en", tuple(guess.ranked), *tone)
                texts = [s.text for s in best(rank_canned(item_t, with_thanks), 3)]
                counts[0] += bool(texts) and texts[0] == THANKS.text
                counts[1] += THANKS.text in texts
                counts[2] += truth in [name_of.get(t) for t in texts]
            hit, base_hit = truth in top, truth in base_top
            total += 1
            hits += hit
            hits_top1 += bool(top) and top[0] == truth
            hits_base += base_hit
            hits_only_top += bool(guess.ranked) and guess.ranked[0][0] == truth
            fold_hits += hit
            fold_base += base_hit
            per_reason[truth][0] += 1
            per_reason[truth][1] += hit
            per_reason[truth][2] += base_hit
        folds.append((airline, len(test), fold_hits / max(1, len(test)),
                      fold_base / max(1, len(test))))

    share, share_base = hits / total, hits_base / total
    print(f"airline_dev.csv: {total} complaints with one of {len(reasons)} reasons, "
          "leave-one-airline-out\n")
    print("true topic's canned reply in the top 3 suggestions (held-out brand):")
    print(f"  {'airline':<12} {'items':>6} {'carewatch':>9} {'baseline':>9}")
    for airline, count, ours, base in folds:
        print(f"  {airline:<12} {count:6d} {ours:9.1%} {base:9.1%}")
    print(f"  {'pooled':<12} {total:6d} {share:9.1%} {share_base:9.1%}   "
          f"(target ≥ {TARGET:.0%})")
    print("\nper reason (pooled):")
    for reason, (count, ours, base) in per_reason.items():
        print(f"  {reason:<28} {count:5d} {ours / max(1, count):7.1%} "
              f"{base / max(1, count):7.1%}")
    print(f"\ncarewatch best suggestion is the true reply: {hits_top1 / total:.1%}; "
          f"top topic only (one reply): {hits_only_top / total:.1%}")
    print(f"ranking time: {1000 * ranking_seconds / total:.2f} ms per item")
    print("\nwith a thank-you canned reply added (untagged), complaints ranked:")
    for label, (first, top3, hit3) in (("tone read (complaint)", toned),
                                       ("tone unknown", untoned)):
        print(f"  {label:<22} thank-you first {first / total:6.1%}, in top 3 "
              f"{top3 / total:6.1%}; true reply in top 3 {hit3 / total:6.1%}")
    ok = share >= TARGET and share > share_base
    print("verdict:", "target met" if ok else "target missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
