"""One retry policy for every platform call, reads and writes alike.

- A rate limit (X 429, Graph codes 4/17/32/613) is waited out until its reset, never earlier.
- Server errors, timeouts, transient Graph errors and malformed responses are retried with
  capped exponential backoff and jitter.
- A revoked token (X 401, Graph 190) stops at once with `TokenRevoked`, which says which
  account and how to reconnect.
- Anything else is `PermanentError`: retrying would only repeat it.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests

from carewatch.errors import (
    PermanentError,
    PlatformError,
    RateLimited,
    TokenRevoked,
    TransientError,
)
from carewatch.log import get_logger
from carewatch.platforms import all_specs

T = TypeVar("T")
log = get_logger(__name__)

#: Each client library's classifier once (Facebook and Instagram share the Graph one).
CLASSIFIERS = tuple(dict.fromkeys(spec.classify_error for spec in all_specs()))


def classify(exc: BaseException, *, platform: str, account: str = "",
             now: Callable[[], float] = time.time) -> PlatformError:
    """Translate a client library's exception into carewatch's small error vocabulary."""
    if isinstance(exc, PlatformError):
        return exc
    who = f" for {account}" if account else ""
    for classifier in CLASSIFIERS:
        error = classifier(exc, who, now)
        if error is not None:
            return error
    if isinstance(exc, requests.Timeout):
        return TransientError(f"{platform} did not answer in time{who}")
    if isinstance(exc, requests.ConnectionError):
        return TransientError(f"cannot connect to {platform}{who}")
    if isinstance(exc, json.JSONDecodeError | requests.exceptions.JSONDecodeError
                  | ValueError | KeyError):
        return TransientError(f"{platform} sent a malformed response{who}")
    return PermanentError(f"{platform} call failed{who}: {type(exc).__name__}")


def _no_progress() -> None:
    return None


#: Called at every attempt and at every step of a wait, in this process. The fetch worker
#: (listener.fetch_worker) sets it, so its watchdog can tell a source that waits out a rate
#: limit or a backoff (alive, however long) from a worker stuck on a lock (never again).
_progress: Callable[[], None] = _no_progress


def on_progress(hook: Callable[[], None] | None) -> None:
    """Call `hook` at every attempt and every step of a wait in this process (None: stop)."""
    global _progress
    _progress = hook or _no_progress


@dataclass(slots=True)
class RetryPolicy:
    """How hard to try. `max_rate_limit_wait` bounds one wait for a reset: a longer wait is
    raised as `RateLimited` so a scheduler can come back later instead of blocking."""

    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_rate_limit_wait: float = 900.0
    reset_margin: float = 1.0

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Capped exponential backoff with equal jitter: half fixed, half random."""
        ceiling = min(self.max_delay, self.base_delay * (2.0 ** max(0, attempt - 1)))
        rand = rng.random() if rng is not None else random.random()
        return ceiling / 2 + rand * ceiling / 2

    @classmethod
    def from_settings(cls, settings: Any) -> RetryPolicy:
        return cls(max_attempts=max(1, settings.max_retries),
                   max_delay=settings.max_backoff_seconds,
                   max_rate_limit_wait=settings.max_rate_limit_wait_seconds)


def call_with_retry(
    fn: Callable[[], T],
    *,
    platform: str,
    policy: RetryPolicy | None = None,
    account: str = "",
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
    should_stop: Callable[[], bool] = lambda: False,
) -> T:
    """Run `fn` under the policy; raise the classified error when it cannot succeed."""
    policy = policy or RetryPolicy()
    attempt = 0
    rate_limit_waits = 0
    while True:
        attempt += 1
        _progress()
        try:
            return fn()
        except Exception as raw:  # classified below; unknown errors become PermanentError
            error = classify(raw, platform=platform, account=account, now=now)
            if isinstance(error, TokenRevoked | PermanentError):
                raise error from raw
            if isinstance(error, RateLimited):
                wait = max(0.0, error.reset_at - now()) + policy.reset_margin
                rate_limit_waits += 1
                if (wait > policy.max_rate_limit_wait or should_stop()
                        or rate_limit_waits > policy.max_attempts * 2):
                    raise error from raw
                log.warning("rate_limited", platform=platform, wait_seconds=round(wait, 1))
                _sleep_until(now() + wait, sleep, now, should_stop)
                if should_stop():
                    raise error from raw
                # Waiting out a reset is not a failed attempt.
                attempt -= 1
                continue
            if attempt >= policy.max_attempts or should_stop():
                raise error from raw
            delay = policy.backoff(attempt)
            log.warning("retrying", platform=platform, attempt=attempt, error=str(error),
                        delay_seconds=round(delay, 2))
            _sleep_until(now() + delay, sleep, now, should_stop)


def _sleep_until(deadline: float, sleep: Callable[[float], None], now: Callable[[], float],
                 should_stop: Callable[[], bool]) -> None:
    """Sleep in short steps so a shutdown request is honoured quickly."""
    while True:
        remaining = deadline - now()
        if remaining <= 0 or should_stop():
            return
        _progress()
        sleep(min(remaining, 0.5))
