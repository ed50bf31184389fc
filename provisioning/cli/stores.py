"""`stores ...`: list (with filters), show, delete, retry, suspend, resume, re-plan, back up,
restore, clone and upgrade any user's store.

Every command calls StoreService as the acting admin: the same state checks (a deleted
store cannot be deleted again, only failed stores retry) and the same audit rows as the
portal. Stores are named by id or by name; a name means the live store of that name, else
the newest deleted one.
"""

from __future__ import annotations

import argparse
from typing import Any

from provisioning.catalog import versions
from provisioning.cli.context import Context, UsageError
from provisioning.cli.output import fields, table
from provisioning.engines import ENGINES
from provisioning.errors import NotFoundError
from provisioning.models import Store, StoreStatus

AUDIT_EVENTS_SHOWN = 10


def _is_id(ref: str) -> bool:
    return len(ref) == 32 and all(c in "0123456789abcdef" for c in ref)


def resolve(ctx: Context, ref: str) -> Store:
    """The store `ref` names (id or name), as the acting admin may see it."""
    service = ctx.platform.stores
    if _is_id(ref):
        return service.get_store(ctx.actor, ref)
    rows, _ = service.list_all_stores(ctx.actor, limit=None)  # newest first
    named = [row for row in rows if row.name == ref.strip().lower()]
    live = [row for row in named if row.status != StoreStatus.DELETED]
    if not named:
        raise NotFoundError(f"No store has the id or name {ref!r}.")
    return service.get_store(ctx.actor, (live or named)[0].id)


def store_json(store: Any, *, owner: str | None = None) -> dict[str, Any]:
    """A store row or object as a dict of its columns (snake_case, as in the database)."""
    data = dict(store._mapping) if hasattr(store, "_mapping") else store.model_dump()
    data.pop("active_name", None)  # internal: the uniqueness key of live names
    if owner is not None:
        data["owner"] = owner
    return data


def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    # No status filter and no --all: the live stores only. The service filters in SQL on
    # owner, status and engine; leaving out deleted stores is done here, then the limit.
    if args.limit < 0:
        raise UsageError("--limit must be 0 (no limit) or more.")
    everything = args.include_deleted or args.status
    rows, total = ctx.platform.stores.list_all_stores(
        ctx.actor,
        owner=args.owner,
        status=args.status,
        engine=args.engine,
        limit=args.limit if everything else None,
    )
    if not everything:
        rows = [row for row in rows if row.status != StoreStatus.DELETED]
        total = len(rows)
        rows = rows[: args.limit] if args.limit else rows
    stores = [store_json(row) for row in rows]
    columns = [("id", "ID"), ("name", "NAME"), ("engine", "ENGINE"), ("status", "STATUS"), ("owner", "OWNER")]
    columns += [("created_at", "CREATED"), ("url", "URL")]
    text = table(stores, columns) if stores else "No stores match."
    if total > len(stores):
        text += f"\n({len(stores)} of {total} shown; raise --limit to see more)"
    ctx.out.emit({"stores": stores, "count": len(stores), "total": total}, text)
    return 0


def _owner_name(ctx: Context, store: Store) -> str:
    users = ctx.platform.users.list_users(ctx.actor)
    return next((u.username for u in users if u.id == store.owner_id), f"(user {store.owner_id})")


def _step(condition: dict[str, Any]) -> str:
    """One provisioning step (a condition), as the store page lists them."""
    done = "done" if condition.get("status") == "True" else condition.get("reason") or "pending"
    return f"  {condition.get('type', '?')}: {done}  {condition.get('message', '')}".rstrip()


