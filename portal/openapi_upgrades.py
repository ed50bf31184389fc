"""The upgrade routes' part of the OpenAPI document: the `Upgrade` and `OutdatedStore`
schemas, the store's `versions`, and the list, upgrade-one and upgrade-all operations
(portal/openapi.py merges them into the document)."""

from __future__ import annotations

from typing import Any

from portal.openapi_common import NULLABLE_TIME, STORE_ID, errors, ref, response
from provisioning.models import StoreStatus

VERSIONS = {
    "type": "object",
    "additionalProperties": {"type": "string"},
    "description": "Component -> version: for `woocommerce` wordpress, wp-cli, mariadb (images) and "
    "woocommerce (the plugin); for `medusa` medusa, postgres and redis (images).",
    "examples": [{"wordpress": "wordpress:6.8.1-php8.3-apache", "woocommerce": "10.2.0"}],
}

# Store properties (portal/openapi.py adds them to the `Store` schema).
STORE_VERSION_PROPERTIES: dict[str, Any] = {
    "versions": {
        **VERSIONS,
        "description": "What the store runs (full responses): the versions it was provisioned or last "
        "upgraded with, kept until an administrator upgrades it. " + VERSIONS["description"],
    },
    "upgrade": {
        "oneOf": [{"type": "null"}, ref("Upgrade")],
        "description": "The upgrade under way (full responses); null unless `upgrading`, or `restoring` to "
        "roll a failed upgrade back.",
    },
}

UPGRADE_SCHEMAS: dict[str, Any] = {
    "Upgrade": {
        "type": "object",
        "required": ["phase", "from", "to", "since"],
        "additionalProperties": False,
        "properties": {
            "phase": {
                "enum": ["queued", "backup", "applying", "verifying", "rolling_back"],
                "description": "Waiting its turn (MAX_CONCURRENT_UPGRADES), taking a backup first, applying the "
                "new versions, checking the store as a shopper would; or rolling back to the backup and the "
                "previous versions (status `restoring`) after a failed check.",
            },
            "from": {**VERSIONS, "description": "The versions before the upgrade."},
            "to": {**VERSIONS, "description": "The versions being applied (today's pins when it was queued)."},
            "since": NULLABLE_TIME,
        },
    },
    "OutdatedStore": {
        "type": "object",
        "required": ["id", "name", "owner", "engine", "status", "changes"],
        "additionalProperties": False,
        "description": "A live store whose recorded versions differ from today's pins.",
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "owner": {"type": "string", "description": "The owner's username."},
            "engine": {"type": "string", "description": "e.g. `woocommerce` (`type` in a store object)."},
            "status": {"enum": [s.value for s in StoreStatus]},
            "changes": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["component", "from", "to"],
                    "additionalProperties": False,
                    "properties": {
                        "component": {"type": "string", "examples": ["wordpress"]},
                        "from": {"type": "string", "description": "What the store runs (empty: not recorded)."},
                        "to": {"type": "string", "description": "Today's pin."},
                    },
                },
            },
        },
    },
    "OutdatedStoreList": {
        "type": "object",
        "required": ["stores", "count"],
        "additionalProperties": False,
        "properties": {
            "stores": {"type": "array", "items": ref("OutdatedStore")},
            "count": {"type": "integer", "minimum": 0},
        },
    },
    "QueuedUpgrades": {
        "type": "object",
        "required": ["queued"],
        "additionalProperties": False,
        "properties": {
            "queued": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The names of the stores queued (empty: no ready store needed an upgrade).",
            }
        },
    },
}

UPGRADE_PATHS: dict[str, Any] = {
    "/api/stores/{store_id}/upgrade": {
        "parameters": [STORE_ID],
        "post": {
            "operationId": "upgradeStore",
            "summary": "Upgrade a ready store to today's versions (administrators only, 403 otherwise): a backup "
            "is taken first, the new versions are applied (the storefront restarts) and the store is checked; "
            "if it fails its checks it is rolled back to the backup and its previous versions. Watch `status` "
            "go from `upgrading` back to `ready` and `upgrade.phase` meanwhile. 409 when the store is not "
            "ready, already runs the current versions or is being upgraded, a backup of it is running, or no "
            "backup storage is configured.",
            "responses": {
                "202": response(ref("Store"), "The store, `upgrading` (phase `queued`)."),
                **errors(403, 404, 409),
            },
        },
    },
    "/api/admin/upgrades": {
        "get": {
            "operationId": "listOutdatedStores",
            "summary": "Every live store not on today's versions, oldest first, with what would change "
            "(administrators only, 403 otherwise).",
            "responses": {"200": response(ref("OutdatedStoreList"), "The outdated stores."), **errors(403)},
        },
        "post": {
            "operationId": "upgradeAllStores",
            "summary": "Queue the upgrade of every ready outdated store (administrators only, 403 otherwise); "
            "MAX_CONCURRENT_UPGRADES run at once and the rest wait their turn. Stores that are not ready "
            "now are left for later. 409 when no backup storage is configured.",
            "responses": {
                "202": response(ref("QueuedUpgrades"), "The names of the stores queued."),
                **errors(403, 409),
            },
        },
    },
}
