"""`carewatch init`, `carewatch sandbox` and `carewatch demo`."""

from __future__ import annotations

import sys

import typer

from carewatch.cli import app
from carewatch.cli.common import AppContext, Failure, UsageError, app_context, templates_checked
from storage.db import redact_url


@app.command("init")
def init_command(ctx: typer.Context) -> None:
    """Create or upgrade the database schema (safe to run any number of times)."""
    # Imported when the command runs: `carewatch --help` imports every command module.
    from responders.teamwork import seed_canned_replies
    from storage.migrate import upgrade

    context = app_context(ctx)
    settings = context.settings
    templates_checked(context)  # a bad [[canned_replies]] text: exit 2, no schema made
    db = context.database(require_schema=False)
    try:
        before, after = upgrade(db.engine)
    except Exception as exc:  # a migration that cannot run is a failure, said in one line
        raise Failure(f"could not create the schema: {type(exc).__name__}: "
                      f"{str(exc).splitlines()[0]}") from None
    if settings.canned_replies:
        seed_canned_replies(db, settings)
    where = redact_url(settings.database_url)
    if before == after:
        print(f"database {where} is up to date (schema {after})", file=sys.stderr)
    else:
        print(f"database {where} ready (schema {before or 'new'} -> {after})", file=sys.stderr)


@app.command("sandbox")
def sandbox_command(
    ctx: typer.Context,
    port: int = typer.Option(8800, "--port", min=0, max=65535, help="Port on 127.0.0.1."),
    seed: int = typer.Option(7, "--seed", help="Seed of the mention generator."),
    initial: int = typer.Option(300, "--initial", min=0,
                                help="Mentions generated at start (last few days)."),
    live_rate: float = typer.Option(6.0, "--live-rate", min=0.0,
                                    help="New mentions per minute while running."),
) -> None:
    """Run the local X and Graph API emulator alone, until Ctrl-C."""
    # Imported when the command runs: `carewatch --help` imports every command module.
    from sandbox.server import run_sandbox

    try:
        run_sandbox(host="127.0.0.1", port=port, seed=seed, count=initial,
                    live_rate=live_rate, brand_ids=_configured_brand_ids(app_context(ctx)))
    except OSError as exc:
        raise UsageError(f"cannot serve the sandbox on 127.0.0.1:{port}: {exc.strerror}") from None


def _configured_brand_ids(context: AppContext) -> dict[str, list[str]]:
    """The brand's page, Instagram and X account ids that the configuration's sources name,
    for the sandbox to answer as its own from the first request (`World.adopt_brand_ids`).
    The sandbox needs no configuration: a bad one is named in one line and left aside."""
    try:
        sources = context.settings.sources
    except UsageError as exc:
        print(f"carewatch sandbox: configuration not read ({exc}); the brand's ids are "
              "learned from the first requests instead", file=sys.stderr)
        return {}
    return {"page_ids": [s.page_id for s in sources if s.page_id],
            "ig_user_ids": [s.ig_user_id for s in sources if s.ig_user_id],
            "x_user_ids": [s.user_id for s in sources if s.user_id]}


@app.command("demo")
def demo_command(
    ctx: typer.Context,
    port: int = typer.Option(8501, "--port", min=1, max=65535, help="Dashboard port."),
    sandbox_port: int = typer.Option(0, "--sandbox-port", min=0, max=65535,
                                     help="Sandbox port (0: any free port)."),
) -> None:
    """Start the whole product on SQLite: sandbox, listener, responder, dashboard."""
    # Imported when the command runs: `carewatch --help` imports every command module.
    from carewatch.cli.demo_runner import run_demo

    run_demo(app_context(ctx), dashboard_port=port, sandbox_port=sandbox_port)
