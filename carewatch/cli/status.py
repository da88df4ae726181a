"""`carewatch status [--json]`: each source, which process polls it, and how it is doing.

Several listener processes may share one database; this reads the sources table only (it
polls nothing), so it answers from any machine that can reach the database: who holds each
source's lease and until when, when it was last polled and is next due (both by the
database's clock), its health and how many items it has brought.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.text import Text

from carewatch.cli import app
from carewatch.cli.common import app_context, print_listing
from listener.alerts.base import iso_z
from storage.sources import source_health


def status_record(key: str, platform: str, kind: str,
                  health: dict[str, Any] | None) -> dict[str, Any]:
    """One source as `status --json` prints it (times as `2026-11-23T12:00:00Z`; `holder`
    is `host:pid` of the process polling it now, or null)."""
    h = health or {}
    if not h:
        state = "never polled"
    elif h["healthy"]:
        state = "ok"
    else:
        state = h["health_message"] or "unhealthy"
    return {
        "key": key, "platform": platform, "kind": kind,
        "holder": h.get("lease_holder"), "lease_until": iso_z(h.get("lease_until")),
        "last_poll": iso_z(h.get("last_poll_at")), "next_due": iso_z(h.get("next_due_at")),
        "healthy": bool(h.get("healthy", True)), "health": state,
        "token_state": h.get("token_state", "ok"),
        "consecutive_failures": h.get("consecutive_failures", 0),
        "items": h.get("items_total", 0),
    }


@app.command("status")
def status_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """Each source: who polls it (lease holder and expiry), last poll, next due, health."""
    context = app_context(ctx)
    settings = context.settings
    with context.database().session() as session:
        health = {h["source"]: h for h in source_health(session)}
    records = [status_record(c.key, c.platform.value, c.kind or "", health.pop(c.key, None))
               for c in settings.sources]
    # Stored sources no longer in this carewatch.toml (another process may still poll them).
    records += [status_record(key, h["platform"], h["kind"], h) for key, h in health.items()]
    print_listing(
        records, as_json=as_json, empty="no sources configured or stored",
        title=f"{len(records)} source(s)",
        columns=("source", "platform", "kind", "polled by", "lease until", "last poll",
                 "next due", "health", "items"),
        row=lambda r: (
            Text(r["key"]), r["platform"], r["kind"], Text(r["holder"] or "—"),
            r["lease_until"] or "—", r["last_poll"] or "—", r["next_due"] or "—",
            Text(r["health"], style="" if r["healthy"] else "red"), str(r["items"]),
        ),
    )
