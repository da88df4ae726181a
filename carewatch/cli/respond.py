"""`carewatch respond | reply | move-private | assign | approve | reject | approvals | canned`.

`reply` and `move-private` only queue (rules checked first, one line and exit 2 when one is
broken); `respond` sends what is queued. `reply` on a private message queues a message in its
conversation (the messaging window must be open). `--as USER` names the agent (default `$USER`, else
`cli`); their role and approval flag come from the users table.
"""

from __future__ import annotations

import getpass
import os
import sys
import threading
from typing import Any

import typer

from carewatch.cli import app
from carewatch.cli.common import (
    Failure,
    UsageError,
    acting_as,
    app_context,
    print_listing,
    rules_ready,
)
from carewatch.log import get_logger
from responders.rules import RuleViolation

log = get_logger(__name__)

AS_HELP = ("Act as this user of the users table (default: $USER, else 'cli'); their role "
           "comes from it.")

canned_app = typer.Typer(help="Canned replies with {first_name}, {handle}, {agent}, {case_id}.",
                         no_args_is_help=True)
app.add_typer(canned_app, name="canned")


def _actor(ctx: typer.Context, value: str | None, *, known_only: bool = True) -> str:
    """Who acts: `--as USER`, else `$USER`, else `cli`. A name that is not in the users
    table (a typo would take assignments or decide approvals under a name nobody logs in
    as) is refused; where CONTRACT.md lets any name queue a reply (`reply`, `move-private`:
    `known_only` False, as `$USER` always could), it is queued and the name is warned
    about in one line."""
    if value and value.strip():
        name = value.strip()
        try:
            _require_user(app_context(ctx).database(), name)
        except UsageError as exc:
            if known_only:
                raise
            print(f"warning: {exc}; queued under that name", file=sys.stderr)
        return acting_as(name)
    try:
        return os.environ.get("USER") or getpass.getuser() or "cli"
    except Exception:  # no passwd entry in a container
        return "cli"


def _require_user(db: Any, name: str) -> None:
    from storage.users import user_by_exact_name

    with db.session() as session:
        if user_by_exact_name(session, name) is None:
            raise UsageError(f"--as: unknown user {name!r} (add them with 'carewatch users "
                             f"add {name} --role agent --password-stdin')")


def _print_queued(ids: list[int], ref: str, db: Any) -> None:
    """One line per queued reply, naming its kind (public, message, private, public note)."""
    from storage.models import Reply

    with db.session() as session:
        rows = {r.id: (r.kind, r.state) for r in (session.get(Reply, i) for i in ids) if r}
    for reply_id in ids:
        kind, state = rows[reply_id]
        suffix = " (waiting for a manager's approval)" if state == "pending_approval" else ""
        print(f"queued reply #{reply_id} ({kind.replace('_', ' ')}) to {ref}{suffix}",
              file=sys.stderr)


@app.command("reply")
def reply_command(
    ctx: typer.Context,
    mention: str = typer.Argument(..., metavar="MENTION",
                                  help="PLATFORM:EXTERNAL_ID, e.g. x:1600000000000000001"),
    text: str | None = typer.Option(None, "--text", help="The reply text."),
    canned: str | None = typer.Option(None, "--canned", help="Use this canned reply."),
    as_user: str | None = typer.Option(None, "--as", help=AS_HELP),
) -> None:
    """Queue a reply to a mention (the responder sends it): a public reply, or a message in
    the conversation of a private message."""
    from responders.queue import queue_reply

    db, ids = _queue(ctx, mention, text, canned, as_user, queue_reply)
    _print_queued(ids, mention, db)


@app.command("move-private")
def move_private_command(
    ctx: typer.Context,
    mention: str = typer.Argument(..., metavar="MENTION", help="PLATFORM:EXTERNAL_ID"),
    text: str | None = typer.Option(None, "--text", help="The private message."),
    public_note: str | None = typer.Option(None, "--public-note",
                                           help="A short public reply left in the thread."),
    canned: str | None = typer.Option(None, "--canned", help="Use this canned reply."),
    as_user: str | None = typer.Option(None, "--as", help=AS_HELP),
) -> None:
    """Queue a private message to the mention's author, and optionally a public note."""
    from functools import partial

    from responders.queue import queue_move_private

    db, ids = _queue(ctx, mention, text, canned, as_user,
                     partial(queue_move_private, public_note=public_note))
    _print_queued(ids, mention, db)


def _queue(ctx: typer.Context, mention: str, text: str | None, canned: str | None,
           as_user: str | None, queue: Any) -> tuple[Any, list[int]]:
    """The shared part of `reply` and `move-private`: who is acting, the text (typed or
    canned), the queueing call, and a broken rule as one line with exit 2."""
    context = app_context(ctx)
    agent = _actor(ctx, as_user, known_only=False)
    db = context.database()
    try:
        body = _body(db, text, canned, mention, agent)
        return db, queue(db, context.settings, mention, body, agent=agent)
    except RuleViolation as exc:
        raise UsageError(str(exc)) from None


def _body(db: Any, text: str | None, canned: str | None, mention: str, agent: str) -> str:
    if text is not None and canned is not None:
        raise UsageError("give --text or --canned, not both")
    if canned is not None:
        from responders.teamwork import render_canned

        return render_canned(db, canned, mention, agent)
    if text is None:
        raise UsageError("missing --text (the reply text)")
    return text


