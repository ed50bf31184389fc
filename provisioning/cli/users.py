"""`users ...`: list, create, disable, enable and reset the password of portal users.

Every command calls UserService with the acting admin, so the checks (admin only, not
your own account, password rules) and the audit rows are the portal's own. Passwords
never come from the command line (shell history, ps): stdin, or generated and shown once.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from provisioning import credentials
from provisioning.cli.context import Context, UsageError
from provisioning.cli.output import table
from provisioning.models import Role, User
from provisioning.users import normalise_username

GENERATED_PASSWORD_LENGTH = 20  # alphanumeric: about 119 bits


def user_json(user: User) -> dict[str, Any]:
    """The public fields of a user (never the hash)."""
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "role": user.role,
        "disabled": user.disabled,
        "created_at": user.created_at,
    }


def read_password(from_stdin: bool) -> str | None:
    """The password piped on stdin (its first line), typed at a prompt when stdin is a
    terminal, or None (not asked for: the caller generates one)."""
    if not from_stdin:
        return None
    if sys.stdin.isatty():
        first = getpass.getpass("New password: ")
        if getpass.getpass("Repeat it: ") != first:
            raise UsageError("The two passwords differ.")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _find(ctx: Context, username: str) -> User:
    """The user row, after a change, for the output (NotFoundError comes from the service)."""
    return next(u for u in ctx.platform.users.list_users(ctx.actor) if u.username == username)


def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    rows = [user_json(u) for u in ctx.platform.users.list_users(ctx.actor)]
    columns = [("username", "USERNAME"), ("role", "ROLE"), ("disabled", "DISABLED"), ("created_at", "CREATED")]
    columns += [("display_name", "NAME"), ("email", "EMAIL")]
    ctx.out.emit({"users": rows, "count": len(rows)}, table(rows, columns))
    return 0


def cmd_create(ctx: Context, args: argparse.Namespace) -> int:
    password, generated = _password(args)
    user = ctx.platform.users.create_user(
        ctx.actor, args.username, password, role=args.role, display_name=args.display_name, email=args.email
    )
    _emit_with_password(ctx, user, f"Created {user.role} {user.username!r}.", password if generated else None)
    return 0


def cmd_set_disabled(ctx: Context, args: argparse.Namespace) -> int:
    username = normalise_username(args.username)
    ctx.platform.users.set_disabled(ctx.actor, username, args.disabled)
    user = _find(ctx, username)
    word = "Disabled" if args.disabled else "Enabled"
    ctx.out.emit({"user": user_json(user)}, f"{word} {user.username!r}.")
    return 0


def cmd_reset_password(ctx: Context, args: argparse.Namespace) -> int:
    username = normalise_username(args.username)
    password, generated = _password(args)
    ctx.platform.users.reset_password(ctx.actor, username, password)
    text = f"Password of {username!r} reset; its sign-in lockout is cleared."
    _emit_with_password(ctx, _find(ctx, username), text, password if generated else None)
    return 0


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password from stdin (``--password-stdin``), else a generated one; and which."""
    given = read_password(args.password_stdin)
    return (given, False) if given is not None else (credentials.password(GENERATED_PASSWORD_LENGTH), True)


def _emit_with_password(ctx: Context, user: User, text: str, generated: str | None) -> None:
    """A generated password is shown this once (it is stored only as a hash); a given one never."""
    data: dict[str, Any] = {"user": user_json(user)}
    if generated is not None:
        data["password"] = generated
        text += f"\nPassword (shown this once, stored only as a hash): {generated}"
    ctx.out.emit(data, text)


def add_commands(groups: Any, common: argparse.ArgumentParser) -> None:
    """The `users` group and its commands, each with the global options (`common`)."""
    group = groups.add_parser("users", help="portal users", description=__doc__)
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)

    listing = commands.add_parser("list", parents=[common], allow_abbrev=False, help="every user")
    listing.set_defaults(handler=cmd_list)

    stdin_help = "read the password from the first line of stdin (prompted, unechoed, on a terminal)"
    create = commands.add_parser(
        "create",
        parents=[common],
        allow_abbrev=False,
        help="create a user (password generated and shown once unless --password-stdin)",
    )
    create.add_argument("username")
    create.add_argument("--role", choices=[Role.USER.value, Role.ADMIN.value], default=Role.USER.value)
    create.add_argument("--password-stdin", action="store_true", help=stdin_help)
    create.add_argument("--display-name", default="", help="shown in the portal")
    create.add_argument("--email", default="")
    create.set_defaults(handler=cmd_create)

    for name, disabled, text in (("disable", True, "stop a user signing in"), ("enable", False, "let them again")):
        command = commands.add_parser(name, parents=[common], allow_abbrev=False, help=text)
        command.add_argument("username")
        command.set_defaults(handler=cmd_set_disabled, disabled=disabled)

    reset = commands.add_parser(
        "reset-password",
        parents=[common],
        allow_abbrev=False,
        help="set a new password (generated unless --password-stdin)",
    )
    reset.add_argument("username")
    reset.add_argument("--password-stdin", action="store_true", help=stdin_help)
    reset.set_defaults(handler=cmd_reset_password)
