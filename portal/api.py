"""The REST API of the seed (`/api/stores`), served by the same process as the portal.

Same service layer, same checks: every call authenticates and acts as that user, with a
personal API token (`Authorization: Bearer spt_...`, one digest lookup, no bcrypt) or HTTP
Basic against the users table (the same lockout as the login form). `/api/openapi.json`
describes every route (portal/openapi.py). JSON in and out;
errors are `{"error": message, "field": ...}` with a status a client can branch on.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.openapi import openapi_document
from provisioning.actors import Actor
from provisioning.errors import (
    AuthenticationError,
    ClusterUnavailableError,
    InvalidStateError,
    LimitExceededError,
    NameTakenError,
    NotConfiguredError,
    NotFoundError,
    PermissionDeniedError,
    StorePlatformError,
    ValidationError,
)
from provisioning.models import StoreStatus
from provisioning.platform import Platform

log = logging.getLogger(__name__)

STATUS_OF_ERROR: list[tuple[type[StorePlatformError], int]] = [
    (AuthenticationError, 401),
    (NameTakenError, 409),
    (ValidationError, 400),
    (LimitExceededError, 429),
    (NotFoundError, 404),
    (PermissionDeniedError, 403),
    (InvalidStateError, 409),
    (NotConfiguredError, 409),  # e.g. no backup storage: the message says which settings
    (ClusterUnavailableError, 503),
]

Handler = Callable[[Request, Actor, Platform], Any]

# Token calls are short and hold the GIL: a few threads behind a first-come, first-served
# queue serve them faster, with a far shorter tail, than a thread per call (bench/api.py).
# Basic calls spend ~250 ms in bcrypt, which releases the GIL: they keep the shared pool.
BEARER_THREADS = 4


def store_json(store: Any, *, owner: str | None = None) -> dict[str, Any]:
    """The seed's response shape (camelCase), plus the fields the portal shows."""
    data = {
        "id": store.id,
        "name": store.name,
        "type": store.engine,
        "namespace": store.namespace,
        "status": store.status,
        "health": store.health,
        # The last shopper-path check: passed, failed, not_verifiable (simulated cluster) or
        # unchecked. List rows carry the status only; GET /api/stores/{id} has all of it.
        "shopperCheck": {"status": getattr(store, "shopper_status", "") or "unchecked"},
        "message": store.message,
        "url": store.url,
        "createdAt": store.created_at.isoformat(),
        "readyAt": store.ready_at.isoformat() if store.ready_at else None,
    }
    if hasattr(store, "shopper_message"):
        checked = store.shopper_checked_at
        data["shopperCheck"].update(message=store.shopper_message, checkedAt=checked.isoformat() if checked else None)
    if hasattr(store, "suspended_by_admin"):  # why it is suspended (null unless suspending or suspended)
        data["suspension"] = suspension_json(store)
    if hasattr(store, "restore_phase"):  # the restore's progress (null unless restoring)
        data["restore"] = restore_json(store)
    if hasattr(store, "upgrade_phase"):  # what it runs, and the upgrade's progress (null unless upgrading)
        data["versions"] = dict(store.versions or {})
        data["upgrade"] = upgrade_json(store)
    if getattr(store, "plan", None):
        data["plan"] = store.plan
    if owner is not None:
        data["createdBy"] = owner
    return data


def suspension_json(store: Any) -> dict[str, Any] | None:
    if store.status not in (StoreStatus.SUSPENDING, StoreStatus.SUSPENDED):
        return None
    since = getattr(store, "suspended_at", None)
    return {
        "byAdmin": bool(store.suspended_by_admin),
        "reason": store.suspended_reason or "",
        "since": since.isoformat() if since else None,
    }


def restore_json(store: Any) -> dict[str, Any] | None:
    if store.status != StoreStatus.RESTORING:
        return None
    since = store.restore_started_at
    return {
        "backupId": store.restore_backup_id,
        "phase": store.restore_phase,
        "since": since.isoformat() if since else None,
    }


