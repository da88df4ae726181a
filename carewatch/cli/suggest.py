"""`carewatch suggest MENTION [--json]`: the three best reply suggestions for an item.

Reads only: it queues nothing. The `{agent}` placeholder is filled with `--as` (default
`$USER`, else `cli`); nothing is recorded under that name.
"""

from __future__ import annotations

import getpass
import json
import os

import typer

from carewatch.cli import app
from carewatch.cli.common import UsageError, app_context


def _agent(value: str | None) -> str:
    if value and value.strip():
        return value.strip()
    try:
        return os.environ.get("USER") or getpass.getuser() or "cli"
    except Exception:  # no passwd entry in a container
        return "cli"


@app.command("suggest")
def suggest_command(
    ctx: typer.Context,
    mention: str = typer.Argument(..., metavar="MENTION",
                                  help="PLATFORM:EXTERNAL_ID, e.g. x:1600000000000000001"),
    as_json: bool = typer.Option(False, "--json", help="A list of objects with text, "
                                 "source, score, why."),
    as_user: str | None = typer.Option(None, "--as", help="The agent named by {agent} "
                                       "(default: $USER, else 'cli')."),
) -> None:
    """The three best replies for a mention, best first: canned replies for its topic,
    knowledge-base answers and the team's past replies to similar items. Queues nothing."""
    from carewatch.settings import resolve_config_path
    from responders.rules import RuleViolation
    from responders.suggest.knowledge import KnowledgeError, knowledge_base_dir
    from responders.suggest.service import suggest

    context = app_context(ctx)
    settings = context.settings
    base = knowledge_base_dir(resolve_config_path(context.config_path))
    db = context.database()
    try:
        result = suggest(db, settings, mention, agent=_agent(as_user), knowledge_dir=base)
    except (RuleViolation, KnowledgeError) as exc:
        raise UsageError(str(exc)) from None
    if as_json:
        typer.echo(json.dumps([s.as_json() for s in result.items], ensure_ascii=False,
                              indent=2))
        return
    topics = ", ".join(f"{t} {p:.2f}" for t, p in result.topics[:3]) or "none"
    typer.echo(f"Suggestions for {result.ref} ({result.kind.replace('_', ' ')} reply; "
               f"topics: {topics})")
    if not result.items:
        typer.echo("No suggestion: no canned reply, article or past reply fits this item.")
    for rank, item in enumerate(result.items, start=1):
        typer.echo(f"\n{rank}. [{item.source.value} {item.score:.2f}] {item.why}")
        for line in item.text.splitlines() or [""]:
            typer.echo(f"   {line}")
