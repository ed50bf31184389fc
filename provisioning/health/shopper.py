"""The shopper-path check: fetch the store the way a shopper does, through the ingress.

Objects being Ready proves little to a shopper: the Ingress may route nowhere, WordPress
may answer "Error establishing a database connection", the Store API may list nothing.
So the last readiness step sends the engine's shopper requests (ShopperRequest) to the
ingress controller with the store's Host header, and Ready requires every answer to be
what a shopper needs. The same check runs on ready stores at an interval, so a store
whose storefront breaks later shows as degraded with the reason.

`base_url` is how the platform reaches the controller: the SHOPPER_CHECK_URL setting, or
the store's own URL when the platform resolves store hosts like a shopper would. For
HTTPS the TLS server name is the store's host, so the certificate is checked for it.
Secret header values (Medusa's publishable key) are fetched through `secret` at check
time and never appear in results or logs.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from provisioning.engines.base import ShopperRequest
from provisioning.models import ShopperStatus

MAX_BODY_BYTES = 4 * 1024 * 1024
_SCRIPTS = re.compile(r"<(script|style|head)\b.*?</\1>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")
NOT_VERIFIABLE_MESSAGE = (
    "Not verifiable on a simulated cluster: its nodes (kwok) run no containers, so nothing can answer a shopper."
)


@dataclass(frozen=True)
class ShopperResult:
    status: ShopperStatus
    message: str

    @property
    def passed(self) -> bool:
        return self.status == ShopperStatus.PASSED


def not_verifiable() -> ShopperResult:
    return ShopperResult(ShopperStatus.NOT_VERIFIABLE, NOT_VERIFIABLE_MESSAGE)


class _SniHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the controller's address, with the store's host as TLS server name."""

    def __init__(self, host: str, port: int | None, *, server_name: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._server_name = server_name

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self._server_name)  # type: ignore[attr-defined]


def check_store(
    base_url: str,
    host: str,
    requests: Sequence[ShopperRequest],
    *,
    secret: Callable[[str], str],
    timeout: float,
) -> ShopperResult:
    """Send each request in order; the first failure is the result, with its reason."""
    target = urlsplit(base_url)
    if target.scheme not in ("http", "https") or not target.hostname:
        return ShopperResult(ShopperStatus.FAILED, f"The shopper check URL {base_url!r} is not an http(s) URL.")
    prefix = target.path.rstrip("/")
    where = "" if target.hostname == host else f" (through {target.scheme}://{target.netloc})"
    for request in requests:
        url = f"{target.scheme}://{host}{request.path}"
        try:
            headers = {"Host": host, "User-Agent": "store-platform-shopper-check/1", "Accept": "*/*"}
            headers.update(dict(request.headers))
            headers.update({name: secret(key) for name, key in request.secret_headers})
        except Exception as error:  # the Secret is missing or unreadable: say so, no values
            return ShopperResult(
                ShopperStatus.FAILED, f"{request.title}: cannot read the store's credentials ({error})."
            )
        try:
            status, reason, location, body = _fetch(
                target.scheme,
                target.hostname,
                target.port,
                prefix + request.path,
                headers=headers,
                server_name=host,
                timeout=timeout,
            )
        except TimeoutError:
            return ShopperResult(
                ShopperStatus.FAILED, f"{request.title}: no answer from GET {url}{where} within {timeout:g} s."
            )
        except ssl.SSLError as error:
            return ShopperResult(
                ShopperStatus.FAILED, f"{request.title}: TLS failed for {host}{where}: {error.reason or error}."
            )
        except OSError as error:
            detail = error.strerror or str(error) or type(error).__name__
            return ShopperResult(
                ShopperStatus.FAILED, f"{request.title}: cannot connect for GET {url}{where}: {detail}."
            )
        if status != request.expect_status:
            moved = f" redirecting to {location}" if location and 300 <= status < 400 else ""
            return ShopperResult(
                ShopperStatus.FAILED,
                f"{request.title}: GET {url}{where} answered {status} {reason}{moved}"
                f" (expected {request.expect_status}){_snippet(body)}.",
            )
        text = body.decode("utf-8", errors="replace")
        missing = [needle for needle in request.expect_text if needle not in text]
        if missing:
            return ShopperResult(
                ShopperStatus.FAILED,
                f"{request.title}: GET {url}{where} answered {status} but without {missing[0]!r}{_snippet(body)}.",
            )
    titles = ", ".join(r.title for r in requests)
    return ShopperResult(ShopperStatus.PASSED, f"A shopper's requests succeed ({titles}).")


def _fetch(
    scheme: str, address: str, port: int | None, path: str, *, headers: dict[str, str], server_name: str, timeout: float
) -> tuple[int, str, str, bytes]:
    if scheme == "https":
        connection: http.client.HTTPConnection = _SniHTTPSConnection(
            address, port, server_name=server_name, timeout=timeout
        )
    else:
        connection = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        connection.request("GET", path or "/", headers=headers)
        response = connection.getresponse()
        body = response.read(MAX_BODY_BYTES)
        return response.status, response.reason, response.getheader("Location") or "", body
    finally:
        connection.close()


def _snippet(body: bytes) -> str:
    """The start of an error page helps ("Error establishing a database connection")."""
    raw = body[:65536].decode("utf-8", errors="replace")
    raw = _SCRIPTS.sub(" ", raw)
    text = " ".join(_TAGS.sub(" ", raw).split())
    if not text:
        return ""
    return f": {text[:160]}{'...' if len(text) > 160 else ''}"