def upgrade_json(store: Any) -> dict[str, Any] | None:
    """The upgrade under way: `upgrading`, or `restoring` to roll a failed one back."""
    rolling_back = store.status == StoreStatus.RESTORING and store.upgrade_phase == "rolling_back"
    if store.status != StoreStatus.UPGRADING and not rolling_back:
        return None
    since = store.upgrade_started_at
    return {
        "phase": store.upgrade_phase or "queued",
        "from": dict(store.upgrade_from or {}),
        "to": dict(store.upgrade_to or {}),
        "since": since.isoformat() if since else None,
    }


def outdated_json(outdated: Any) -> dict[str, Any]:
    """A store not on today's pins, each change as its own object (easy to filter on)."""
    changes = [{"component": key, "from": old, "to": new} for key, (old, new) in sorted(outdated.changes.items())]
    return {
        "id": outdated.id,
        "name": outdated.name,
        "owner": outdated.owner,
        "engine": outdated.engine,
        "status": outdated.status,
        "changes": changes,
    }


def backup_json(backup: Any) -> dict[str, Any]:
    """A backup as the API shows it (camelCase, like a store); never its `location`, a key
    in the platform's bucket that is of no use to a client."""

    def moment(value: Any) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": backup.id,
        "storeId": backup.store_id,
        "kind": backup.kind,
        "status": backup.status,
        "sizeBytes": backup.size_bytes,
        "message": backup.message,
        "requestedBy": backup.requested_by,
        "createdAt": backup.created_at.isoformat(),
        "startedAt": moment(backup.started_at),
        "finishedAt": moment(backup.finished_at),
    }


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": CHALLENGE} if status == 401 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


# A 401 offers both schemes (RFC 9110 allows several challenges in one header).
CHALLENGE = 'Bearer realm="store-platform", Basic realm="store-platform"'
NO_CREDENTIALS = (
    "Sign in with an API token (Authorization: Bearer spt_...; create one on the portal's API tokens page) "
    "or HTTP Basic authentication (your portal username and password)."
)


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        username, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (username, password) if sep else None


