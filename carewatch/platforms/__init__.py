"""The platform registry: every platform carewatch knows, by `domain.Platform`.

A new platform is a spec module next to this one and one line in `REGISTRY`
(docs/ARCHITECTURE.md, "Adding a platform", lists the other files).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from carewatch.domain import Platform
from carewatch.platforms.base import PlatformSpec
from carewatch.platforms.graph import FACEBOOK, INSTAGRAM
from carewatch.platforms.x import X

REGISTRY: Mapping[Platform, PlatformSpec] = MappingProxyType({
    Platform.X: X,
    Platform.FACEBOOK: FACEBOOK,
    Platform.INSTAGRAM: INSTAGRAM,
})


def spec_for(platform: Platform | str) -> PlatformSpec:
    """The spec of `platform` (a `Platform` or its stored value, e.g. `"x"`)."""
    return REGISTRY[Platform(platform)]


def all_specs() -> tuple[PlatformSpec, ...]:
    """Every spec, in the order platforms are listed to users."""
    return tuple(REGISTRY.values())
