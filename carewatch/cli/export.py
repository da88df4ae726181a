"""`carewatch export mentions|audit`: the analysts' streamed export.

Flags are validated before the database is opened, so a bad value exits 2 with one line and
nothing is created; the work itself lives in `storage.export`, shared with the dashboard.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer
from sqlalchemy.exc import SQLAlchemyError

from carewatch.cli import app
from carewatch.cli.common import Failure, UsageError, app_context
from storage.export import (
    AUDIT_FORMATS,
    MENTION_FORMATS,
    ExportError,
    check_out_path,
    check_range,
    export_audit,
    export_mentions,
    parse_format,
    parse_platform,
    parse_time,
)

export_app = typer.Typer(
    help="Export mentions or the audit log to a file (streamed; safe for spreadsheets).",
    no_args_is_help=True,
)
app.add_typer(export_app, name="export")

_FORMAT_HELP = "Output format: {}. Default: from the --out suffix."
_SINCE = "Only items at or after this time (ISO 8601: 2026-11-01 or 2026-11-01T10:00:00Z; "
_SINCE += "no offset = UTC)."
_UNTIL = "Only items before this time (exclusive; same forms as --since)."


def _summary(count: int, what: str, out: str) -> None:
    typer.echo(f"exported {count:,} {what} to {out}", err=True)


def _run(work: Callable[[], int], out: str) -> int:
    """Run the export; bad input → UsageError, a disk or database failure → Failure (the
    partial file is already gone by then)."""
    try:
        return work()
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise Failure(f"could not write {out}: {exc.strerror or exc}") from None
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise Failure(f"export stopped, nothing written: database error: {reason}") from None


@export_app.command("mentions")
def mentions(
    ctx: typer.Context,
    fmt: str | None = typer.Option(None, "--format", "-f",
                                   help=_FORMAT_HELP.format("|".join(MENTION_FORMATS))),
    out: str | None = typer.Option(None, "--out", "-o", help="File to write (replaced whole)."),
    since: str | None = typer.Option(None, "--since", help=_SINCE),
    until: str | None = typer.Option(None, "--until", help=_UNTIL),
    platform: str | None = typer.Option(None, "--platform", help="x, facebook or instagram."),
) -> None:
    """Every mention (the brand's own posts excluded), oldest first, one row each."""
    try:
        kind = parse_format(fmt, out, MENTION_FORMATS)
        start, end = parse_time(since, "--since"), parse_time(until, "--until")
        check_range(start, end)
        plat = parse_platform(platform)
        path = check_out_path(out)
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    db = app_context(ctx).database()
    count = _run(lambda: export_mentions(db, kind, path, since=start, until=end,
                                         platform=plat, progress=sys.stderr.isatty()), str(out))
    _summary(count, "mentions", str(out))


@export_app.command("audit")
def audit(
    ctx: typer.Context,
    fmt: str | None = typer.Option(None, "--format", "-f",
                                   help=_FORMAT_HELP.format("|".join(AUDIT_FORMATS))),
    out: str | None = typer.Option(None, "--out", "-o", help="File to write (replaced whole)."),
    since: str | None = typer.Option(None, "--since", help=_SINCE),
    until: str | None = typer.Option(None, "--until", help=_UNTIL),
) -> None:
    """The audit log: at, actor, action, target, details (JSON), oldest first."""
    try:
        kind = parse_format(fmt, out, AUDIT_FORMATS)
        start, end = parse_time(since, "--since"), parse_time(until, "--until")
        check_range(start, end)
        path = check_out_path(out)
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    db = app_context(ctx).database()
    count = _run(lambda: export_audit(db, kind, path, since=start, until=end,
                                      progress=sys.stderr.isatty()), str(out))
    _summary(count, "audit entries", str(out))
