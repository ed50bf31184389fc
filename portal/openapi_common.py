"""The pieces every part of the OpenAPI document uses: references, JSON bodies, the
error answers and the store id parameter (portal/openapi.py assembles the document)."""

from __future__ import annotations

from typing import Any

JSON = "application/json"
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def response(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"$ref": f"#/components/responses/{ERROR_RESPONSES[code][0]}"} for code in (*codes, 401, 500)}


# status -> (component name, when)
ERROR_RESPONSES: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "The request is not acceptable; `field` names the input at fault."),
    401: (
        "Unauthorized",
        "No credentials, or they were refused: an unknown, revoked or expired token, a wrong "
        "password, a locked or disabled account.",
    ),
    403: ("Forbidden", "The account may not do this."),
    404: ("NotFound", "No such store (or backup of it), or it is not yours: the two are not told apart."),
    409: (
        "Conflict",
        "The name is taken, the action does not apply to the store (or backup) in its state, or it needs "
        "something an administrator has not set up (backup storage).",
    ),
    429: ("TooManyStores", "A per-user limit (live stores, creates per hour) would be exceeded."),
    500: ("ServerError", "An unexpected error; the details are in the portal's log, never in the answer."),
    503: ("ClusterUnavailable", "The Kubernetes API cannot be reached right now; try again later."),
}

STORE_ID = {
    "name": "store_id",
    "in": "path",
    "required": True,
    "description": "The store's id (`id` in a store object).",
    "schema": {"type": "string", "minLength": 1},
}
