"""`carewatch listen [--once]`: poll every configured source, on schedule or once.

The CLI is the one place that brings the listener and the responders together (the
listener never imports responders): the foreground run also sends queued replies.
"""

from __future__ import annotations

import sys
import threading

import typer

from carewatch.cli import app
from carewatch.cli.common import Failure, UsageError, app_context, rules_ready
from carewatch.log import get_logger
from carewatch.platforms import all_specs
from carewatch.settings import Settings

log = get_logger(__name__)


def check_credentials(settings: Settings) -> None:
    """Refuse to start when a configured source has no token for its kind (exit 2, names
    the variables)."""
    for spec in all_specs():
        kinds = [s.kind or "" for s in settings.sources if s.platform == spec.platform]
        problem = spec.source_credentials(settings, kinds) if kinds else None
        if problem:
            raise UsageError(problem)


@app.command("listen")
def listen_command(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="Poll every source completely once "
                              "(every page since its stored cursor), then exit."),
) -> None:
    """Poll every configured source on its schedule (Ctrl-C or SIGTERM stops cleanly)."""
    # Imported when the command runs: `carewatch --help` imports every command module.
    from carewatch.cli.jobs import routing_hook, run_listener_forever, stopped_by_signals
    from listener.ingest import Ingestor, default_alert_engine
    from listener.overrides import LiveOverrides
    from listener.schedule import index_new_mentions

    context = app_context(ctx)
    settings = context.settings
    if not settings.sources:
        raise UsageError("no sources configured in carewatch.toml "
                         "(add [[sources]] entries, see the README)")
    check_credentials(settings)
    db = rules_ready(context)
    LiveOverrides(db, settings).refresh()  # what admins set in the dashboard
    engine = default_alert_engine(db, settings)
    if once:
        ingestor = Ingestor(db, settings, alert_engine=engine,
                            on_new_mentions=routing_hook(db, settings))
        ingestor.prepare()
        results = ingestor.poll_all(once=True)
        for result in results:
            print(result.summary(), file=sys.stderr)
        index_new_mentions(db)  # what the scheduled listener's job does after polls
        try:
            engine.evaluate_periodic()
            engine.notify_pending()
        except Exception:  # alerts never make listening fail
            log.exception("alerts_failed")
        failed = [r for r in results if not r.ok]
        if failed:
            raise Failure(f"{len(failed)} of {len(results)} sources did not finish: "
                          + "; ".join(r.source_key for r in failed))
        return

    stop = threading.Event()
    with stopped_by_signals(stop):
        print(f"listening to {len(settings.sources)} sources; Ctrl-C stops", file=sys.stderr)
        run_listener_forever(db, settings, stop)
    print("stopped", file=sys.stderr)