@app.command("respond")
def respond_command(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="Attempt every reply that is due, then "
                              "exit (1 if one failed for good)."),
) -> None:
    """Send queued public replies and private messages, exactly once each."""
    from carewatch.cli.jobs import RESPOND_EVERY_SECONDS, stopped_by_signals
    from responders.outbox import HeldBack, run_due

    context = app_context(ctx)
    settings = context.settings
    db = rules_ready(context)
    stop = threading.Event()
    if once:
        summary = run_due(db, settings, stop=stop, limit=10_000)
        for outcome in summary.outcomes:
            print(outcome.line(), file=sys.stderr)
        print(f"respond: {summary.line()}", file=sys.stderr)
        blocked = [o for o in summary.outcomes if o.result == "blocked"]
        if blocked:  # a configuration mistake, not a failure: nothing was lost
            raise UsageError(f"{len(blocked)} repl{'y' if len(blocked) == 1 else 'ies'} left "
                             f"in the queue: {blocked[0].message}")
        if summary.failed:
            raise Failure(f"{summary.failed} repl{'y' if summary.failed == 1 else 'ies'} "
                          "failed; see the reasons above")
        return

    print("responding to queued replies; Ctrl-C stops", file=sys.stderr)
    held_back = HeldBack()
    with stopped_by_signals(stop):
        while not stop.is_set():
            try:
                summary = run_due(db, settings, stop=stop, held_back=held_back)
                for outcome in summary.outcomes:
                    print(outcome.line(), file=sys.stderr)
            except Exception:  # keep serving; the next round retries
                log.exception("respond_round_failed")
            stop.wait(RESPOND_EVERY_SECONDS)
    print("stopped", file=sys.stderr)


@app.command("assign")
def assign_command(
    ctx: typer.Context,
    mention: str = typer.Argument(..., metavar="MENTION", help="PLATFORM:EXTERNAL_ID"),
    to: str = typer.Option(..., "--to", help="The agent to put on the mention."),
    as_user: str | None = typer.Option(None, "--as", help=AS_HELP),
) -> None:
    """Assign a mention to an agent (taking over someone else's needs a manager)."""
    from responders.teamwork import assign

    context = app_context(ctx)
    try:
        result = assign(context.database(), mention, to, _actor(ctx, as_user))
    except RuleViolation as exc:
        raise UsageError(str(exc)) from None
    print(f"{mention} is assigned to {result.assignee} ({result.status})", file=sys.stderr)


@app.command("approve")
def approve_command(
    ctx: typer.Context,
    reply_id: int = typer.Argument(..., metavar="REPLY_ID"),
    as_user: str | None = typer.Option(None, "--as", help=AS_HELP),
) -> None:
    """Approve a reply waiting for a manager (and the rest of its move-private)."""
    from responders.teamwork import approve

    context = app_context(ctx)
    try:
        ids = approve(context.database(), reply_id, _actor(ctx, as_user))
    except RuleViolation as exc:
        raise UsageError(str(exc)) from None
    _print_decided("approved", ids)


@app.command("reject")
def reject_command(
    ctx: typer.Context,
    reply_id: int = typer.Argument(..., metavar="REPLY_ID"),
    as_user: str | None = typer.Option(None, "--as", help=AS_HELP),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept with the reply)."),
) -> None:
    """Reject a reply waiting for a manager (and the rest of its move-private): never sent."""
    from responders.teamwork import reject

    context = app_context(ctx)
    try:
        ids = reject(context.database(), reply_id, _actor(ctx, as_user), reason)
    except RuleViolation as exc:
        raise UsageError(str(exc)) from None
    _print_decided("rejected", ids)


def _print_decided(verb: str, ids: list[int]) -> None:
    print(f"{verb} repl{'y' if len(ids) == 1 else 'ies'} " + ", ".join(f"#{i}" for i in ids),
          file=sys.stderr)


@app.command("approvals")
def approvals_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table: "
                                 "id, mention, kind, agent, text, queued_at."),
) -> None:
    """List the replies waiting for a manager's `approve` or `reject`, oldest first."""
    from dataclasses import asdict

    from rich.text import Text

    from listener.alerts.base import iso_z
    from responders.teamwork import pending_approvals

    records = [{**asdict(p), "queued_at": iso_z(p.queued_at)}
               for p in pending_approvals(app_context(ctx).database())]
    print_listing(
        records, as_json=as_json, empty="no replies waiting for approval",
        title=f"{len(records)} repl{'y' if len(records) == 1 else 'ies'} waiting for approval",
        columns=("id", "mention", "kind", "agent", "queued at", "text"),
        row=lambda r: (str(r["id"]), r["mention"], r["kind"], Text(r["agent"] or ""),
                       r["queued_at"] or "", Text(r["text"])),
    )


@canned_app.command("list")
def canned_list(ctx: typer.Context) -> None:
    """Print the canned replies (name, then text)."""
    from responders.teamwork import list_canned

    for name, text in list_canned(app_context(ctx).database()):
        print(f"{name}\t{text}")


@canned_app.command("add")
def canned_add(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    text: str = typer.Option(..., "--text"),
    as_user: str | None = typer.Option(None, "--as", help=AS_HELP),
) -> None:
    """Add or change a canned reply."""
    from responders.teamwork import save_canned

    try:
        save_canned(app_context(ctx).database(), name, text, _actor(ctx, as_user))
    except RuleViolation as exc:
        raise UsageError(str(exc)) from None
    print(f"saved canned reply {name!r}", file=sys.stderr)


@canned_app.command("seed")
def canned_seed(ctx: typer.Context) -> None:
    """Add the canned replies from carewatch.toml that the database lacks."""
    from responders.teamwork import seed_canned_replies

    context = app_context(ctx)
    try:
        added = seed_canned_replies(context.database(), context.settings)
    except RuleViolation as exc:
        raise UsageError(str(exc)) from None
    print(f"added {added} canned repl{'y' if added == 1 else 'ies'}", file=sys.stderr)
