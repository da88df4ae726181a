"""Logs never carry a secret: not in a message, not in a traceback, not in a local variable,
not through the standard-library loggers, in the console and the JSON format alike."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from carewatch import log as carewatch_log
from carewatch.log import configure_logging, get_logger, register_secrets, scrub

SECRET = "sk-live-4f1a9c2e7b"
LOCAL_ONLY = "a-local-value-3d8e"


@pytest.fixture(params=["console", "json"])
def log_format(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
               ) -> Iterator[str]:
    if request.param == "json":
        monkeypatch.setenv("CAREWATCH_LOG_JSON", "1")
    else:
        monkeypatch.delenv("CAREWATCH_LOG_JSON", raising=False)
    register_secrets([SECRET])
    configure_logging("INFO")
    carewatch_log.load_now()
    yield request.param
    monkeypatch.delenv("CAREWATCH_LOG_JSON", raising=False)
    configure_logging("INFO")
    carewatch_log.load_now()


def _fail_with_secret() -> None:
    token = SECRET  # a local holding the secret, as a client call would
    unrelated = LOCAL_ONLY
    raise RuntimeError(f"401 from https://api.example/2/users?token={token} ({len(unrelated)})")


def test_exception_tracebacks_are_scrubbed(log_format: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    log = get_logger("tests.log")
    try:
        _fail_with_secret()
    except RuntimeError:
        log.exception("poll_crashed", source="x:search", detail=f"bearer {SECRET}")
    err = capsys.readouterr().err
    assert "poll_crashed" in err
    assert "Traceback" in err
    assert "RuntimeError" in err
    assert "_fail_with_secret" in err
    assert SECRET not in err  # not from the message, the exception text or the locals
    assert LOCAL_ONLY not in err  # locals are never rendered at all


def test_stdlib_logger_messages_and_tracebacks_are_scrubbed(
        log_format: str, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    std = logging.getLogger("tests.stdlib")
    try:
        _fail_with_secret()
    except RuntimeError:
        std.exception("job failed with %s", SECRET)
    out = capsys.readouterr().err + caplog.text
    assert "job failed with ***" in caplog.text
    assert "Traceback" in caplog.text
    assert SECRET not in out


def test_scrub_hides_url_passwords_and_token_shapes() -> None:
    assert scrub("postgresql+psycopg://carewatch:hunter2@db/cw") == \
        "postgresql+psycopg://carewatch:***@db/cw"
    assert "abcdef123456" not in scrub("Authorization: Bearer abcdef123456")
    assert "hunter2" not in scrub("could not connect to smtp://mailer:hunter2@mail.example:587")


class _Writes:
    """A stderr that records each `write` call."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def write(self, text: str) -> int:
        self.calls.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_each_event_is_one_whole_line_in_one_write(log_format: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Processes sharing a log file (the listener and its fetch worker) interleave their
    writes: a line must reach the file in one write, its newline included, or another
    process's line can land between a message and its newline (two events on one line)."""
    writes = _Writes()
    monkeypatch.setattr("sys.stderr", writes)
    log = get_logger("carewatch.test")
    for n in range(3):
        log.info("poll_ended", source="x:search:q", pages=n)
    assert len(writes.calls) == 3
    for call in writes.calls:
        assert call.endswith("\n"), repr(call)
        assert call.count("\n") == 1, repr(call)
        if log_format == "json":
            assert json.loads(call)["event"] == "poll_ended"


def test_one_test_quiets_the_log_for_itself() -> None:
    """As `carewatch.cli.main` does with CAREWATCH_LOG_LEVEL=WARNING (the listener tests)."""
    configure_logging("WARNING")
    carewatch_log.load_now()


def test_the_next_test_still_logs_at_info(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs after the test above, in the same process (pytest-xdist keeps a file on one
    worker, in order): what a test's logging set-up was leaves with it
    (tests/conftest.py), so a test reading INFO lines passes whatever ran before it."""
    get_logger("tests.log").info("still_heard")
    assert "still_heard" in capsys.readouterr().err
