"""carewatch's one error vocabulary for platform calls: transient, rate-limited, token
revoked, permanent, and missing credentials.

It sits below everything else in the foundation so the platform specs can raise these errors
and `carewatch.retry` can act on them without either importing the other.
"""

from __future__ import annotations


class MissingCredentials(Exception):
    """A client was asked for without the token it needs; the message names the variable."""


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