def cmd_show(ctx: Context, args: argparse.Namespace) -> int:
    store = resolve(ctx, args.store)
    owner = _owner_name(ctx, store)
    events = ctx.platform.stores.audit_log(ctx.actor, store_id=store.id, limit=AUDIT_EVENTS_SHOWN)
    data = store_json(store, owner=owner)
    data["audit"] = [{"at": e.at, "actor": e.actor, "action": e.action, "detail": e.detail} for e in events]
    keys = ["id", "name", "engine", "owner", "status", "health", "message", "failure_kind", "url", "namespace"]
    keys += ["admin_user", "shopper_status", "shopper_message", "shopper_checked_at", "attempts"]
    keys += ["created_at", "provisioning_started_at", "ready_at", "deleting_started_at", "deleted_at"]
    text = fields([(key, data.get(key)) for key in keys])
    steps = [_step(condition) for condition in store.conditions or []]
    if steps:
        text += "\n\nSteps:\n" + "\n".join(steps)
    if events:
        columns = [("at", "AT"), ("actor", "ACTOR"), ("action", "ACTION"), ("detail", "DETAIL")]
        text += "\n\nRecent audit events:\n" + table(data["audit"], columns)
    ctx.out.emit(data, text)
    return 0


def cmd_delete(ctx: Context, args: argparse.Namespace) -> int:
    store = resolve(ctx, args.store)
    if not args.yes:
        raise UsageError(
            f"This deletes store {store.name!r} ({store.id}) with its namespace and all its data; add --yes to confirm."
        )
    store = ctx.platform.stores.delete_store(ctx.actor, store.id)
    text = f"Deleting store {store.name!r} ({store.id}); its name is free again."
    ctx.out.emit({"store": store_json(store)}, text)
    return 0


def cmd_retry(ctx: Context, args: argparse.Namespace) -> int:
    store = ctx.platform.stores.retry_store(ctx.actor, resolve(ctx, args.store).id)
    text = f"Store {store.name!r} ({store.id}) is queued again (attempt {store.attempts + 1})."
    ctx.out.emit({"store": store_json(store)}, text)
    return 0


def cmd_suspend(ctx: Context, args: argparse.Namespace) -> int:
    store = ctx.platform.stores.suspend_store(ctx.actor, resolve(ctx, args.store).id, reason=args.reason)
    text = f"Suspending store {store.name!r} ({store.id}): workloads to zero, off the ingress, data kept."
    ctx.out.emit({"store": store_json(store)}, text)
    return 0


def cmd_resume(ctx: Context, args: argparse.Namespace) -> int:
    store = ctx.platform.stores.resume_store(ctx.actor, resolve(ctx, args.store).id)
    text = f"Resuming store {store.name!r} ({store.id}); it is ready again after the usual checks."
    ctx.out.emit({"store": store_json(store)}, text)
    return 0


def cmd_plan(ctx: Context, args: argparse.Namespace) -> int:
    store = ctx.platform.stores.change_plan(ctx.actor, resolve(ctx, args.store).id, args.plan)
    text = f"Changing store {store.name!r} ({store.id}) to plan {store.plan!r}: pods restart, volumes only grow."
    ctx.out.emit({"store": store_json(store)}, text)
    return 0


def cmd_backups(ctx: Context, args: argparse.Namespace) -> int:
    store = resolve(ctx, args.store)
    backups = [backup.model_dump() for backup in ctx.platform.stores.list_backups(ctx.actor, store.id)]
    columns = [("id", "ID"), ("created_at", "CREATED"), ("kind", "KIND"), ("status", "STATUS")]
    columns += [("size_bytes", "BYTES"), ("message", "MESSAGE")]
    text = table(backups, columns) if backups else f"Store {store.name!r} has no backups."
    ctx.out.emit({"backups": backups, "count": len(backups)}, text)
    return 0


def cmd_backup(ctx: Context, args: argparse.Namespace) -> int:
    store = resolve(ctx, args.store)
    backup = ctx.platform.stores.backup_store(ctx.actor, store.id)
    text = f"Backing up store {store.name!r} ({store.id}): backup {backup.id}; `stores backups` shows how it goes."
    ctx.out.emit({"backup": backup.model_dump()}, text)
    return 0


