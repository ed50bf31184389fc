"""Parser, dispatch and exit codes of the operator CLI.

Scripts and Jobs branch on the exit code, so each kind of outcome has its own: usage
(2, argparse's own), a refusal by the service layer (1), not found (3), an actor who is
not an enabled admin (4). Messages go to stderr and never carry a traceback unless
`--debug` asks for one.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy.exc import OperationalError

from provisioning.actors import Actor
from provisioning.cli import stores, users
from provisioning.cli.context import Context, Handler, NotAnAdminError, UsageError
from provisioning.cli.output import Output
from provisioning.errors import AuthenticationError, NotFoundError, StorePlatformError
from provisioning.platform import Platform
from provisioning.settings import Settings
from provisioning.users import normalise_username

log = logging.getLogger("provisioning.cli")

OK, REFUSED, USAGE, NOT_FOUND, NOT_ADMIN, INTERNAL = 0, 1, 2, 3, 4, 5
# First match wins: NotFoundError is a StorePlatformError, so it comes before it.
EXIT_CODE_OF_ERROR: tuple[tuple[type[Exception], int], ...] = (
    (UsageError, USAGE),
    (NotAnAdminError, NOT_ADMIN),
    (NotFoundError, NOT_FOUND),
    (StorePlatformError, REFUSED),
)
ACTOR_ENV = "STORE_PLATFORM_ADMIN"

EPILOG = f"""\
The actor: every command acts as an enabled admin of the platform, named with --as NAME
or ${ACTOR_ENV}; its name is in the audit rows the command writes. Settings
(DATABASE_URL, ...) come from the environment, as the portal's do. Anyone who holds the
database credentials can run this CLI, as with Django's manage.py: protect them.

Passwords are never command-line arguments (shell history, ps): --password-stdin reads
one line from stdin; without it a strong password is generated and printed once.

Exit codes:
  0  success
  1  refused by the platform (invalid input, wrong state, a limit, bad settings, no database)
  2  usage error (unknown command or option, missing --yes)
  3  not found (no such store or user)
  4  the actor is unknown, disabled or not an admin
  5  internal error (run again with --debug for the traceback)

Examples:
  python -m provisioning --as admin users create alice
  printf '%s\\n' "$PASSWORD" | python -m provisioning --as admin users reset-password alice --password-stdin
  python -m provisioning --as admin --json stores list --status failed
  python -m provisioning --as admin stores restore my-shop BACKUP_ID --yes   # ids: stores backups my-shop
  python -m provisioning --as admin stores clone my-shop BACKUP_ID my-shop-copy   # a new store, same data
  python -m provisioning --as admin stores upgrade-all --yes   # which ones: stores outdated
"""


def _common_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The global options, on the main parser and again on every command (after the
    command name too: `users list --json`). On commands they default to SUPPRESS so a
    value given before the command is not overwritten."""
    default: dict[str, object] = {"default": argparse.SUPPRESS} if suppress else {}
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout", **default)
    parser.add_argument(
        "--as",
        dest="actor",
        metavar="NAME",
        help=f"the admin to act as (default: ${ACTOR_ENV})",
        **({"default": argparse.SUPPRESS} if suppress else {"default": None}),
    )
    parser.add_argument("--debug", action="store_true", help="debug logging and tracebacks on stderr", **default)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m provisioning",
        allow_abbrev=False,
        description="Store Platform operator CLI: users and stores, through the same checks and audit as the portal.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    _common_options(common, suppress=True)
    groups = parser.add_subparsers(dest="group", metavar="{users,stores}")
    users.add_commands(groups, common)
    stores.add_commands(groups, common)
    return parser


def resolve_actor(platform: Platform, name: str | None) -> Actor:
    """The named admin as an Actor; NotAnAdminError (exit 4) for anyone else."""
    if not name:
        raise NotAnAdminError(f"Name the admin to act as: --as NAME or ${ACTOR_ENV}.")
    username = normalise_username(name)
    try:
        actor = platform.users.get_actor(username)
    except AuthenticationError:
        raise NotAnAdminError(f"{username!r} is not an enabled user of this platform.") from None
    if not actor.is_admin:
        raise NotAnAdminError(f"{username!r} is not an admin; the CLI acts only as an admin.")
    return actor


@contextmanager
def _stderr_logging(debug: bool) -> Iterator[None]:
    """Log records on stderr for this run only (warnings, or everything with --debug),
    undone afterwards so an in-process caller (the tests) keeps its own logging."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG if debug else logging.WARNING)
    # SQLAlchemy logs every statement with its parameters (password hashes) below WARNING.
    handler.addFilter(lambda record: record.levelno >= logging.WARNING or not record.name.startswith("sqlalchemy"))
    previous = root.level
    root.addHandler(handler)
    if debug:
        root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (never raises)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: usage errors (2) and --help (0)
        return exit_.code if isinstance(exit_.code, int) else USAGE
    if args.group is None or getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return USAGE
    with _stderr_logging(args.debug):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    out = Output(as_json=args.json)
    platform: Platform | None = None
    try:
        platform = Platform.build(Settings.from_env())  # migrates; never starts the reconciler
        actor = resolve_actor(platform, args.actor or os.environ.get(ACTOR_ENV))
        handler: Handler = args.handler
        return handler(Context(platform, actor, out), args)
    except (UsageError, NotAnAdminError, StorePlatformError) as error:
        out.error(f"{error}")
        return next(code for kind, code in EXIT_CODE_OF_ERROR if isinstance(error, kind))
    except OperationalError as error:
        log.debug("database error", exc_info=True)
        reason = str(error.orig or error).strip().splitlines() or ["unknown error"]
        out.error(f"cannot use the database (DATABASE_URL): {reason[0]}")
        return REFUSED
    except Exception:
        if args.debug:
            traceback.print_exc(file=sys.stderr)
        else:
            out.error("internal error: see --debug")
        return INTERNAL
    finally:
        if platform is not None:
            platform.db.dispose()
