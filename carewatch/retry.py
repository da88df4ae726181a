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

import facebook
import requests
import tweepy

from carewatch.log import get_logger

T = TypeVar("T")
log = get_logger(__name__)

GRAPH_TRANSIENT_CODES = {1, 2, 341}
GRAPH_RATE_LIMIT_CODES = {4, 17, 32, 613, 80001, 80002, 80004, 80005, 80006}
GRAPH_TOKEN_CODES = {190, 102}


class PlatformError(Exception):
    """A platform call failed; the message is one line an agent or admin understands."""

    def __init__(self, message: str, *, code: int | str | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientError(PlatformError):
    """Worth retrying: a 5xx, a timeout, a transient Graph error, a malformed body."""


class RateLimited(TransientError):
    """The platform asked us to wait until `reset_at` (epoch seconds)."""

    def __init__(self, message: str, *, reset_at: float, code: int | str | None = 429) -> None:
        super().__init__(message, code=code)
        self.reset_at = reset_at


class TokenRevoked(PlatformError):
    """The token was revoked or expired; nothing will work until someone reconnects."""


class PermanentError(PlatformError):
    """Retrying cannot help (bad request, object deleted, already replied, ...)."""


def _graph_error_fields(exc: facebook.GraphAPIError) -> dict[str, Any]:
    result = getattr(exc, "result", None)
    if isinstance(result, dict) and isinstance(result.get("error"), dict):
        error: dict[str, Any] = result["error"]
        return error
    return {"code": getattr(exc, "code", None), "message": str(exc)}


def classify(exc: BaseException, *, platform: str, account: str = "",
             now: Callable[[], float] = time.time) -> PlatformError:
    """Translate a client library's exception into carewatch's small error vocabulary."""
    if isinstance(exc, PlatformError):
        return exc
    who = f" for {account}" if account else ""
    if isinstance(exc, tweepy.TooManyRequests):
        reset = float(exc.reset_time) if exc.reset_time else now() + 60.0
        return RateLimited(f"X rate limit reached{who}; resets at {int(reset)}", reset_at=reset)
    if isinstance(exc, tweepy.Unauthorized):
        return TokenRevoked(
            f"X rejected the token{who} (401 Unauthorized): it was revoked or is wrong; "
            "create a new token in the X developer portal and set CAREWATCH_X_BEARER_TOKEN "
            "(or the CAREWATCH_X_ACCESS_TOKEN* keys), then restart carewatch",
            code=401,
        )
    if isinstance(exc, tweepy.TwitterServerError):
        return TransientError(f"X server error {exc.response.status_code}{who}",
                              code=exc.response.status_code)
    if isinstance(exc, tweepy.HTTPException):
        detail = "; ".join(str(m) for m in (exc.api_messages or [])) or exc.response.reason
        return PermanentError(f"X refused the request{who} ({exc.response.status_code}): "
                              f"{detail}", code=exc.response.status_code)
    if isinstance(exc, facebook.GraphAPIError):
        err = _graph_error_fields(exc)
        code = err.get("code")
        message = str(err.get("message") or exc)
        if code in GRAPH_TOKEN_CODES:
            return TokenRevoked(
                f"Graph API rejected the page token{who} (code {code}): {message}; "
                "generate a new page access token for the page and set "
                "CAREWATCH_FB_PAGE_TOKEN, then restart carewatch",
                code=code,
            )
        if code in GRAPH_RATE_LIMIT_CODES:
            return RateLimited(f"Graph API rate limit{who} (code {code}): {message}",
                               reset_at=now() + 60.0, code=code)
        if code in GRAPH_TRANSIENT_CODES or err.get("is_transient"):
            return TransientError(f"Graph API transient error{who} (code {code}): {message}",
                                  code=code)
        if code is None and "Maintype" in message:
            return TransientError(f"Graph API sent an unreadable response{who}")
        return PermanentError(f"Graph API error{who} (code {code}): {message}", code=code)
    if isinstance(exc, requests.Timeout):
        return TransientError(f"{platform} did not answer in time{who}")
    if isinstance(exc, requests.ConnectionError):
        return TransientError(f"cannot connect to {platform}{who}")
    if isinstance(exc, json.JSONDecodeError | requests.exceptions.JSONDecodeError
                  | ValueError | KeyError):
        return TransientError(f"{platform} sent a malformed response{who}")
    return PermanentError(f"{platform} call failed{who}: {type(exc).__name__}")


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
        sleep(min(remaining, 0.5))
