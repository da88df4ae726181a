"""Compiled scoring (`.native/`, built by `make install`) is the pure-Python scoring, faster.

Why: the Cython extensions are built from the very .py files, but a compiler reading type
annotations (`float` locals become C doubles, tuples of floats C structs) could still move a
score, so the two modes are compared in separate interpreters, `CAREWATCH_PURE_PYTHON=1`
on the pure side, on the dev tweets and a seeded fuzz of rule-heavy sentences, through
every entry point (`score`, `score_levels`, `score_many`, `rescore_urgency`, and
`score_csv`'s forked pool). A build whose sources changed must never load, and on a machine
with Cython and a C compiler `make install` must leave the compiled mode on, so a build that
silently broke fails here instead of quietly costing a third of the speed.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from listener import scoring
from listener.scoring.urgency import DEFAULT_KEYWORDS

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT.parent / "shared" / "data" / "airline_dev.csv"

# Scores every text through each entry point and prints one JSON document: the mode and
# the repr of every Score (repr keeps every float digit).
PROBE = r"""
import csv, json, sys
from listener import scoring
from listener.scoring import Scorer
from listener.scoring.batch import score_csv

texts = json.load(open(sys.argv[1], encoding="utf-8"))
s = Scorer()
out = [repr(x) for x in s.score_many(texts)]
for i, t in enumerate(texts):
    kw = dict(followers=(None, 40, 250_000)[i % 3], engagement=i % 50,
              waiting_minutes=(None, 5.0, 95.5, 2000.0)[i % 4], lang=(None, "en", "es")[i % 3])
    one = s.score(t, repeat_contacts=i % 4, echo=i % 17 == 0, **kw)
    out.append(repr(one))
    out.extend(map(repr, s.score_levels(t, repeat_contacts=(0, 1, 3), **kw)))
    out.append(repr(s.rescore_urgency(one, t, followers=kw["followers"],
                                      waiting_minutes=kw["waiting_minutes"], repeat_contacts=2)))
with open(sys.argv[2], "w", newline="", encoding="utf-8") as fh:
    w = csv.writer(fh)
    w.writerow(["id", "text"])
    w.writerows(enumerate(texts))
score_csv(sys.argv[2], sys.argv[3], workers=2, progress=False, chunk_size=500)
print(json.dumps({"mode": scoring.mode(), "scores": out}))
"""

WORDS = ["not", "never", "very", "extremely", "kind of", "barely", "but", "although",
         "GREAT", "terrible", "love", "hate", "awful", "thanks", "thank you", "sorry",
         "worst", "best", "ok", "meh", "no", "yes", "lol", "sucks", "amazing", "rude",
         "happy", "angry", "😡", "🙏", ":)", ":(", "!!!", "?", "??", "...", "@united",
         "@AmericanAir", "#fail", "http://t.co/abc", "my", "flight", "the", "I", "you",
         "el vuelo", "muy malo", "gracias", "정말", "최악", "감사합니다", "2 hrs", "3 days"]
PHRASES = [p.replace("*", "ed") for ps in DEFAULT_KEYWORDS.values() for p in ps]


def fuzz(n: int = 1500, seed: int = 12) -> list[str]:
    """Sentences dense in keyword phrases, negations, boosters, contrast, caps, emoji and
    other languages: the rules and VADER's special cases, where a typed build could differ."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        parts = [rng.choice(PHRASES if rng.random() < 0.4 else WORDS)
                 for _ in range(rng.randint(1, 16))]
        text = " ".join(parts)
        texts.append(text.upper() if rng.random() < 0.1 else text)
    return [*texts, "", " ", "!!!", "@united", "NOT BAD", "not good!!! but ok"]


def dev_texts() -> list[str]:
    with DEV.open(newline="", encoding="utf-8") as fh:
        return [row["text"] for row in csv.DictReader(fh)]


def run_probe(texts: list[str], tmp: Path, *, pure: bool, pythonpath: Path | None = None
              ) -> tuple[dict[str, object], bytes]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "in.json").write_text(json.dumps(texts), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "CAREWATCH_PURE_PYTHON"}
    if pure:
        env["CAREWATCH_PURE_PYTHON"] = "1"
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp / "in.json"), str(tmp / "in.csv"),
         str(tmp / "out.csv")],
        env=env, capture_output=True, text=True, timeout=600, cwd=tmp, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1]), (tmp / "out.csv").read_bytes()


