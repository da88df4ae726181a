"""The listener's sources, one module per platform, all with the same `poll(cursor)` face.

Each platform's module is found by the name its spec gives (`PlatformSpec.module`) and maps
the platform's source kinds to classes in `SOURCES`; a new platform or source kind needs no
change here, in the ingestor or in the scheduler.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime
from types import ModuleType

from carewatch.platforms import spec_for
from carewatch.settings import Settings, SourceConfig
from listener.sources.base import BaseSource, Source

__all__ = ["BaseSource", "Source", "build_source"]


def source_module(config: SourceConfig) -> ModuleType:
    """The module of the config's platform (`listener.sources.x`, ...), imported.

    The listener imports it before it forks a fetch worker: a child forked while another
    thread of the parent was importing the same module (tweepy, by the responder's first
    send) inherits that import's lock held and waits on it forever, a poll that never ends."""
    return importlib.import_module(f"{__name__}.{spec_for(config.platform).module}")


def build_source(config: SourceConfig, settings: Settings, *,
                 should_stop: Callable[[], bool] | None = None,
                 now: Callable[[], datetime] | None = None) -> BaseSource:
    """The source for one configured entry, with its real platform client.

    Raises `carewatch.errors.MissingCredentials` (naming the variable) when the platform's
    token is not set.
    """
    module = source_module(config)
    sources: dict[str, type[BaseSource]] = module.SOURCES
    kind = config.kind or ""
    if kind not in sources:
        raise ValueError(f"no listener for {config.platform.value} sources of kind {kind!r}")
    return sources[kind](config, settings, should_stop=should_stop, now=now)
