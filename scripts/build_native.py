"""Compile the per-mention scoring modules with Cython into `.native/` (`make install` runs it).

    .venv/bin/python scripts/build_native.py [--jobs 2]

Why: scoring every mention is the CPU cost of `carewatch score` and of the listener's fetch
worker, and Cython-compiling the unchanged pure-Python modules takes ~12% of the
instructions off `carewatch score` and ~18% off the fetch worker's scoring (callgrind, same
outputs). The .py files stay the only source: the extensions go to `.native/` (gitignored),
never beside the sources, with `manifest.json` holding the sha256 of every source file each
one was built from. `listener.scoring` loads them only while every hash still matches, so an
edited source runs as pure Python until the next build, never as a stale extension.

Compiling is optional: without Cython, without a C compiler, or on any build error this
prints one line, removes what it half built and exits 0, and scoring stays pure Python.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "listener.scoring"
SOURCE_DIR = ROOT / "listener" / "scoring"
OUT = ROOT / ".native"
LOG = OUT / "build.log"
# The modules each mention goes through, in `Scorer.score_many` and the fetch worker.
# `batch.py` (CSV reading, the process pool) and the care model's numpy path gain nothing.
MODULES = ("rounding", "features", "vader_fast", "urgency", "sentiment", "language", "scorer")


def sources(module: str) -> dict[str, str]:
    """The files a module's extension is built from, name → sha256: its .py and, when
    present, the augmenting .pxd that gives Cython static types."""
    found = {}
    for suffix in (".py", ".pxd"):
        path = SOURCE_DIR / f"{module}{suffix}"
        if path.exists():
            found[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def build(jobs: int) -> None:
    """Cythonize and compile into a temporary directory, then swap it in as `.native/`, so
    a failed build never leaves a partial one behind."""
    from Cython import __version__ as cython_version
    from Cython.Build import cythonize
    from setuptools import Extension, setup

    before = {m: sources(m) for m in MODULES}
    with tempfile.TemporaryDirectory(prefix="carewatch-native-") as tmp:
        staged = Path(tmp) / "out"
        extensions = [
            Extension(f"{PACKAGE}.{m}", [str(SOURCE_DIR / f"{m}.py")]) for m in MODULES
        ]
        modules = cythonize(
            extensions,
            build_dir=str(Path(tmp) / "c"),
            compiler_directives={"language_level": 3},
            nthreads=jobs,
            quiet=True,
        )
        cwd = Path.cwd()
        os.chdir(tmp)  # away from the project's pyproject.toml, which setup() would read
        try:
            setup(
                name="carewatch-native",
                ext_modules=modules,
                script_args=["--quiet", "build_ext", "--build-lib", str(staged),
                             "--build-temp", str(Path(tmp) / "obj"), "--parallel", str(jobs)],
            )
        finally:
            os.chdir(cwd)
        if {m: sources(m) for m in MODULES} != before:
            raise RuntimeError("a source changed during the build")
        package_dir = staged.joinpath(*PACKAGE.split("."))
        manifest = {
            "python": f"{sys.version_info.major}.{sys.version_info.minor}",
            "cython": cython_version,
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "modules": before,
        }
        (package_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        shutil.rmtree(OUT, ignore_errors=True)
        shutil.move(str(package_dir), OUT)


@contextlib.contextmanager
def output_to(path: Path):  # type: ignore[no-untyped-def]
    """Send this process's stdout and stderr, the C compiler's included, to `path`: a
    failed build prints one line, with the compiler's messages kept in the log."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("wb") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    start = time.monotonic()
    shutil.rmtree(OUT, ignore_errors=True)
    if importlib.util.find_spec("Cython") is None:
        print("native scoring: Cython is not installed; scoring stays pure Python")
        return
    log = Path(tempfile.mkstemp(prefix="carewatch-native-", suffix=".log")[1])
    try:
        with output_to(log):
            build(args.jobs)
    except BaseException as exc:  # distutils reports a compiler error as SystemExit
        shutil.rmtree(OUT, ignore_errors=True)
        OUT.mkdir()
        shutil.move(str(log), LOG)
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        print(f"native scoring: build failed ({reason}; see {LOG.relative_to(ROOT)}); "
              "scoring stays pure Python")
        return
    shutil.move(str(log), LOG)
    print(f"native scoring: compiled {len(MODULES)} modules into {OUT.relative_to(ROOT)}/ "
          f"in {time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main()
