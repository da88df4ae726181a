"""`carewatch alerts [--json]` (open alerts) and `carewatch alerts ack ID --as USER`.

Read-only listing: the listener's scheduler runs the detectors; this command never does.
"Open" means not closed: an acknowledged alert stays listed, with who acknowledged it, until
its episode has been quiet for the cooldown.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.text import Text

from carewatch.cli import app
from carewatch.cli.common import UsageError, acting_as, app_context, print_listing
from carewatch.log import scrub
from listener.alerts.base import iso_z
from storage import alerts as store

alerts_app = typer.Typer(
    help="Open reputation alerts (spike, high_reach, risk_words, sla_breach, source_health).",
    invoke_without_command=True, no_args_is_help=False,
)
app.add_typer(alerts_app, name="alerts")

_SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "dim"}


def alert_record(alert: Any) -> dict[str, Any]:
    """One alert as `alerts --json` prints it: these keys and their meaning are stable for
    scripts (times as `2026-11-23T12:00:00Z`)."""
    return {
        "id": alert.id,
        "kind": alert.kind,
        "severity": alert.severity,
        "summary": scrub(alert.summary),  # a last guard: detectors scrub it when they write it
        "mention_ids": list(alert.mention_ids or []),
        "first_seen": iso_z(alert.first_seen),
        "last_seen": iso_z(alert.last_seen),
        "acknowledged_by": alert.acknowledged_by,
    }


@alerts_app.callback()
def list_alerts(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """List the open alerts, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    db = app_context(ctx).database()
    with db.session() as session:
        records = [alert_record(a) for a in store.open_alerts(session)]
    print_listing(
        records, as_json=as_json, empty="no open alerts", title=f"{len(records)} open alert(s)",
        columns=("id", "severity", "kind", "summary", "mentions", "first seen", "last seen",
                 "acknowledged by"),
        row=lambda r: (
            str(r["id"]), Text(r["severity"], style=_SEVERITY_STYLE.get(r["severity"], "")),
            r["kind"], Text(r["summary"]), str(len(r["mention_ids"])), r["first_seen"] or "",
            r["last_seen"] or "", Text(r["acknowledged_by"] or ""),
        ),
    )


@alerts_app.command("ack")
def ack(
    ctx: typer.Context,
    alert_id: int = typer.Argument(..., metavar="ID", help="The alert's id."),
    user: str = typer.Option(..., "--as", help="Who acknowledges (recorded with the time)."),
) -> None:
    """Acknowledge an alert: records who and when, and writes an audit entry."""
    user = user.strip()
    if not user:
        raise UsageError("--as: give the name of who acknowledges the alert")
    acting_as(user)
    db = app_context(ctx).database()
    with db.write() as session:
        try:
            alert = store.acknowledge(session, alert_id, user)
        except store.AlertNotFound as exc:
            raise UsageError(str(exc)) from None
        who, when = alert.acknowledged_by, iso_z(alert.acknowledged_at)
    typer.echo(f"alert {alert_id} acknowledged by {who} at {when}")
