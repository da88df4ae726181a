"""`X-Hub-Signature-256`: Meta signs each delivery's raw body with the app secret."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Hub-Signature-256"


def sign(app_secret: str, raw: bytes) -> str:
    """The header value Meta sends with `raw`: `sha256=` + hex HMAC-SHA256."""
    return "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()


def signature_ok(app_secret: str, raw: bytes, header: str | None) -> bool:
    """Whether `header` signs `raw` under `app_secret` (constant-time comparison, so the
    answer time says nothing about how much of a forged signature was right)."""
    if not header:
        return False
    return hmac.compare_digest(sign(app_secret, raw).encode(), header.strip().encode())
