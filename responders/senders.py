"""Finding a platform's sender: `responders/<module>.py` exposes its class as `SENDER`, under
the module name the platform's spec gives, so a new platform adds a module here and no
branch in the outbox or the queue."""

from __future__ import annotations

import importlib

from carewatch.platforms import all_specs, spec_for
from carewatch.settings import Settings
from responders.base import Sender


def sender_class(platform: str) -> type[Sender]:
    """The sender class of `platform` (a `Platform` or its stored value)."""
    module = importlib.import_module(f"responders.{spec_for(platform).module}")
    sender: type[Sender] = module.SENDER
    return sender


def default_senders(settings: Settings) -> dict[str, Sender]:
    """One sender per known platform, each building its client on first use."""
    return {spec.platform.value: sender_class(spec.platform)(settings)
            for spec in all_specs()}
