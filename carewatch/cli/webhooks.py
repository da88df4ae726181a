"""`carewatch webhooks [--port N]`: receive Meta webhooks and store what they carry.

Deliveries are stored through the same ingestor as polling (scoring, routing of returning
customers, alerts), so a delivered item and the next poll of it are one row.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from carewatch.cli import app
from carewatch.cli.common import AppContext, UsageError, app_context, rules_ready

if TYPE_CHECKING:
    from starlette.applications import Starlette

DEFAULT_PORT = 8600


def receiver_app(context: AppContext) -> Starlette:
    """The receiver's application for the configured database and secrets; refuses (exit 2)
    when the app secret that signs deliveries is not set."""
    # Imported when the command runs: `carewatch --help` imports every command module.
    from carewatch.cli.jobs import routing_hook
    from listener.ingest import Ingestor, default_alert_engine
    from listener.overrides import LiveOverrides
    from listener.webhooks.app import create_app

    settings = context.settings
    if settings.meta_app_secret is None:
        raise UsageError("CAREWATCH_META_APP_SECRET is not set: the receiver needs the Meta "
                         "app secret to check the signature of every delivery")
    db = rules_ready(context)
    LiveOverrides(db, settings).refresh()  # what admins set in the dashboard
    ingestor = Ingestor(db, settings, alert_engine=default_alert_engine(db, settings),
                        on_new_mentions=routing_hook(db, settings))
    ingestor.prepare()  # one-time costs now, not in the first delivery's answer time
    return create_app(ingestor, settings)


@app.command("webhooks")
def webhooks_command(
    ctx: typer.Context,
    port: int = typer.Option(DEFAULT_PORT, "--port", min=0, max=65535,
                             help="Port on 127.0.0.1."),
) -> None:
    """Receive Meta webhooks (Messenger, Instagram, page feed) at /webhooks/meta until
    Ctrl-C."""
    # Imported when the command runs: `carewatch --help` imports every command module.
    from listener.webhooks.app import PATH
    from listener.webhooks.server import bind, serve

    receiver = receiver_app(app_context(ctx))
    try:
        sock = bind(port)
    except OSError as exc:
        raise UsageError(f"cannot receive webhooks on 127.0.0.1:{port}: {exc.strerror}") from None
    where = sock.getsockname()[1]
    print(f"receiving Meta webhooks at http://127.0.0.1:{where}{PATH}; Ctrl-C stops",
          file=sys.stderr, flush=True)
    serve(receiver, sock)
