"""What every source shares: the `poll(cursor) -> Iterator[Page]` face and the retry wrapper.

A source knows one platform endpoint family and nothing about storage: it turns platform
responses into `domain.Mention`s and says, with each page, which cursor follows them. The
ingestor stores a page and its cursor in one transaction, so a source must only ever hand out
a cursor that is safe to resume from once *that page* (and every earlier one) is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from carewatch.domain import Page
from carewatch.platforms import spec_for
from carewatch.retry import RetryPolicy, call_with_retry
from carewatch.settings import Settings, SourceConfig

T = TypeVar("T")


class Source(Protocol):
    """One configured thing to poll."""

    config: SourceConfig

    def poll(self, cursor: dict[str, Any]) -> Iterator[Page]:
        """Pages of mentions newer than `cursor`, each with the cursor that follows it."""
        ...


class BaseSource:
    """Shared plumbing: settings, the platform's client, retry policy, a stop flag honoured
    between calls.

    `client` is the platform's client library object; without one, the spec makes it with
    the credentials this kind of source reads with (X direct messages: the brand account's
    user context)."""

    def __init__(self, config: SourceConfig, settings: Settings, *, client: Any = None,
                 should_stop: Callable[[], bool] | None = None,
                 now: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.settings = settings
        self.spec = spec_for(config.platform)
        self.kind = self.spec.source_kind(config.kind or "")
        self.client = client or self.spec.client(settings, writing=self.kind.reads_as_user)
        self.policy = RetryPolicy.from_settings(settings)
        self.should_stop: Callable[[], bool] = should_stop or (lambda: False)
        self._now = now or (lambda: datetime.now(UTC))

    @property
    def account(self) -> str:
        """Names the source in error messages (never a token)."""
        return f"{self.kind.account_label(self.config)} (source {self.config.key})"

    def now(self) -> datetime:
        return self._now()

    def call(self, fn: Callable[[], T]) -> T:
        """One platform call under the shared retry policy."""
        return call_with_retry(fn, platform=self.spec.label,
                               policy=self.policy, account=self.account,
                               should_stop=self.should_stop)


def parse_time(value: Any) -> datetime:
    """Graph (`2026-05-01T12:00:00+0000`) and X (`...000Z`) times → aware UTC datetimes.

    X's own form (`...T12:00:00.000Z`, once a mention on the fetch worker's path) is read by
    `datetime.fromisoformat` as it is (Python 3.11 reads the `Z`), for a third of the
    general path's CPU: the same datetime with the same tzinfo (`timezone.utc`, which
    `astimezone(UTC)` returns as it is). Anything else, or anything it refuses, goes the
    general way (`_parse_any_time`)."""
    if type(value) is str and value.endswith("Z"):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return _parse_any_time(value)
        if parsed.tzinfo is UTC:
            return parsed
    return _parse_any_time(value)


def _parse_any_time(value: Any) -> datetime:
    """`parse_time` of any form it takes: a datetime, `Z`, `+0000` or `+00:00` offsets."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) >= 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())