class StoreApi:
    """Routes bound to a lazily built Platform (built on the first request, not at import)."""

    def __init__(self, platform_factory: Callable[[], Platform]) -> None:
        self._factory = platform_factory
        self._platform: Platform | None = None
        self._bearer_threads: anyio.CapacityLimiter | None = None

    def platform(self) -> Platform:
        if self._platform is None:
            self._platform = self._factory()
        return self._platform

    def routes(self) -> list[Route]:
        return [
            Route("/api/health", self.health, methods=["GET"]),
            Route("/api/openapi.json", self.openapi, methods=["GET"]),
            Route("/api/stores", self._wrap(self.list_stores), methods=["GET"]),
            Route("/api/stores", self._wrap(self.create_store), methods=["POST"]),
            Route("/api/stores/{store_id}", self._wrap(self.get_store), methods=["GET"]),
            Route("/api/stores/{store_id}", self._wrap(self.delete_store), methods=["DELETE"]),
            Route("/api/stores/{store_id}/retry", self._wrap(self.retry_store), methods=["POST"]),
            Route("/api/stores/{store_id}/suspend", self._wrap(self.suspend_store), methods=["POST"]),
            Route("/api/stores/{store_id}/resume", self._wrap(self.resume_store), methods=["POST"]),
            Route("/api/stores/{store_id}/plan", self._wrap(self.change_plan), methods=["POST"]),
            Route("/api/stores/{store_id}/logs", self._wrap(self.store_logs), methods=["GET"]),
            Route("/api/stores/{store_id}/backups", self._wrap(self.list_backups), methods=["GET"]),
            Route("/api/stores/{store_id}/backups", self._wrap(self.backup_store), methods=["POST"]),
            Route(
                "/api/stores/{store_id}/backups/{backup_id}/restore", self._wrap(self.restore_backup), methods=["POST"]
            ),
            Route("/api/stores/{store_id}/backups/{backup_id}/clone", self._wrap(self.clone_backup), methods=["POST"]),
            Route("/api/stores/{store_id}/upgrade", self._wrap(self.upgrade_store), methods=["POST"]),
            Route("/api/admin/upgrades", self._wrap(self.outdated_stores), methods=["GET"]),
            Route("/api/admin/upgrades", self._wrap(self.upgrade_all), methods=["POST"]),
        ]

    async def health(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def openapi(self, _request: Request) -> Response:
        return JSONResponse(openapi_document())

    def _bearer_limiter(self) -> anyio.CapacityLimiter:
        if self._bearer_threads is None:  # made in the event loop, on first use
            self._bearer_threads = anyio.CapacityLimiter(BEARER_THREADS)
        return self._bearer_threads

    def _wrap(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            body: Any = None
            if request.method == "POST" and (
                request.url.path == "/api/stores" or request.url.path.endswith(("/suspend", "/plan", "/clone"))
            ):
                try:
                    body = json.loads(await request.body() or b"{}")
                except (json.JSONDecodeError, UnicodeDecodeError):
                    return _error(400, "The request body must be JSON.")
                if not isinstance(body, dict):
                    return _error(400, "The request body must be a JSON object.")
            call = functools.partial(self._call, handler, request, body)
            if _bearer(request) is not None:
                return await anyio.to_thread.run_sync(call, limiter=self._bearer_limiter())
            return await run_in_threadpool(call)

        return endpoint

    def _call(self, handler: Handler, request: Request, body: Any) -> Response:
        try:
            platform = self.platform()
            token = _bearer(request)
            credentials = _credentials(request) if token is None else None
            if token is not None:
                actor = platform.tokens.authenticate(token)
            elif credentials is not None:
                actor = platform.users.authenticate(*credentials)
            else:
                return _error(401, NO_CREDENTIALS)
            request.state.body = body
            return handler(request, actor, platform)
        except StorePlatformError as error:
            status = next((code for kind, code in STATUS_OF_ERROR if isinstance(error, kind)), 400)
            extra = {"field": error.field} if isinstance(error, ValidationError) else {}
            return _error(status, str(error), **extra)
        except Exception:
            log.exception("API request %s %s failed", request.method, request.url.path)
            return _error(500, "Something went wrong on our side; the details are in the portal's log.")

    # -- handlers (run in a worker thread) ------------------------------------------------

    def list_stores(self, request: Request, actor: Actor, platform: Platform) -> Response:
        if request.query_params.get("all") in ("1", "true") and actor.is_admin:
            rows, _ = platform.stores.list_all_stores(actor, limit=None)
            stores = [store_json(r, owner=r.owner) for r in rows]
        else:
            stores = [store_json(s, owner=actor.username) for s in platform.stores.list_stores(actor)]
        return JSONResponse({"stores": stores, "count": len(stores)})

    def get_store(self, request: Request, actor: Actor, platform: Platform) -> Response:
        store = platform.stores.get_store(actor, request.path_params["store_id"])
        return JSONResponse(store_json(store))

    def create_store(self, request: Request, actor: Actor, platform: Platform) -> Response:
        body = request.state.body
        engine = body.get("type", "woocommerce")
        if not isinstance(engine, str):
            raise ValidationError("'type' must be a string such as \"woocommerce\".", field="type")
        store = platform.stores.create_store(actor, body.get("name"), engine=engine, plan=body.get("plan"))
        return JSONResponse(store_json(store, owner=actor.username), status_code=201)

    def delete_store(self, request: Request, actor: Actor, platform: Platform) -> Response:
        store = platform.stores.delete_store(actor, request.path_params["store_id"])
        return JSONResponse(store_json(store), status_code=202)

    def suspend_store(self, request: Request, actor: Actor, platform: Platform) -> Response:
        """Body optional: `{"reason": "..."}` (required of an administrator suspending another's store)."""
        reason = request.state.body.get("reason")
        store = platform.stores.suspend_store(actor, request.path_params["store_id"], reason=reason)
        return JSONResponse(store_json(store), status_code=202)

    def resume_store(self, request: Request, actor: Actor, platform: Platform) -> Response:
        store = platform.stores.resume_store(actor, request.path_params["store_id"])
        return JSONResponse(store_json(store), status_code=202)

    def change_plan(self, request: Request, actor: Actor, platform: Platform) -> Response:
        """Body: `{"plan": "medium"}`."""
        plan = request.state.body.get("plan")
        if not isinstance(plan, str) or not plan:
            raise ValidationError('Give the new plan, e.g. {"plan": "medium"}.', field="plan")
        store = platform.stores.change_plan(actor, request.path_params["store_id"], plan)
        return JSONResponse(store_json(store), status_code=202)

    def retry_store(self, request: Request, actor: Actor, platform: Platform) -> Response:
        store = platform.stores.retry_store(actor, request.path_params["store_id"])
        return JSONResponse(store_json(store), status_code=202)

    def store_logs(self, request: Request, actor: Actor, platform: Platform) -> Response:
        """`?tail=N` (default 200): the last N lines of each container, or why there are none."""
        raw = request.query_params.get("tail", "")
        if raw and not raw.isdigit():
            raise ValidationError("'tail' must be a whole number of lines.", field="tail")
        kwargs = {"tail_lines": int(raw)} if raw else {}
        logs = platform.stores.store_logs(actor, request.path_params["store_id"], **kwargs)
        return JSONResponse({"containers": [entry.as_json() for entry in logs]})

    def list_backups(self, request: Request, actor: Actor, platform: Platform) -> Response:
        backups = platform.stores.list_backups(actor, request.path_params["store_id"])
        return JSONResponse({"backups": [backup_json(b) for b in backups], "count": len(backups)})

    def backup_store(self, request: Request, actor: Actor, platform: Platform) -> Response:
        """202: the backup is recorded (`pending`); the worker takes it."""
        backup = platform.stores.backup_store(actor, request.path_params["store_id"])
        return JSONResponse(backup_json(backup), status_code=202)

    def restore_backup(self, request: Request, actor: Actor, platform: Platform) -> Response:
        """202: the store is `restoring`; the worker stops it, imports the backup and starts it."""
        store_id, backup_id = request.path_params["store_id"], request.path_params["backup_id"]
        store = platform.stores.restore_backup(actor, store_id, backup_id)
        return JSONResponse(store_json(store), status_code=202)

    def clone_backup(self, request: Request, actor: Actor, platform: Platform) -> Response:
        """Body: `{"name": "my-copy", "plan": "medium"}` (plan optional: the source's). 201: a
        new store of the caller's, `requested`; once provisioned it restores the backup."""
        body = request.state.body
        store_id, backup_id = request.path_params["store_id"], request.path_params["backup_id"]
        store = platform.stores.clone_store(actor, store_id, backup_id, body.get("name"), plan=body.get("plan"))
        return JSONResponse(store_json(store, owner=actor.username), status_code=201)

    def upgrade_store(self, request: Request, actor: Actor, platform: Platform) -> Response:
        """202: the store is `upgrading` (phase `queued`); the worker backs it up, applies the
        new versions, checks it and rolls back if the checks fail. Administrators only."""
        store = platform.stores.upgrade_store(actor, request.path_params["store_id"])
        return JSONResponse(store_json(store), status_code=202)

    def outdated_stores(self, _request: Request, actor: Actor, platform: Platform) -> Response:
        outdated = platform.stores.outdated_stores(actor)
        return JSONResponse({"stores": [outdated_json(o) for o in outdated], "count": len(outdated)})

    def upgrade_all(self, _request: Request, actor: Actor, platform: Platform) -> Response:
        """202: the ready outdated stores are queued (MAX_CONCURRENT_UPGRADES run at once)."""
        return JSONResponse({"queued": platform.stores.upgrade_all(actor)}, status_code=202)
