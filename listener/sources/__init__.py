"""The listener's sources, one module per platform, all with the same `poll(cursor)` face.

A new platform is one module here plus a branch in `build_source`; the ingestor and the
scheduler do not change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from carewatch.domain import Platform
from carewatch.settings import Settings, SourceConfig
from listener.sources.base import BaseSource, Source

__all__ = ["BaseSource", "Source", "build_source"]


def build_source(config: SourceConfig, settings: Settings, *,
                 should_stop: Callable[[], bool] | None = None,
                 now: Callable[[], datetime] | None = None) -> BaseSource:
    """The source for one configured entry, with its real platform client.

    Raises `carewatch.platform_clients.MissingCredentials` (naming the variable) when the
    platform's token is not set.
    """
    if config.platform is Platform.X:
        from listener.sources.x import XSource

        return XSource(config, settings, should_stop=should_stop, now=now)
    if config.platform is Platform.FACEBOOK:
        from listener.sources.facebook import FacebookSource

        return FacebookSource(config, settings, should_stop=should_stop, now=now)
    if config.platform is Platform.INSTAGRAM:
        from listener.sources.instagram import InstagramSource

        return InstagramSource(config, settings, should_stop=should_stop, now=now)
    raise ValueError(f"no listener for platform {config.platform!r}")
