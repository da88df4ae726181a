"""The import graph: no cycles anywhere, and every foundation module under the layer contract.

`lint-imports` (in `make lint`) checks the layers declared in pyproject.toml. It cannot see
two things this file checks: a cycle between a package and its own submodule (its
`acyclic_siblings` contract compares siblings only), and a foundation module missing from the
contract's explicit list (the shell lives inside `carewatch`, so the foundation cannot be
named as the one package `carewatch`).
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("carewatch", "storage", "listener", "responders", "dashboard", "sandbox")
SHELL = {"carewatch.cli", "carewatch.__main__"}


@cache
def graph() -> grimp.ImportGraph:
    """Every import of the product, module-level and inside functions alike."""
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def layers_contract() -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["id"] == "layers")


def layer_modules(layer: str) -> set[str]:
    """The modules of one layer string (`a : b`, `a | b`, optional ones in parentheses)."""
    return {name.strip().strip("()") for name in re.split(r"[:|]", layer)}


def test_no_import_cycles() -> None:
    g = graph()
    cycles = sorted(
        (importer, imported)
        for importer in g.modules
        for imported in g.find_modules_directly_imported_by(importer)
        if g.chain_exists(imported, importer)
    )
    assert cycles == [], "imports that close a cycle (importer, imported): " + repr(cycles)


def test_every_foundation_module_is_in_the_bottom_layer() -> None:
    layers = layers_contract()["layers"]
    assert isinstance(layers, list)
    foundation = layer_modules(layers[-1])
    actual = graph().find_children("carewatch") - SHELL
    assert actual - foundation == set(), "add these modules to the foundation layer"


def test_the_shell_is_the_top_layer() -> None:
    layers = layers_contract()["layers"]
    assert isinstance(layers, list)
    assert layer_modules(layers[0]) == SHELL
