"""`carewatch export mentions|audit`: the analysts' streamed export.

Flags are validated before the database is opened, so a bad value exits 2 with one line and
nothing is created; the work itself lives in `storage.export`, shared with the dashboard.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import typer
from sqlalchemy.exc import SQLAlchemyError

from carewatch.cli import app
from carewatch.cli.common import Failure, UsageError, app_context
from carewatch.cli.export_flags import ExportFlags, export_actor, export_flags
from storage.export import (
    AUDIT_FORMATS,
    MENTION_FORMATS,
    ExportFilter,
    export_audit,
    export_mentions,
    record_private_export,
)
from storage.export_files import DestinationError, ExportError

export_app = typer.Typer(
    help="Export mentions or the audit log to a file (streamed; safe for spreadsheets).",
    no_args_is_help=True,
)
app.add_typer(export_app, name="export")


# The options every export takes, declared once (typer reads them as parameter defaults).
def _format_option(formats: tuple[str, ...]) -> Any:
    return typer.Option(None, "--format", "-f", help=f"Output format: {'|'.join(formats)}. "
                        "Default: from the --out suffix.")


_OUT = typer.Option(None, "--out", "-o", help="File to write (replaced whole).")
_SINCE = typer.Option(None, "--since", help="Only items at or after this time (ISO 8601: "
                      "2026-11-01 or 2026-11-01T10:00:00Z; no offset = UTC).")
_UNTIL = typer.Option(None, "--until", help="Only items before this time (exclusive; same "
                      "forms as --since).")


class ExportProgress:
    """A rich progress bar on stderr, shown once the export knows its total; or nothing.

    `start` and `advance` are the `on_total` and `on_rows` callbacks of `storage.export`."""

    def __init__(self, enabled: bool, label: str) -> None:
        self.enabled = enabled
        self.label = label
        self.bar: Any = None

    def start(self, total: int) -> None:
        # Only an export that shows a bar pays for rich's progress widgets.
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TimeRemainingColumn(),
                            console=Console(stderr=True), transient=True)
        self.task = self.bar.add_task(self.label, total=total)
        self.bar.start()

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def callbacks(self) -> dict[str, Any]:
        """The keyword arguments that wire this bar into an export (none when disabled, so
        the export skips its count)."""
        return {"on_total": self.start, "on_rows": self.advance} if self.enabled else {}

    def __enter__(self) -> ExportProgress:
        return self

    def __exit__(self, *_exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()


def _run(work: Callable[..., int], flags: ExportFlags, what: str, label: str) -> None:
    """Run the export with a progress bar on a terminal, then say what it wrote. A file that
    cannot be created → UsageError; a disk or database failure → Failure (the partial file is
    already gone by then)."""
    out = str(flags.path)
    try:
        with ExportProgress(sys.stderr.isatty(), label) as bar:
            count = work(**bar.callbacks())
    except DestinationError as exc:
        raise UsageError(f"--out: {exc}") from None
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise Failure(f"could not write {out}: {exc.strerror or exc}") from None
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise Failure(f"export stopped, nothing written: database error: {reason}") from None
    typer.echo(f"exported {count:,} {what} to {out}", err=True)


@export_app.command("mentions")
def mentions(
    ctx: typer.Context,
    fmt: str | None = _format_option(MENTION_FORMATS),
    out: str | None = _OUT,
    since: str | None = _SINCE,
    until: str | None = _UNTIL,
    platform: str | None = typer.Option(None, "--platform", help="x, facebook or instagram."),
    include_private: bool = typer.Option(
        False, "--include-private",
        help="Also export private messages (direct messages); recorded in the audit log."),
    as_user: str | None = typer.Option(
        None, "--as", help="Who the audit log names for --include-private (default: the "
                           "operating-system user)."),
) -> None:
    """Every mention (the brand's own posts excluded), oldest first, one row each; private
    messages only with --include-private."""
    flags = export_flags(fmt, out, since, until, MENTION_FORMATS, platform)
    db = app_context(ctx).database()
    actor = export_actor(as_user)

    def work(**progress: Any) -> int:
        if include_private:  # on record before the file exists
            record_private_export(db, actor=actor, target=flags.path.name,
                                  details=flags.audit_details())
        return export_mentions(db, flags.fmt, flags.path, since=flags.since,
                               until=flags.until, platform=flags.platform,
                               filters=ExportFilter(include_private=include_private),
                               **progress)

    _run(work, flags, "mentions", "exporting mentions")


@export_app.command("audit")
def audit(
    ctx: typer.Context,
    fmt: str | None = _format_option(AUDIT_FORMATS),
    out: str | None = _OUT,
    since: str | None = _SINCE,
    until: str | None = _UNTIL,
) -> None:
    """The audit log: at, actor, action, target, details (JSON), oldest first."""
    flags = export_flags(fmt, out, since, until, AUDIT_FORMATS)
    db = app_context(ctx).database()
    _run(lambda **progress: export_audit(db, flags.fmt, flags.path, since=flags.since,
                                         until=flags.until, **progress),
         flags, "audit entries", "exporting audit log")