def cmd_restore(ctx: Context, args: argparse.Namespace) -> int:
    store = resolve(ctx, args.store)
    if not args.yes:
        raise UsageError(
            f"This takes store {store.name!r} ({store.id}) offline and replaces its data with backup "
            f"{args.backup}: everything changed since the backup is lost; add --yes to confirm."
        )
    store = ctx.platform.stores.restore_backup(ctx.actor, store.id, args.backup)
    text = f"Restoring backup {args.backup} into store {store.name!r} ({store.id}): offline until ready again."
    ctx.out.emit({"store": store_json(store)}, text)
    return 0


def cmd_clone(ctx: Context, args: argparse.Namespace) -> int:
    """A new store (the acting admin's) with a succeeded backup's data; the source is untouched."""
    source = resolve(ctx, args.store)
    store = ctx.platform.stores.clone_store(ctx.actor, source.id, args.backup, args.name, plan=args.plan)
    text = (
        f"Store {store.name!r} ({store.id}) ordered as a copy of backup {args.backup} of store {source.name!r}, "
        f"plan {store.plan!r}: it is provisioned, then the backup is restored into it; `stores show "
        f"{store.name}` shows how it goes."
    )
    ctx.out.emit({"store": store_json(store)}, text)
    return 0


def cmd_outdated(ctx: Context, args: argparse.Namespace) -> int:
    rows = [
        {
            "id": o.id,
            "name": o.name,
            "owner": o.owner,
            "engine": o.engine,
            "status": o.status,
            "summary": o.summary,
            "changes": {key: {"from": old, "to": new} for key, (old, new) in o.changes.items()},
        }
        for o in ctx.platform.stores.outdated_stores(ctx.actor)
    ]
    columns = [("id", "ID"), ("name", "NAME"), ("owner", "OWNER"), ("engine", "ENGINE"), ("status", "STATUS")]
    columns += [("summary", "CHANGES")]
    text = table(rows, columns) if rows else "Every store runs the current versions."
    ctx.out.emit({"stores": rows, "count": len(rows)}, text)
    return 0


def cmd_upgrade(ctx: Context, args: argparse.Namespace) -> int:
    store = resolve(ctx, args.store)
    if not args.yes:
        raise UsageError(
            f"This upgrades store {store.name!r} ({store.id}) to today's versions: a backup is taken first, the "
            "storefront restarts, and a store that fails its checks is rolled back; add --yes to confirm."
        )
    store = ctx.platform.stores.upgrade_store(ctx.actor, store.id)
    text = f"Upgrading store {store.name!r} ({store.id}) to {versions.describe(store.upgrade_to)}; backed up first."
    ctx.out.emit({"store": store_json(store)}, text)
    return 0


def cmd_upgrade_all(ctx: Context, args: argparse.Namespace) -> int:
    if not args.yes:
        raise UsageError(
            "This upgrades every ready store not on today's versions, each backed up first and rolled back "
            "if it fails its checks; storefronts restart. `stores outdated` lists them; add --yes to confirm."
        )
    queued = ctx.platform.stores.upgrade_all(ctx.actor)
    limit = ctx.platform.settings.max_concurrent_upgrades
    text = (
        f"Upgrade queued for {len(queued)} store{'s' if len(queued) != 1 else ''}: {', '.join(queued)} "
        f"({limit} run at once; the rest wait their turn)."
        if queued
        else "No ready store needed an upgrade; nothing was queued."
    )
    ctx.out.emit({"queued": queued, "count": len(queued)}, text)
    return 0


