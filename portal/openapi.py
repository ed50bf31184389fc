"""The REST API's OpenAPI 3.1 document, served at `GET /api/openapi.json`.

Written by hand next to portal/api.py and checked against the live server: the test in
tests/portal/test_openapi.py validates every route's real answers (successes and errors)
against this document with openapi-core, so the two cannot drift apart. The backup routes'
part is in portal/openapi_backups.py, the upgrade routes' in portal/openapi_upgrades.py;
the shared pieces in portal/openapi_common.py.
"""

from __future__ import annotations

import copy
from typing import Any

from portal.openapi_backups import BACKUP_PATHS, BACKUP_SCHEMAS
from portal.openapi_common import ERROR_RESPONSES, JSON, NULLABLE_TIME, STORE_ID, errors, ref, response
from portal.openapi_upgrades import STORE_VERSION_PROPERTIES, UPGRADE_PATHS, UPGRADE_SCHEMAS
from provisioning.engines import ENGINES
from provisioning.models import ShopperStatus, StoreStatus
from provisioning.operations.store_logs import MAX_TAIL_LINES, TAIL_LINES

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {"type": "string", "description": "A sentence for the person reading it."},
            "field": {"type": "string", "description": "The input at fault (400 only), e.g. `name`, `type`."},
        },
    },
    "ShopperCheck": {
        "type": "object",
        "required": ["status"],
        "additionalProperties": False,
        "description": "The last check that a shopper can reach the store (full in GET /api/stores/{store_id}).",
        "properties": {
            "status": {"enum": sorted({s.value or "unchecked" for s in ShopperStatus})},
            "message": {"type": "string"},
            "checkedAt": NULLABLE_TIME,
        },
    },
    "Store": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "id",
            "name",
            "type",
            "namespace",
            "status",
            "health",
            "shopperCheck",
            "message",
            "url",
            "createdAt",
            "readyAt",
        ],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "type": {"type": "string", "description": "The engine, e.g. `woocommerce`."},
            "namespace": {"type": "string"},
            "status": {"enum": [s.value for s in StoreStatus]},
            "health": {
                "enum": ["working", "erroring", "degraded"],
                "description": "`erroring`: a warning is being seen; `degraded`: ready, but shoppers cannot reach it.",
            },
            "shopperCheck": ref("ShopperCheck"),
            "message": {"type": "string", "description": "What is happening, or what to do about a failure."},
            "url": {"type": "string"},
            "createdAt": {"type": "string", "format": "date-time"},
            "readyAt": NULLABLE_TIME,
            "createdBy": {"type": "string", "description": "The owner's username (lists and create)."},
            "plan": {
                "type": "string",
                "description": "The store's plan, e.g. `small` (full responses; during a change: the new one).",
            },
            "suspension": {
                "oneOf": [{"type": "null"}, ref("Suspension")],
                "description": "Why the store is suspended; null unless `suspending` or `suspended`.",
            },
            "restore": {
                "oneOf": [{"type": "null"}, ref("Restore")],
                "description": "The restore under way (GET one store and the actions); null unless `restoring`.",
            },
            **STORE_VERSION_PROPERTIES,
        },
    },
    "StoreList": {
        "type": "object",
        "required": ["stores", "count"],
        "additionalProperties": False,
        "properties": {
            "stores": {"type": "array", "items": ref("Store")},
            "count": {"type": "integer", "minimum": 0},
        },
    },
    "Suspension": {
        "type": "object",
        "required": ["byAdmin", "reason", "since"],
        "additionalProperties": False,
        "properties": {
            "byAdmin": {
                "type": "boolean",
                "description": "Suspended by an administrator: only an administrator can resume it.",
            },
            "reason": {"type": "string", "description": "The administrator's reason (empty for the owner's own)."},
            "since": NULLABLE_TIME,
        },
    },
    "SuspendRequest": {
        "type": "object",
        "properties": {
            "reason": {
                "type": "string",
                "maxLength": 500,
                "description": "Shown to the owner; required of an administrator suspending another user's store.",
            }
        },
    },
    "NewStore": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {
                "type": "string",
                "description": "Lowercase letters, digits and hyphens; unique among live stores.",
                "examples": ["my-shop"],
            },
            "type": {"enum": sorted(ENGINES), "default": "woocommerce"},
            "plan": {
                "type": "string",
                "description": "A plan you may order (ORDERABLE_PLANS; administrators: any); default DEFAULT_PLAN.",
                "examples": ["medium"],
            },
        },
    },
    "PlanChange": {
        "type": "object",
        "required": ["plan"],
        "properties": {"plan": {"type": "string", "examples": ["medium"]}},
    },
    "ContainerLogs": {
        "type": "object",
        "required": ["containers"],
        "additionalProperties": False,
        "properties": {
            "containers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["pod", "container", "log", "unavailable"],
                    "additionalProperties": False,
                    "properties": {
                        "pod": {"type": "string"},
                        "container": {"type": "string"},
                        "log": {"type": "string", "description": "The last lines, oldest first."},
                        "unavailable": {"type": "string", "description": "Why there is no log; empty when read."},
                    },
                },
            }
        },
    },
    **BACKUP_SCHEMAS,
    **UPGRADE_SCHEMAS,
}


