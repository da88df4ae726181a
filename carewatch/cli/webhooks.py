"""`carewatch webhooks [--port N]`: receive Meta webhooks and store what they carry.

Deliveries are stored through the same ingestor as polling (scoring, routing of returning
customers, alerts), so a delivered item and the next poll of it are one row.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

import typer

from carewatch.cli import app
from carewatch.cli.common import AppContext, UsageError, app_context, rules_ready

if TYPE_CHECKING:
    from starlette.applications import Starlette

DEFAULT_PORT = 8600
#: How often the standalone receiver sends the notifications its deliveries' alerts queued.
NOTIFY_EVERY_SECONDS = 5.0


def receiver_app(context: AppContext) -> Starlette:
    """The receiver's application for the configured database and secrets; refuses (exit 2)
    when the app secret that signs deliveries is not set."""
    return receiver_parts(context)[0]


def receiver_parts(context: AppContext) -> tuple[Starlette, Any]:
    """The receiver's application and the alert engine its deliveries feed."""
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
    engine = default_alert_engine(db, settings)
    ingestor = Ingestor(db, settings, alert_engine=engine,
                        on_new_mentions=routing_hook(db, settings))
    ingestor.prepare()  # one-time costs now, not in the first delivery's answer time
    return create_app(ingestor, settings), engine


def start_notifier(engine: Any, stop: threading.Event,
                   every: float = NOTIFY_EVERY_SECONDS) -> threading.Thread:
    """Send the notifications that alerts raised by deliveries queued, every `every` seconds
    until `stop` is set: a receiver running without `carewatch listen` still notifies. The
    dispatcher claims each notification, so a listener doing the same sends nothing twice;
    it never raises, so a failing target never stops the receiver."""
    def run() -> None:
        while not stop.wait(every):
            engine.notify_pending()

    thread = threading.Thread(target=run, name="webhook notifier", daemon=True)
    thread.start()
    return thread


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

    receiver, engine = receiver_parts(app_context(ctx))
    try:
        sock = bind(port)
    except OSError as exc:
        raise UsageError(f"cannot receive webhooks on 127.0.0.1:{port}: {exc.strerror}") from None
    where = sock.getsockname()[1]
    print(f"receiving Meta webhooks at http://127.0.0.1:{where}{PATH}; Ctrl-C stops",
          file=sys.stderr, flush=True)
    stop = threading.Event()
    start_notifier(engine, stop)
    try:
        serve(receiver, sock)
    finally:
        stop.set()