def add_commands(groups: Any, common: argparse.ArgumentParser) -> None:
    """The `stores` group and its commands, each with the global options (`common`)."""
    group = groups.add_parser("stores", help="every user's stores", description=__doc__)
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)

    listing = commands.add_parser(
        "list", parents=[common], allow_abbrev=False, help="stores, newest first (live ones unless --all)"
    )
    listing.add_argument("--owner", metavar="USERNAME")
    listing.add_argument("--status", choices=[s.value for s in StoreStatus])
    listing.add_argument("--engine", choices=sorted(ENGINES))
    listing.add_argument(
        "--all", "--include-deleted", dest="include_deleted", action="store_true", help="deleted stores too"
    )
    listing.add_argument("--limit", type=int, default=1000, help="at most this many rows (0: no limit)")
    listing.set_defaults(handler=cmd_list)

    show = commands.add_parser(
        "show", parents=[common], allow_abbrev=False, help="one store, its steps and recent audit events"
    )
    show.add_argument("store", metavar="ID_OR_NAME")
    show.set_defaults(handler=cmd_show)

    delete = commands.add_parser(
        "delete", parents=[common], allow_abbrev=False, help="delete a store and everything in it"
    )
    delete.add_argument("store", metavar="ID_OR_NAME")
    delete.add_argument("--yes", action="store_true", help="confirm: the store's data is gone for good")
    delete.set_defaults(handler=cmd_delete)

    retry = commands.add_parser("retry", parents=[common], allow_abbrev=False, help="provision a failed store again")
    retry.add_argument("store", metavar="ID_OR_NAME")
    retry.set_defaults(handler=cmd_retry)

    suspend = commands.add_parser(
        "suspend", parents=[common], allow_abbrev=False, help="take a ready store offline, keeping its data"
    )
    suspend.add_argument("store", metavar="ID_OR_NAME")
    suspend.add_argument("--reason", default="", help="shown to the owner; required for another user's store")
    suspend.set_defaults(handler=cmd_suspend)

    resume = commands.add_parser("resume", parents=[common], allow_abbrev=False, help="bring a suspended store back")
    resume.add_argument("store", metavar="ID_OR_NAME")
    resume.set_defaults(handler=cmd_resume)

    plan = commands.add_parser(
        "plan", parents=[common], allow_abbrev=False, help="move a ready store to another plan (volumes never shrink)"
    )
    plan.add_argument("store", metavar="ID_OR_NAME")
    plan.add_argument("plan", metavar="PLAN")
    plan.set_defaults(handler=cmd_plan)

    backups = commands.add_parser(
        "backups", parents=[common], allow_abbrev=False, help="a store's backups, newest first"
    )
    backups.add_argument("store", metavar="ID_OR_NAME")
    backups.set_defaults(handler=cmd_backups)

    backup = commands.add_parser("backup", parents=[common], allow_abbrev=False, help="back up a ready store now")
    backup.add_argument("store", metavar="ID_OR_NAME")
    backup.set_defaults(handler=cmd_backup)

    restore = commands.add_parser(
        "restore", parents=[common], allow_abbrev=False, help="put a succeeded backup back into its store"
    )
    restore.add_argument("store", metavar="ID_OR_NAME")
    restore.add_argument("backup", metavar="BACKUP_ID")
    restore.add_argument("--yes", action="store_true", help="confirm: changes since the backup are lost")
    restore.set_defaults(handler=cmd_restore)

    clone = commands.add_parser(
        "clone", parents=[common], allow_abbrev=False, help="copy a succeeded backup into a new store"
    )
    clone.add_argument("store", metavar="ID_OR_NAME")
    clone.add_argument("backup", metavar="BACKUP_ID")
    clone.add_argument("name", metavar="NEW_NAME", help="the new store's name")
    clone.add_argument("--plan", metavar="PLAN", help="the new store's plan (default: the source's)")
    clone.set_defaults(handler=cmd_clone)

    outdated = commands.add_parser(
        "outdated", parents=[common], allow_abbrev=False, help="stores not on today's versions, and what would change"
    )
    outdated.set_defaults(handler=cmd_outdated)

    upgrade = commands.add_parser(
        "upgrade", parents=[common], allow_abbrev=False, help="upgrade a ready store (backed up first)"
    )
    upgrade.add_argument("store", metavar="ID_OR_NAME")
    upgrade.add_argument("--yes", action="store_true", help="confirm: the storefront restarts during the upgrade")
    upgrade.set_defaults(handler=cmd_upgrade)

    upgrade_all = commands.add_parser(
        "upgrade-all", parents=[common], allow_abbrev=False, help="upgrade every ready store not on today's versions"
    )
    upgrade_all.add_argument("--yes", action="store_true", help="confirm: storefronts restart during their upgrades")
    upgrade_all.set_defaults(handler=cmd_upgrade_all)
