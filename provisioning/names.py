"""Store name rules.

A store name becomes a DNS label (`<name>.<DOMAIN>`) and part of a namespace name, so it
must be a lowercase RFC 1123 label. Each rule has its own message, because "invalid
name" teaches nobody anything.
"""

from __future__ import annotations

import re

from provisioning.errors import ValidationError

MIN_LENGTH = 3
MAX_LENGTH = 30
RESERVED_NAMES = frozenset(
    {
        "admin",
        "api",
        "app",
        "dashboard",
        "default",
        "kube-system",
        "kube-public",
        "mail",
        "portal",
        "static",
        "status",
        "store-platform",
        "www",
    }
)
_ALLOWED = re.compile(r"^[a-z0-9-]+$")


def validate_store_name(raw: object) -> str:
    """Return the name if acceptable, else raise ValidationError saying what to change.

    Surrounding whitespace is refused rather than stripped: a name that silently differs
    from what the user typed leads to confusion when they look for it later.
    """
    if not isinstance(raw, str) or raw == "":
        raise ValidationError("Enter a store name.")
    name = raw
    if name.strip() != name:
        raise ValidationError("The name cannot start or end with spaces.")
    if any(ch.isspace() for ch in name):
        raise ValidationError("The name cannot contain spaces; use hyphens instead (my-shop).")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ValidationError("The name contains control characters.")
    if len(name) < MIN_LENGTH:
        raise ValidationError(f"The name must be at least {MIN_LENGTH} characters long.")
    if len(name) > MAX_LENGTH:
        raise ValidationError(f"The name must be at most {MAX_LENGTH} characters long (it has {len(name)}).")
    if any(ord(ch) > 127 for ch in name):
        raise ValidationError("Use only the letters a-z, digits and hyphens (no accents or symbols).")
    if name.lower() != name:
        raise ValidationError(f"Use lowercase letters only: try {name.lower()!r}.")
    if "_" in name:
        raise ValidationError(f"Underscores are not allowed in web addresses: try {name.replace('_', '-')!r}.")
    if not _ALLOWED.match(name):
        raise ValidationError("Use only the letters a-z, digits and hyphens.")
    if name.startswith("-") or name.endswith("-"):
        raise ValidationError("The name must start and end with a letter or a digit.")
    if "--" in name:
        raise ValidationError("The name cannot contain two hyphens in a row.")
    if name in RESERVED_NAMES:
        raise ValidationError(f"{name!r} is reserved by the platform; choose another name.")
    return name


_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,30}[a-z0-9]$")


def validate_username(raw: object) -> str:
    """Usernames end up in Kubernetes label values, so they follow the label value rules."""
    if not isinstance(raw, str) or not raw:
        raise ValidationError("Enter a username.", field="username")
    if not _USERNAME.fullmatch(raw):
        raise ValidationError(
            "Usernames are 3-32 characters: lowercase letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit.",
            field="username",
        )
    return raw


def namespace_for(name: str, store_id: str) -> str:
    """A namespace name distinct for every store, even one re-created with the same name.

    Re-creating `shop` while the old `shop`'s namespace is still Terminating would otherwise
    collide with it; a per-store suffix means the new store never has to wait for the old.
    """
    return f"store-{name}-{store_id[:8]}"
