"""`carewatch users add NAME --role ROLE --password-stdin` and `carewatch users list`.

The password is read from the first line of stdin (never a flag: flags end up in shell
history and `ps`). Hashing (argon2), password rules and lockout live in storage.users, shared
with the dashboard's login and Settings page.
"""

from __future__ import annotations

import sys

import typer

from carewatch.cli import app
from carewatch.cli.common import UsageError, app_context
from carewatch.domain import Role

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
                                        help="Read the password from the first line of stdin."),
) -> None:
    """Create a dashboard user, or set a new role and password for an existing one."""
    from storage.users import (
        PasswordRuleError,
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
    from storage.users import RECOMMENDED_PASSWORD_LENGTH

    if len(password) < RECOMMENDED_PASSWORD_LENGTH:
        print(f"warning: the password is shorter than {RECOMMENDED_PASSWORD_LENGTH} characters;"
              " a long passphrase is safer", file=sys.stderr)
    db = app_context(ctx).database()
    with db.write() as session:
        _, created = create_or_update_user(session, username, parsed, password, actor="cli")
    print(f"user {username} {'added' if created else 'updated'} with role {parsed.value}",
          file=sys.stderr)


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
