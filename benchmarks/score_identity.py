"""Does a speed change leave `carewatch score`'s output as it was? Byte for byte, against a ref.

    .venv/bin/python benchmarks/score_identity.py [--ref REF] [--data ../shared/data]
        [--rows 30000]

Why: speed work on the scorer (FastVader, the cue and n-gram passes, the batch pipeline)
must not move a single score; the unit tests pin VADER and the features on samples, this
checks the whole output on the dev data. The scoring code of `--ref` is exported with
`git archive` into a temporary folder and both versions score the same CSVs (the airline dev
file as it is, and its texts repeated to `--rows` rows so the pool runs many chunks with
warm caches), each in its own interpreter. `--ref` defaults to where this branch left main
(`git merge-base HEAD main`). The outputs must be identical files, or, when the ref writes
other columns (main gained `topic` columns), identical in every column both write; on a
difference the first differing rows are printed and the exit status is 1.

The comparison is only meaningful for changes meant to be output-neutral: a change to the
care model or the urgency rules moves scores on purpose.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("carewatch", "listener", "storage", "responders", "dashboard", "sandbox")
SCORE = (
    "import sys\n"
    "from listener.scoring.batch import score_csv\n"
    "import listener.scoring.batch as b\n"
    "assert b.__file__.startswith(sys.argv[1]), b.__file__\n"
    "score_csv(sys.argv[2], sys.argv[3], progress=False)\n"
)


def export_ref(ref: str, dest: Path) -> None:
    """The importable packages of `ref`, as committed, in `dest`."""
    present = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", ref],
                             check=True, capture_output=True, text=True).stdout.split()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, *[p for p in PACKAGES if p in present]],
        check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


def score(tree: Path, src: Path, out: Path) -> None:
    """Score `src` into `out` with the scoring code under `tree`, in a fresh interpreter."""
    subprocess.run([sys.executable, "-c", SCORE, str(tree), str(src), str(out)],
                   check=True, cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin"})


def compare(a: Path, b: Path, limit: int = 5) -> list[str]:
    """The first rows that differ in a column both files have (none: the same output)."""
    with a.open(newline="", encoding="utf-8") as fa, b.open(newline="", encoding="utf-8") as fb:
        ra, rb = csv.reader(fa), csv.reader(fb)
        ha, hb = next(ra), next(rb)
        common = [c for c in hb if c in ha]
        ia, ib = [ha.index(c) for c in common], [hb.index(c) for c in common]
        shown: list[str] = []
        for n, (row_a, row_b) in enumerate(itertools.zip_longest(ra, rb), 2):
            va = [row_a[i] for i in ia] if row_a is not None else None
            vb = [row_b[i] for i in ib] if row_b is not None else None
            if va != vb:
                shown.append(f"  row {n}: ref {va and va[-5:]} | now {vb and vb[-5:]}")
                if len(shown) >= limit:
                    break
    return shown


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default=None, help="default: git merge-base HEAD main")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--rows", type=int, default=30_000)
    args = ap.parse_args()
    ref = args.ref or subprocess.run(["git", "-C", str(ROOT), "merge-base", "HEAD", "main"],
                                     check=True, capture_output=True, text=True).stdout.strip()
    airline = args.data / "airline_dev.csv"
    if not airline.exists():
        print(f"skipped: {airline} is absent (the shared dev data is not in this checkout)")
        return 0
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        ref_tree = tmp / "ref"
        ref_tree.mkdir()
        export_ref(ref, ref_tree)
        with airline.open(newline="", encoding="utf-8") as fh:
            texts = [row["text"] for row in csv.DictReader(fh)]
        repeated = tmp / "repeated.csv"
        with repeated.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text"])
            writer.writerows([t] for t in (texts * (args.rows // len(texts) + 1))[:args.rows])
        failed = False
        for src in (airline, repeated):
            ref_out, now_out = tmp / f"ref_{src.name}", tmp / f"now_{src.name}"
            score(ref_tree, src, ref_out)
            score(ROOT, src, now_out)
            same = ref_out.read_bytes() == now_out.read_bytes()
            diffs = [] if same else compare(ref_out, now_out)
            verdict = ("identical" if same else "same in the shared columns" if not diffs
                       else "DIFFERENT")
            print(f"{src.name}: {verdict} to {ref[:12]}")
            if diffs:
                failed = True
                print("\n".join(diffs))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