def _responses() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for code, (name, when) in ERROR_RESPONSES.items():
        answer = response(ref("Error"), when)
        if code == 401:
            answer["headers"] = {
                "WWW-Authenticate": {
                    "description": 'Both schemes: `Bearer realm="store-platform", Basic realm="store-platform"`.',
                    "required": True,
                    "schema": {"type": "string"},
                }
            }
        responses[name] = answer
    return responses


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Store Platform API",
        "version": "1",
        "description": (
            "Order, watch and delete ecommerce stores, each in its own Kubernetes namespace. "
            "Every route but /api/health and /api/openapi.json needs credentials: a personal API "
            "token (`Authorization: Bearer spt_...`, created on the portal's API tokens page) or "
            'HTTP Basic with the portal username and password. Errors are `{"error": message}` '
            "(plus `field` on 400) with a status a client can branch on."
        ),
    },
    "servers": [{"url": "/"}],
    "security": [{"bearerAuth": []}, {"basicAuth": []}],
    "paths": {
        "/api/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness of the API (no credentials, no database).",
                "security": [],
                "responses": {
                    "200": response(
                        {
                            "type": "object",
                            "required": ["status"],
                            "additionalProperties": False,
                            "properties": {"status": {"const": "ok"}},
                        },
                        "The API answers.",
                    )
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document (no credentials).",
                "security": [],
                "responses": {"200": response({"type": "object"}, "The OpenAPI 3.1 document.")},
            }
        },
        "/api/stores": {
            "get": {
                "operationId": "listStores",
                "summary": "Your stores, newest first (deleted ones left out); `?all=true`: everyone's, for admins.",
                "parameters": [
                    {
                        "name": "all",
                        "in": "query",
                        "required": False,
                        "description": "`true` or `1`: every user's stores, with `createdBy` (administrators only; "
                        "ignored for others).",
                        "schema": {"type": "string", "examples": ["true"]},
                    }
                ],
                "responses": {"200": response(ref("StoreList"), "The stores."), **errors()},
            },
            "post": {
                "operationId": "createStore",
                "summary": "Order a store; the provisioner picks it up (watch `status`).",
                "requestBody": {"required": True, "content": {JSON: {"schema": ref("NewStore")}}},
                "responses": {
                    "201": response(ref("Store"), "The store, `requested`."),
                    **errors(400, 403, 409, 429),
                },
            },
        },
        "/api/stores/{store_id}": {
            "parameters": [STORE_ID],
            "get": {
                "operationId": "getStore",
                "summary": "One store, with its full shopper check.",
                "responses": {"200": response(ref("Store"), "The store."), **errors(404)},
            },
            "delete": {
                "operationId": "deleteStore",
                "summary": "Delete the store and everything in its namespace; the name is free at once.",
                "responses": {"202": response(ref("Store"), "The store, `deleting`."), **errors(404, 409)},
            },
        },
        "/api/stores/{store_id}/retry": {
            "parameters": [STORE_ID],
            "post": {
                "operationId": "retryStore",
                "summary": "Provision a failed store again.",
                "responses": {"202": response(ref("Store"), "The store, `requested` again."), **errors(404, 409)},
            },
        },
        "/api/stores/{store_id}/suspend": {
            "parameters": [STORE_ID],
            "post": {
                "operationId": "suspendStore",
                "summary": "Take a ready store offline: workloads to zero, off the ingress; volumes and Secret "
                "kept (it still counts toward the store limit). Watch `status` become `suspended`.",
                "requestBody": {"required": False, "content": {JSON: {"schema": ref("SuspendRequest")}}},
                "responses": {
                    "202": response(ref("Store"), "The store, `suspending`."),
                    **errors(400, 404, 409),
                },
            },
        },
        "/api/stores/{store_id}/resume": {
            "parameters": [STORE_ID],
            "post": {
                "operationId": "resumeStore",
                "summary": "Bring a suspended store back; `ready` again after the same checks as provisioning. "
                "A store an administrator suspended can only be resumed by an administrator (403).",
                "responses": {"202": response(ref("Store"), "The store, `resuming`."), **errors(403, 404, 409)},
            },
        },
        "/api/stores/{store_id}/plan": {
            "parameters": [STORE_ID],
            "post": {
                "operationId": "changeStorePlan",
                "summary": "Move a ready store to another plan: quota, limits and workloads are re-applied (pods "
                "restart) and volumes grow where their StorageClass allows expansion; they never shrink (409). "
                "Watch `status` go from `resizing` back to `ready`.",
                "requestBody": {"required": True, "content": {JSON: {"schema": ref("PlanChange")}}},
                "responses": {
                    "202": response(ref("Store"), "The store, `resizing`."),
                    **errors(400, 403, 404, 409),
                },
            },
        },
        "/api/stores/{store_id}/logs": {
            "parameters": [STORE_ID],
            "get": {
                "operationId": "storeLogs",
                "summary": "The last lines of each of the store's containers (audited).",
                "parameters": [
                    {
                        "name": "tail",
                        "in": "query",
                        "required": False,
                        "description": f"Lines per container (default {TAIL_LINES}).",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_TAIL_LINES},
                    }
                ],
                "responses": {
                    "200": response(ref("ContainerLogs"), "One entry per container, setup Job's included."),
                    **errors(400, 404, 409, 503),
                },
            },
        },
        **BACKUP_PATHS,
        **UPGRADE_PATHS,
    },
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "A personal API token, `spt_` and 43 more characters.",
            },
            "basicAuth": {"type": "http", "scheme": "basic", "description": "The portal username and password."},
        },
        "schemas": SCHEMAS,
        "responses": _responses(),
    },
}


def openapi_document() -> dict[str, Any]:
    """A copy of the document (callers may not change the served one)."""
    return copy.deepcopy(DOCUMENT)
