"""Structured logging (structlog) that never carries secrets.

Logs go to stderr as `key=value` lines (JSON with CAREWATCH_LOG_JSON=1). A processor masks any
value that looks like a token, and every configured secret is replaced wherever it appears.
structlog itself is imported on the first log call, so a command that logs nothing (batch
scoring of a CSV) does not pay for it at start-up.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

_SECRETS: set[str] = set()
_TOKENISH = re.compile(
    r"(?i)(access_token|bearer|oauth_token|oauth_signature|token|secret|password)"
    r"([\"']?\s*[=:]\s*[\"']?|\s+)([A-Za-z0-9._~+/%-]{6,})"
)
# `scheme://user:password@host`: the password of any URL, whatever it belongs to.
_URL_PASSWORD = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@")


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember secret values so that no log line ever prints them."""
    for value in values:
        if value and len(value) >= 4:
            _SECRETS.add(value)


def scrub(text: str) -> str:
    """`text` with every known secret, the password of any URL, and anything shaped like a
    credential masked."""
    for secret in sorted(_SECRETS, key=len, reverse=True):  # a URL before its own path
        if secret in text:
            text = text.replace(secret, "***")
    text = _URL_PASSWORD.sub(r"\1***@", text)
    return _TOKENISH.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


def _scrub_event(_logger: Any, _name: str,
                 event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Runs after `format_exc_info`, so a traceback (`exception`) is scrubbed like any other
    value: a secret in an exception's message never reaches the output. Tracebacks are
    rendered without local variables, so a secret held in a local is never printed."""
    for key, value in list(event.items()):
        if isinstance(value, str):
            event[key] = scrub(value)
        elif isinstance(value, BaseException):
            event[key] = scrub(str(value))
    return event


class _ScrubFilter(logging.Filter):
    """On every root handler, for the standard-library loggers (uvicorn, APScheduler,
    SQLAlchemy, ...): their messages and tracebacks are scrubbed the same way, whatever
    formatter the handler uses."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


_SCRUB_FILTER = _ScrubFilter()


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is now, so a replaced stream (tests, daemons) is
    honoured instead of the one that was current when logging was configured."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_STATE: dict[str, Any] = {"level": logging.INFO, "pending": True}


def configure_logging(level: str | None = None) -> None:
    level_name = (level or os.environ.get("CAREWATCH_LOG_LEVEL", "INFO")).upper()
    numeric = getattr(logging, level_name, logging.INFO)
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_SCRUB_FILTER)  # once: a filter already there is not added again
    for noisy in ("urllib3", "tweepy", "apscheduler", "uvicorn.access", "httpx", "alembic"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    _STATE["level"] = numeric
    _STATE["pending"] = True
    if "structlog" in sys.modules:
        _configure_structlog()


def _configure_structlog() -> None:
    import structlog

    _STATE["pending"] = False
    numeric = _STATE["level"]
    renderer: Any = (structlog.processors.JSONRenderer() if os.environ.get("CAREWATCH_LOG_JSON")
                     else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _scrub_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # One write per line, newline included: `print` (PrintLogger) writes the message and
        # its newline in two calls, and stderr writes each through at once, so another
        # process on the same file (the fetch worker beside its listener, several
        # processes on one log) could land its line in between: two events on one line,
        # which a JSON reader of the log drops both of.
        logger_factory=structlog.WriteLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def load_now() -> None:
    """Import and configure structlog now. Long-running commands call this before they
    install signal handlers: a handler that logs while the lazy import is half done would
    find a partially initialised module."""
    if _STATE["pending"]:
        _configure_structlog()


class _LazyLogger:
    """A structlog logger that imports and configures structlog on first use."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        import structlog

        if _STATE["pending"]:
            _configure_structlog()
        return getattr(structlog.get_logger(self._name), attr)


def get_logger(name: str) -> Any:
    return _LazyLogger(name)
