"""The `carewatch` console script (typer).

Each command group lives in its own module and registers itself on `app`; this module only
sets up the shared options and turns errors into one clear line with the right exit code.
"""

from __future__ import annotations

import contextvars
import sys

import typer

from carewatch.cli.common import AppContext, Failure, UsageError
from carewatch.log import configure_logging, load_now, scrub

app = typer.Typer(
    name="carewatch",
    help="Social media listening and response for brand social care teams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: str | None = typer.Option(
        None, "--config", "-c", help="Configuration file (default: $CAREWATCH_CONFIG or "
        "./carewatch.toml).", envvar=None,
    ),
    log_level: str | None = typer.Option(
        None, "--log-level", envvar="CAREWATCH_LOG_LEVEL",
        help="DEBUG, INFO, WARNING or ERROR (default INFO)."),
) -> None:
    # By name: typer may carry its own copy of click's ParameterSource enum.
    from_env = getattr(ctx.get_parameter_source("log_level"), "name", "") == "ENVIRONMENT"
    _check_log_level(log_level, "CAREWATCH_LOG_LEVEL" if from_env else "--log-level")
    configure_logging(log_level)
    if ctx.invoked_subcommand not in _QUICK_COMMANDS:
        load_now()
    ctx.obj = AppContext(config_path=config)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _check_log_level(value: str | None, origin: str) -> None:
    """A log level the flag or `CAREWATCH_LOG_LEVEL` names must be one we know: a typo is
    bad input (exit 2), not a silent INFO."""
    if value is not None and value.strip().upper() not in (*LOG_LEVELS, "WARN", "CRITICAL"):
        raise UsageError(f"{origin}: {value!r} is not a log level (one of "
                         f"{', '.join(LOG_LEVELS)})")


# Commands that may finish before they log anything: they keep structlog's import lazy.
_QUICK_COMMANDS = {"score"}
COMMAND_MODULES = (
    "core", "listen", "respond", "score", "export", "alerts", "users", "dashboard",
    "webhooks", "status", "topics", "suggest",
)
# Which module defines each top-level command, so a run imports only what it needs
# (`carewatch score` should not pay for the database layer and the platform clients).
COMMAND_HOMES = {
    "init": "core", "sandbox": "core", "demo": "core", "listen": "listen",
    "respond": "respond", "reply": "respond", "move-private": "respond", "assign": "respond",
    "approve": "respond", "reject": "respond", "approvals": "respond", "canned": "respond",
    "score": "score", "export": "export",
    "alerts": "alerts", "users": "users", "dashboard": "dashboard",
    "webhooks": "webhooks", "status": "status", "topics": "topics", "suggest": "suggest",
}
_GLOBAL_OPTIONS_WITH_VALUE = {"--config", "-c", "--log-level"}


def _command_name(argv: list[str]) -> str | None:
    """The top-level command in `argv`, skipping the global options."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _GLOBAL_OPTIONS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def _register(argv: list[str] | None = None) -> None:
    """Import the command modules for their side effect of adding commands to `app`: only
    the one that defines the command being run, or all of them (help, unknown commands)."""
    import importlib

    home = COMMAND_HOMES.get(_command_name(argv) or "") if argv is not None else None
    help_asked = argv is not None and any(a in ("-h", "--help") for a in argv)
    names = [home] if home in COMMAND_MODULES and not help_asked else COMMAND_MODULES
    for name in names:
        importlib.import_module(f"carewatch.cli.{name}")


_HOISTED = ("--config", "--log-level")


def _value_options(command: object) -> set[str]:
    """The option names of `command` and its subcommands that take a value."""
    names: set[str] = set()
    for param in getattr(command, "params", ()):
        if not getattr(param, "is_flag", True) and not getattr(param, "count", False):
            names.update(getattr(param, "opts", ()))
    for sub in getattr(command, "commands", {}).values():
        names |= _value_options(sub)
    return names


def hoist_global_options(argv: list[str]) -> list[str]:
    """`carewatch listen --once --config x.toml` as `carewatch --config x.toml listen
    --once`: the global `--config` and `--log-level` are accepted after the command too
    (where a user or script is as likely to put them). A value of another option that
    happens to read `--config` (`--text --config`) stays where it is."""
    command = _command_name(argv)
    if command is None or not any(a.split("=", 1)[0] in _HOISTED for a in argv):
        return argv
    start = argv.index(command)
    head, rest, hoisted = list(argv[:start]), [], []
    import typer.main

    takes_value = _value_options(typer.main.get_command(app))
    tail = argv[start:]
    i = 0
    while i < len(tail):
        arg = tail[i]
        if arg == "--":
            rest.extend(tail[i:])
            break
        name = arg.split("=", 1)[0]
        if name in _HOISTED:
            if "=" not in arg and i + 1 >= len(tail):
                raise UsageError(f"{arg} needs a value")
            width = 1 if "=" in arg else 2
            hoisted.extend(tail[i:i + width])
            i += width
            continue
        width = 2 if arg in takes_value else 1
        rest.extend(tail[i:i + width])
        i += width
    return head + hoisted + rest


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, map errors to exit codes 2 (bad input) and 1 (failure)."""
    args = sys.argv[1:] if argv is None else argv
    _register(args)
    try:
        argv = hoist_global_options(list(args))
        # A context of its own: what a command marks there (`common.acting_as`) ends with it.
        result = contextvars.copy_context().run(app, args=argv, prog_name="carewatch",
                                                standalone_mode=False)
    except UsageError as exc:
        print(f"carewatch: error: {scrub(str(exc))}", file=sys.stderr)
        return 2
    except Failure as exc:
        print(f"carewatch: failed: {scrub(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("carewatch: interrupted", file=sys.stderr)
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("carewatch: aborted", file=sys.stderr)
        return 1
    except typer.TyperException as exc:  # typer's own usage errors (bad flags, ...)
        message = scrub(exc.format_message()).replace("\n", " ")
        command = getattr(getattr(exc, "ctx", None), "command_path", "carewatch")
        if not message.strip():  # a group run without its command: click printed its help
            message = "missing command"
        if exc.exit_code == 2:
            print(f"carewatch: error: {message} (see '{command} --help')", file=sys.stderr)
            return 2
        print(f"carewatch: error: {message}", file=sys.stderr)
        return exc.exit_code or 1
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())
