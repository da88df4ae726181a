"""Where an audited action came from, stamped on every audit row written meanwhile.

The CLI's `--as NAME` acts under a user's name without their password; the audit log must
say so, whichever part of carewatch writes the row (responders, alerts, exports, users). The
shell marks the origin once (`mark_via("cli --as")`) and the `audit_log` insert hook in
`storage.models` adds it as `details["via"]`, so no audit writer can leave it out. The mark
lives in a context variable: it ends with the `contextvars` context it was set in (the CLI
runs each command in its own), and never reaches other threads' work.
"""

from __future__ import annotations

from contextvars import ContextVar

_VIA: ContextVar[str | None] = ContextVar("carewatch_audit_via", default=None)


def current_via() -> str | None:
    """The origin audit rows written now are stamped with, or None."""
    return _VIA.get()


def mark_via(origin: str) -> None:
    """Stamp every audit row written from now on in this context with `details["via"]`."""
    _VIA.set(origin)
