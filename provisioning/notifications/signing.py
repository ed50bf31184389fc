"""Per-webhook signing secrets and signatures (HMAC-SHA256).

No column holds a secret (see provisioning/models.py): a webhook's secret is derived with
HMAC-SHA256 from the platform key (COOKIE_KEY, from the environment or the local secrets
file, never the database) and a random per-webhook nonce that the row keeps. The portal
shows it once, at creation; the dispatcher derives it again to sign. Reading the database
alone gives no secret. Changing COOKIE_KEY changes every webhook's secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "X-Store-Platform-Signature"
TIMESTAMP_HEADER = "X-Store-Platform-Timestamp"
_CONTEXT = b"store-platform webhook signing secret v1"


def new_nonce() -> str:
    return secrets.token_hex(16)


def derive_secret(platform_key: str, webhook_id: str, nonce: str) -> str:
    message = b"\x00".join((_CONTEXT, webhook_id.encode(), nonce.encode()))
    digest = hmac.new(platform_key.encode(), message, hashlib.sha256).digest()
    return "whsec_" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>")."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """What a receiver does (documented in docs/notifications.md; used by the tests)."""
    return hmac.compare_digest(signature(secret, timestamp, body), header)
