"""Scoring: care-tuned sentiment, language and explainable urgency for one mention or many.

`Scorer` (in `listener.scoring.scorer`) is what the listener, the CLI and the dashboard call;
batch scoring of a CSV is `listener.scoring.batch`. This package only re-exports: no module
inside it imports the package itself, so there is no import cycle.

Compiled mode: `make install` Cython-compiles the per-mention modules from these very .py
files into `.native/` at the repository root (`scripts/build_native.py`). Before any
submodule is imported, that directory goes in front of this package's `__path__` only when
its manifest's sha256 of every source still matches the file here, so an edited module never
runs as a stale extension; `CAREWATCH_PURE_PYTHON=1` forces the .py files. Both modes give
identical scores (tests/scoring/test_native.py); `mode()` says which one is running.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

NATIVE_DIR = Path(__file__).resolve().parents[2] / ".native"


def _native_reason(native: Path, here: Path) -> str | None:
    """None when `native` holds an extension, built for this Python, of every module its
    manifest lists, from sources byte-identical to the ones in `here`; else why not."""
    if os.environ.get("CAREWATCH_PURE_PYTHON", "") not in ("", "0"):
        return "CAREWATCH_PURE_PYTHON is set"
    try:
        manifest = json.loads((native / "manifest.json").read_text())
    except (OSError, ValueError):
        return "not built (make install)"
    if manifest.get("python") != f"{sys.version_info.major}.{sys.version_info.minor}":
        return "built for another Python"
    modules = manifest.get("modules") or {}
    for entry in native.iterdir():  # e.g. copied in by hand: never load what was not checked
        if entry.name.endswith(tuple(EXTENSION_SUFFIXES)) and \
                entry.name.partition(".")[0] not in modules:
            return f"{entry.name} is not in the manifest"
    for module, files in modules.items():
        if not any((native / f"{module}{s}").exists() for s in EXTENSION_SUFFIXES):
            return f"{module} not built"
        # A .pxd added since the build changes the extension too, so it must be listed.
        expected = {f"{module}{s}" for s in (".py", ".pxd") if (here / f"{module}{s}").exists()}
        if set(files) != expected:
            return f"{module}: sources changed since the build"
        for name, digest in files.items():
            if hashlib.sha256((here / name).read_bytes()).hexdigest() != digest:
                return f"{module}: {name} changed since the build"
    return None if modules else "empty manifest"


_PURE_REASON = _native_reason(NATIVE_DIR, Path(__file__).resolve().parent)
if _PURE_REASON is None:
    __path__.insert(0, str(NATIVE_DIR))


def mode() -> str:
    """'compiled' or 'pure (<why>)': what this process scores with, for benchmarks and logs."""
    return "compiled" if compiled() else f"pure ({_PURE_REASON or 'extensions not loaded'})"


def compiled() -> bool:
    """True when the per-mention modules run as Cython extensions (see the module doc):
    the extensions actually imported, not only the manifest accepted."""
    scorer = sys.modules.get(f"{__name__}.scorer")
    return _PURE_REASON is None and Path(getattr(scorer, "__file__", "")).parent == NATIVE_DIR


from listener.scoring.scorer import Scorer  # noqa: E402 — after `__path__` is settled
from listener.scoring.urgency import REASONS  # noqa: E402

__all__ = ["NATIVE_DIR", "REASONS", "Scorer", "compiled", "mode"]
