"""Where the configuration comes from, told without loading it (no pydantic import).

Why a module of its own: `carewatch.settings` imports pydantic and pydantic-settings and
builds its models at import, ~0.2 s of CPU before a command does anything, two thirds of
`carewatch score`'s start-up, which runs before its workers start. A command that needs
only a few settings can ask `defaults_only` first: with no configuration file and no
`CAREWATCH_*` variable that could set a field, every setting is its default, so the
defaults below are the settings (`carewatch.settings` declares its fields with these very
constants, and tests/cli/test_score_startup.py holds them to `Settings()`).
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CONFIG_FILE = "carewatch.toml"
DEFAULT_DATABASE_URL = "sqlite:///carewatch.db"
DEFAULT_FIRST_RESPONSE_MINUTES = 60.0
# `CAREWATCH_*` variables that are not settings: the configuration file's own name (read by
# `resolve_config_path`), logging, and the scoring mode. Any other one may set a field.
NOT_SETTINGS = frozenset({"CAREWATCH_CONFIG", "CAREWATCH_LOG_LEVEL", "CAREWATCH_LOG_JSON",
                          "CAREWATCH_PURE_PYTHON"})


def resolve_config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """The file to read: `--config`, else `$CAREWATCH_CONFIG`, else `./carewatch.toml`."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("CAREWATCH_CONFIG")
    if env:
        return Path(env)
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.exists() else None


def defaults_only(explicit: str | os.PathLike[str] | None) -> bool:
    """Whether every setting is its default: no configuration file to read and no
    environment variable that could set one (only then may a command skip loading them)."""
    if resolve_config_path(explicit) is not None:
        return False
    return all(not key.startswith("CAREWATCH_") or key in NOT_SETTINGS for key in os.environ)
