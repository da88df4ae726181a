"""`carewatch users add NAME --role ROLE --password-stdin [--needs-approval|--no-needs-approval]`,
`users set-role NAME --role ROLE --as ADMIN`, `users set-approval NAME --on|--off --as ADMIN`
and `users list`.

The password is read from the first line of stdin (never a flag: flags end up in shell
history and `ps`). Hashing (argon2), password rules and lockout live in storage.users, shared
with the dashboard's login and Settings page. `add` creates or updates a user; when it
changes an existing user's role it says so and audits the old and new role, as `set-role`
(the explicit command for it) does.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from carewatch.cli import app
from carewatch.cli.common import UsageError, acting_as, app_context
from carewatch.domain import Role

if TYPE_CHECKING:  # the database layer is imported only when a command runs
    from sqlalchemy.orm import Session

    from storage.models import User

users_app = typer.Typer(help="Dashboard users and their roles.", no_args_is_help=True)
app.add_typer(users_app, name="users")

ROLES = "|".join(r.value for r in Role)


def _read_password() -> str:
    line = sys.stdin.readline()
    if not line:  # end of input before any character: nothing was piped in
        raise UsageError("--password-stdin: the password is empty: stdin had nothing to read "
                         "(pipe it in, e.g. printf '%s\\n' \"$PW\" | carewatch users add ...)")
    return line.rstrip("\r\n")


@users_app.command("add")
def add_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Username for the dashboard login."),
    role: str = typer.Option(..., "--role", help=f"One of {ROLES}."),
    password_stdin: bool = typer.Option(False, "--password-stdin",
                                        help="Read the password from the first line of stdin "
                                             "(at least 8 characters; 12 or more recommended)."),
    needs_approval: bool | None = typer.Option(
        None, "--needs-approval/--no-needs-approval",
        help="A manager must approve this user's replies before they are sent (default: a "
             "new user does not; an existing user keeps the setting)."),
) -> None:
    """Create a dashboard user, or update an existing one (new password; a different --role
    changes the role, said on stderr and audited with the old and new role, like
    `users set-role`). Passwords have at least 8 characters; under 12 a warning
    says so (a passphrase works)."""
    from storage.users import (
        PasswordRuleError,
        create_or_update_user,
        find_user,
        parse_role,
        password_advice,
        set_needs_approval,
        validate_password,
        validate_username,
    )

    try:
        username = validate_username(name)
        parsed = parse_role(role)
    except PasswordRuleError as exc:
        raise UsageError(str(exc)) from None
    if not password_stdin:
        raise UsageError("give the password on stdin with --password-stdin "
                         "(e.g. printf '%s\\n' \"$PW\" | carewatch users add NAME --role agent "
                         "--password-stdin)")
    password = _read_password()
    try:
        validate_password(password)
    except PasswordRuleError as exc:
        raise UsageError(str(exc)) from None
    db = app_context(ctx).database()
    with db.write() as session:
        existing = find_user(session, username)
        old_role = existing.role if existing is not None else None
        # The command names the role the user should have, so it is applied (and audited
        # as a role change) rather than refused: `users add` creates or updates a user.
        user, created = create_or_update_user(session, username, parsed, password,
                                              actor="cli", change_role=True)
        if needs_approval is not None and bool(user.needs_approval) != needs_approval:
            set_needs_approval(session, username, needs_approval, actor="cli")
    if old_role is not None and old_role != parsed.value:
        print(f"user {username}: role changed from {old_role} to {parsed.value} (audited)",
              file=sys.stderr)
    approval = ("" if needs_approval is None else
                " (replies need a manager's approval)" if needs_approval
                else " (replies are sent without approval)")
    print(f"user {username} {'added' if created else 'updated'} with role {parsed.value}"
          f"{approval}", file=sys.stderr)
    advice = password_advice(password)
    if advice is not None:
        print(f"warning: {advice}", file=sys.stderr)


@users_app.command("set-role")
def set_role_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The user whose role changes."),
    role: str = typer.Option(..., "--role", help=f"One of {ROLES}."),
    as_user: str = typer.Option(..., "--as", help="The admin making the change (audited)."),
) -> None:
    """Change a user's role; the audit log keeps who, the old role and the new one."""
    from storage.users import PasswordRuleError, parse_role, set_role

    try:
        parsed = parse_role(role)
    except PasswordRuleError as exc:
        raise UsageError(str(exc)) from None
    username = _change_user(ctx, as_user, ("admin",), "an admin",
                            lambda session, admin: set_role(session, name, parsed, actor=admin))
    print(f"user {username} now has role {parsed.value}", file=sys.stderr)


def _change_user(ctx: typer.Context, as_user: str, roles: tuple[str, ...], who_may: str,
                 change: Callable[[Session, str], User]) -> str:
    """Run `change` (session, acting user) for `--as` when that user has one of `roles`;
    returns the changed user's name. Exit 2 for anyone else or an unknown user."""
    from storage.users import PasswordRuleError, user_by_exact_name

    acting = acting_as(as_user.strip())
    db = app_context(ctx).database()
    with db.write() as session:
        actor = user_by_exact_name(session, acting)
        if actor is None or actor.role not in roles:
            raise UsageError(f"--as: {acting!r} is not {who_may}")
        try:
            return change(session, acting).username
        except PasswordRuleError as exc:
            raise UsageError(str(exc)) from None


@users_app.command("set-approval")
def set_approval_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The user whose replies are (or stop being) held."),
    on: bool = typer.Option(..., "--on/--off", help="--on: a manager must approve this "
                            "user's replies; --off: they are sent without approval."),
    as_user: str = typer.Option(..., "--as", help="The admin or manager making the change "
                                "(audited)."),
) -> None:
    """Mark a user `needs_approval` (or clear it): their replies wait for a manager."""
    from storage.users import set_needs_approval

    username = _change_user(ctx, as_user, ("admin", "manager"), "an admin or manager",
                            lambda session, actor: set_needs_approval(session, name, on,
                                                                      actor=actor))
    state = "need a manager's approval" if on else "are sent without approval"
    print(f"replies by {username} now {state}", file=sys.stderr)


@users_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """Users, their roles and whether they are locked out."""
    from storage.models import utcnow
    from storage.users import list_users

    db = app_context(ctx).database()
    now = utcnow()
    with db.session() as session:
        rows = [(u.username, u.role, bool(u.locked_until and u.locked_until > now),
                 bool(u.needs_approval)) for u in list_users(session)]
    for username, role, locked, held in rows:
        suffix = ("\tlocked" if locked else "") + ("\tneeds approval" if held else "")
        print(f"{username}\t{role}{suffix}")
