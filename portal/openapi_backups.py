"""The backup routes' part of the OpenAPI document: the `Backup` schema and the list,
back-up, restore and clone operations (portal/openapi.py merges them into the document)."""

from __future__ import annotations

from typing import Any

from portal.openapi_common import JSON, NULLABLE_TIME, STORE_ID, errors, ref, response
from provisioning.models import BackupStatus

BACKUP_SCHEMAS: dict[str, Any] = {
    "Backup": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "id",
            "storeId",
            "kind",
            "status",
            "sizeBytes",
            "message",
            "requestedBy",
            "createdAt",
            "startedAt",
            "finishedAt",
        ],
        "description": "One backup of a store: its database and uploaded files, in the platform's object store.",
        "properties": {
            "id": {"type": "string"},
            "storeId": {"type": "string"},
            "kind": {
                "type": "string",
                "description": "`manual` (asked for), `scheduled` (BACKUP_INTERVAL_HOURS) or `pre_restore`.",
            },
            "status": {"enum": [s.value for s in BackupStatus]},
            "sizeBytes": {"type": ["integer", "null"], "minimum": 0, "description": "Null until it succeeded."},
            "message": {"type": "string", "description": "What is happening, or why it failed."},
            "requestedBy": {"type": "string", "description": "Who asked for it (empty for a scheduled one)."},
            "createdAt": {"type": "string", "format": "date-time"},
            "startedAt": NULLABLE_TIME,
            "finishedAt": NULLABLE_TIME,
        },
    },
    "Restore": {
        "type": "object",
        "required": ["backupId", "phase", "since"],
        "additionalProperties": False,
        "properties": {
            "backupId": {"type": ["string", "null"], "description": "The backup being put back."},
            "phase": {
                "enum": ["stopping", "importing", "starting", ""],
                "description": "Stopping the storefront, importing the backup, starting and checking the store.",
            },
            "since": NULLABLE_TIME,
        },
    },
    "BackupClone": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {
                "type": "string",
                "description": "The new store's name: lowercase letters, digits and hyphens; unique among live stores.",
                "examples": ["my-shop-copy"],
            },
            "plan": {
                "type": "string",
                "description": "A plan you may order (ORDERABLE_PLANS; administrators: any); default: the source "
                "store's plan.",
                "examples": ["medium"],
            },
        },
    },
    "BackupList": {
        "type": "object",
        "required": ["backups", "count"],
        "additionalProperties": False,
        "properties": {
            "backups": {"type": "array", "items": ref("Backup")},
            "count": {"type": "integer", "minimum": 0},
        },
    },
}

BACKUP_ID = {
    "name": "backup_id",
    "in": "path",
    "required": True,
    "description": "The backup's id (`id` in a backup object).",
    "schema": {"type": "string", "minLength": 1},
}

BACKUP_PATHS: dict[str, Any] = {
    "/api/stores/{store_id}/backups": {
        "parameters": [STORE_ID],
        "get": {
            "operationId": "listBackups",
            "summary": "The store's backups, newest first: the kept ones (BACKUP_RETENTION), a running one, failures.",
            "responses": {"200": response(ref("BackupList"), "The backups."), **errors(404)},
        },
        "post": {
            "operationId": "backUpStore",
            "summary": "Back up a ready store now (one backup or restore at a time); the worker takes it. "
            "Watch its `status` in the list go from `pending` to `succeeded`. 409 when no backup storage "
            "is configured.",
            "responses": {"202": response(ref("Backup"), "The backup, `pending`."), **errors(404, 409)},
        },
    },
    "/api/stores/{store_id}/backups/{backup_id}/restore": {
        "parameters": [STORE_ID, BACKUP_ID],
        "post": {
            "operationId": "restoreBackup",
            "summary": "Put a succeeded backup back into its store (ready, suspended, or failed after a restore): "
            "the storefront is offline meanwhile and everything changed since the backup is lost. Watch "
            "`status` go from `restoring` to `ready`. A store an administrator suspended can only be restored "
            "by an administrator (403).",
            "responses": {"202": response(ref("Store"), "The store, `restoring`."), **errors(403, 404, 409)},
        },
    },
    "/api/stores/{store_id}/backups/{backup_id}/clone": {
        "parameters": [STORE_ID, BACKUP_ID],
        "post": {
            "operationId": "cloneBackup",
            "summary": "Copy a succeeded backup into a new store of yours (same type as the source, which is left "
            "as it is; its plan unless `plan` says otherwise). The new store counts like any other (name, "
            "limits): watch its `status` go from `requested` through `restoring` to `ready`. 409 when no backup "
            "storage is configured or the source is being deleted.",
            "requestBody": {"required": True, "content": {JSON: {"schema": ref("BackupClone")}}},
            "responses": {
                "201": response(ref("Store"), "The new store, `requested`."),
                **errors(400, 403, 404, 409, 429),
            },
        },
    },
}
