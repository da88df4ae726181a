"""What every command shares: loading settings, opening the database, failing clearly.

Commands raise `UsageError` (exit 2) for bad input and `Failure` (exit 1) for failures that
retries did not cure; `carewatch.cli.main` prints their one line on stderr, no traceback.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from carewatch.config_source import defaults_only
from carewatch.log import register_secrets

if TYPE_CHECKING:  # the database layer is imported only by commands that use it; the
    # settings (pydantic, ~0.2 s) only when a command reads them (`AppContext.settings`)
    from carewatch.settings import Settings
    from storage.db import Database


#: How audit rows written under `--as NAME` say so (`details.via`): the CLI names a user
#: without their password, so the log must not read as if they had acted themselves.
AS_VIA = "cli --as"


def acting_as(name: str) -> str:
    """`--as NAME` for the running command: returns the name its actions are recorded under
    and stamps every audit row the command writes with `details.via = "cli --as"` (`main`
    runs each command in its own context, where the mark ends)."""
    from storage.audit_origin import mark_via

    mark_via(AS_VIA)
    return name


class UsageError(Exception):
    """Bad input: a file, value, flag or reference the user can fix. Exit 2."""


class Failure(Exception):
    """Something failed even after retries. Exit 1."""


@dataclass
class AppContext:
    """Lazily loaded settings and database for one command invocation."""

    config_path: str | None = None
    _settings: Settings | None = None
    _db: Database | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from carewatch.settings import ConfigError, load_settings

            try:
                self._settings = load_settings(self.config_path)
            except ConfigError as exc:
                raise UsageError(str(exc)) from None
            register_secrets(self._settings.platform_secrets())
        return self._settings

    def defaults_only(self) -> bool:
        """Whether every setting is its default (no configuration file, no `CAREWATCH_*`
        variable that sets one), so a command may use `carewatch.config_source`'s defaults
        without loading the settings: `carewatch score`'s quick start."""
        return self._settings is None and defaults_only(self.config_path)

    def database(self, *, require_schema: bool = True) -> Database:
        """The configured database; with `require_schema`, refuse a store `init` never set up."""
        if self._db is None:
            from storage.db import DatabaseError, open_database, redact_url, sqlite_file

            url = self.settings.database_url
            file = sqlite_file(url) if require_schema else None
            if file is not None and not file.exists():
                # Opening it would create an empty file: say so, write nothing.
                raise UsageError(f"the database {redact_url(url)} does not exist: run "
                                 "'carewatch init' first")
            try:
                self._db = open_database(self.settings.database_url)
            except DatabaseError as exc:
                raise UsageError(str(exc)) from None
            if require_schema:
                from storage.migrate import is_current

                if not is_current(self._db.engine):
                    raise UsageError(
                        "the database schema is missing or old: run 'carewatch init' first"
                    )
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


def config_usage_error(context: AppContext, exc: Exception) -> UsageError:
    """A configuration mistake found after loading, as the one line `load_settings` gives:
    the file, the key, what is wrong."""
    from carewatch.settings import resolve_config_path

    origin = resolve_config_path(context.config_path) or "configuration"
    return UsageError(f"{origin}: {exc}")


def templates_checked(context: AppContext) -> None:
    """Exit 2 (one line naming the key) for a `[[canned_replies]]` text with a broken or
    unknown placeholder, before anything is written."""
    from carewatch.settings import ConfigError
    from responders.placeholders import check_configured_templates

    try:
        check_configured_templates(context.settings)
    except ConfigError as exc:
        raise config_usage_error(context, exc) from None


def rules_ready(context: AppContext) -> Database:
    """The database, once the `[[rules]]` are known to name only existing users, teams and
    canned replies (else exit 2 with one line naming the key, nothing written); then the
    file's canned replies are seeded so rules can use them. Every command that starts
    routing or serving (listen, respond, webhooks, demo, dashboard) calls it first."""
    from carewatch.settings import ConfigError
    from responders.automation import check_rule_references
    from responders.rules import RuleViolation
    from responders.teamwork import seed_canned_replies

    templates_checked(context)
    db = context.database()
    settings = context.settings
    try:
        check_rule_references(db, settings)
    except ConfigError as exc:
        raise config_usage_error(context, exc) from None
    if settings.rules:
        try:
            seed_canned_replies(db, settings)
        except RuleViolation as exc:
            raise UsageError(str(exc)) from None
    return db


def check_out_path(out_path: str | os.PathLike[str] | None, flag: str = "--out") -> Path:
    """The output path, refused before any work when it cannot be written, so nothing is
    half-done: a folder, a missing folder (or a parent that is a file), a read-only file, or
    a folder where no file can be created. The last is tried for real with a nameless
    temporary file, which also catches what permission bits do not show (a read-only mount,
    /proc, and anything when running as root)."""
    if out_path is None or str(out_path) == "":
        raise UsageError(f"{flag} is required (the file to write)")
    path = Path(out_path).expanduser()
    if path.is_dir():
        raise UsageError(f"{flag}: {str(path)!r} is a folder, not a file")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise UsageError(f"{flag}: folder {str(folder)!r} {what}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{flag}: folder {str(folder)!r} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{flag}: {str(path)!r} exists and is not writable")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UsageError(f"{flag}: cannot write in folder {str(folder)!r}: "
                         f"{exc.strerror or type(exc).__name__}") from None
    return path


def app_context(ctx: typer.Context) -> AppContext:
    obj = ctx.find_root().obj
    if not isinstance(obj, AppContext):
        obj = AppContext()
        ctx.find_root().obj = obj
    return obj


def print_listing(records: list[dict[str, Any]], *, as_json: bool, empty: str, title: str,
                  columns: Sequence[str], row: Callable[[dict[str, Any]], Sequence[Any]]) -> None:
    """Print `records` as the JSON list scripts read (`--json`), or as a table for people;
    `empty` says there are none. `row` gives a record's cells (wrap text that came from
    outside in `rich.text.Text`, so it is shown as written, never read as markup)."""
    if as_json:
        import json

        typer.echo(json.dumps(records, ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not records:
        console.print(empty)
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for record in records:
        table.add_row(*row(record))
    console.print(table)