def can_build() -> bool:
    """Cython importable and a C compiler present: what `make install` needs to compile."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return importlib.util.find_spec("Cython") is not None and shutil.which(cc) is not None


def test_make_install_left_the_compiled_mode_on() -> None:
    if not can_build():
        pytest.skip("no Cython or no C compiler here: scoring is pure Python by design")
    if os.environ.get("CAREWATCH_PURE_PYTHON", "") not in ("", "0"):
        pytest.skip("CAREWATCH_PURE_PYTHON is set for this run")
    assert scoring.compiled(), f"scoring is {scoring.mode()}: run `make install` and see " \
        f"{scoring.NATIVE_DIR / 'build.log'}"
    from listener.scoring import features, sentiment
    assert Path(features.__file__).parent == scoring.NATIVE_DIR
    assert sentiment.MODEL_PATH.is_file()  # found beside the .py, not beside the extension


@pytest.mark.parametrize("source", ["fuzz", "dev"])
def test_compiled_and_pure_give_identical_scores(source: str, tmp_path: Path) -> None:
    if not scoring.compiled():
        pytest.skip(f"scoring is {scoring.mode()}; the mode test says whether it should be")
    if source == "dev" and not DEV.exists():
        pytest.skip(f"{DEV} is absent")
    texts = fuzz() if source == "fuzz" else dev_texts()
    compiled, compiled_csv = run_probe(texts, tmp_path / "compiled", pure=False)
    pure, pure_csv = run_probe(texts, tmp_path / "pure", pure=True)
    assert compiled["mode"] == "compiled"
    assert str(pure["mode"]).startswith("pure (CAREWATCH_PURE_PYTHON")
    assert len(compiled["scores"]) == len(pure["scores"]) > len(texts)  # type: ignore[arg-type]
    diff = [(i, a, b) for i, (a, b) in
            enumerate(zip(compiled["scores"], pure["scores"], strict=True)) if a != b]  # type: ignore[call-overload]
    assert not diff, f"{len(diff)} scores differ, first: {diff[:3]}"
    assert compiled_csv == pure_csv


def copy_package(dest: Path) -> Path:
    """`listener/scoring` and `.native/` copied into `dest`, laid out as in the repository."""
    pkg = dest / "listener"
    shutil.copytree(ROOT / "listener" / "scoring", pkg / "scoring",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "__init__.py").write_bytes((ROOT / "listener" / "__init__.py").read_bytes())
    shutil.copytree(scoring.NATIVE_DIR, dest / ".native")
    return dest


MODE = "from listener import scoring; print(scoring.__file__, scoring.mode())"


def mode_of(pythonpath: Path, **env: str) -> str:
    full = {k: v for k, v in os.environ.items() if k != "CAREWATCH_PURE_PYTHON"}
    full.update(env, PYTHONPATH=str(pythonpath))
    done = subprocess.run([sys.executable, "-c", MODE], env=full, capture_output=True,
                          text=True, timeout=120, check=True, cwd=pythonpath)
    where, _, mode = done.stdout.strip().partition(" ")
    assert where.startswith(str(pythonpath)), where  # the copy ran, not the repository
    return mode


def test_a_stale_build_never_loads(tmp_path: Path) -> None:
    """Each change since the build turns the copy to pure Python, and undoing it back."""
    if not scoring.compiled():
        pytest.skip(f"scoring is {scoring.mode()}: no build to go stale")
    root = copy_package(tmp_path)
    assert mode_of(root) == "compiled"  # the copy itself is loadable...
    assert mode_of(root, CAREWATCH_PURE_PYTHON="1") == "pure (CAREWATCH_PURE_PYTHON is set)"
    urgency = root / "listener" / "scoring" / "urgency.py"
    urgency.write_text(urgency.read_text() + "\n# edited after the build\n")
    assert mode_of(root) == "pure (urgency: urgency.py changed since the build)"
    urgency.write_text(urgency.read_text().removesuffix("\n# edited after the build\n"))
    (root / "listener" / "scoring" / "features.pxd").write_text("# new static types\n")
    assert mode_of(root) == "pure (features: sources changed since the build)"
    (root / "listener" / "scoring" / "features.pxd").unlink()
    assert mode_of(root) == "compiled"
    # an extension the manifest does not vouch for (left over, copied in) is never loaded
    built = next(p for p in (root / ".native").iterdir() if p.name.startswith("features."))
    stray = built.with_name(built.name.replace("features", "batch", 1))
    shutil.copy(built, stray)
    assert mode_of(root) == f"pure ({stray.name} is not in the manifest)"


def test_no_build_is_pure(tmp_path: Path) -> None:
    """A fresh clone, or an install whose build failed, scores in pure Python."""
    if not scoring.NATIVE_DIR.exists():
        pytest.skip("no .native/ to copy")
    root = copy_package(tmp_path)
    (root / ".native" / "manifest.json").unlink()
    assert mode_of(root) == "pure (not built (make install))"
