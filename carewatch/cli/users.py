"""`carewatch users add NAME --role ROLE --password-stdin`, `users set-role NAME --role ROLE
--as ADMIN` and `users list`.

The password is read from the first line of stdin (never a flag: flags end up in shell
history and `ps`). Hashing (argon2), password rules and lockout live in storage.users, shared
with the dashboard's login and Settings page. `add` never changes an existing user's role by
the way: that is `set-role` (or `add --change-role`), audited with the old and new role.
"""

from __future__ import annotations

import sys

import typer

from carewatch.cli import app
from carewatch.cli.common import UsageError, acting_as, app_context
from carewatch.domain import Role

users_app = typer.Typer(help="Dashboard users and their roles.", no_args_is_help=True)
app.add_typer(users_app, name="users")

ROLES = "|".join(r.value for r in Role)


def _read_password() -> str:
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@users_app.command("add")
def add_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Username for the dashboard login."),
    role: str = typer.Option(..., "--role", help=f"One of {ROLES}."),
    password_stdin: bool = typer.Option(False, "--password-stdin",
                                        help="Read the password from the first line of stdin "
                                             "(at least 12 characters)."),
    change_role: bool = typer.Option(False, "--change-role",
                                     help="An existing user gets --role too (audited); "
                                          "without it their role stays as it is."),
) -> None:
    """Create a dashboard user, or set a new password for an existing one. Passwords have at
    least 12 characters (a passphrase of a few words works)."""
    from storage.users import (
        PasswordRuleError,
        RoleChangeRefused,
        create_or_update_user,
        parse_role,
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
    try:
        with db.write() as session:
            _, created = create_or_update_user(session, username, parsed, password,
                                               actor="cli", change_role=change_role)
    except RoleChangeRefused as exc:
        raise UsageError(f"{exc}: use 'carewatch users set-role {username} --role "
                         f"{parsed.value} --as ADMIN', or add --change-role") from None
    print(f"user {username} {'added' if created else 'updated'} with role {parsed.value}",
          file=sys.stderr)


@users_app.command("set-role")
def set_role_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The user whose role changes."),
    role: str = typer.Option(..., "--role", help=f"One of {ROLES}."),
    as_user: str = typer.Option(..., "--as", help="The admin making the change (audited)."),
) -> None:
    """Change a user's role; the audit log keeps who, the old role and the new one."""
    from storage.users import PasswordRuleError, parse_role, set_role, user_by_exact_name

    try:
        parsed = parse_role(role)
    except PasswordRuleError as exc:
        raise UsageError(str(exc)) from None
    admin = acting_as(as_user.strip())
    db = app_context(ctx).database()
    with db.write() as session:
        actor = user_by_exact_name(session, admin)
        if actor is None or actor.role != "admin":
            raise UsageError(f"--as: {admin!r} is not an admin")
        try:
            user = set_role(session, name, parsed, actor=admin)
        except PasswordRuleError as exc:
            raise UsageError(str(exc)) from None
        username = user.username
    print(f"user {username} now has role {parsed.value}", file=sys.stderr)


@users_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """Users, their roles and whether they are locked out."""
    from storage.models import utcnow
    from storage.users import list_users

    db = app_context(ctx).database()
    now = utcnow()
    with db.session() as session:
        rows = [(u.username, u.role, bool(u.locked_until and u.locked_until > now))
                for u in list_users(session)]
    for username, role, locked in rows:
        suffix = "\tlocked" if locked else ""
        print(f"{username}\t{role}{suffix}")
