"""A real HTTP server on this machine that routes by Host header, playing the ingress controller.

It answers per virtual host as nginx or Traefik do for store Ingresses; its default
backend answers 404 for unknown hosts. Used by the shopper-path tests.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Route:
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    need_header: tuple[str, str] | None = None


class HostRouter(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[tuple[str, str], Route] = {}
        self.seen: list[tuple[str, str, dict[str, str]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: HostRouter

    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").split(":")[0]
        self.server.seen.append((host, self.path, dict(self.headers)))
        route = self.server.routes.get((host, self.path))
        if route is None:
            self._answer(404, "default backend - 404", {})
            return
        if route.need_header and self.headers.get(route.need_header[0]) != route.need_header[1]:
            self._answer(400, '{"message":"A valid publishable key is required"}', {})
            return
        self._answer(route.status, route.body, route.headers)

    def _answer(self, status: int, body: str, headers: dict[str, str]) -> None:
        data = body.encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def host_router() -> Iterator[HostRouter]:
    server = HostRouter()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def serve_woocommerce(
    router: HostRouter, host: str, *, name: str, products: str = '[{"id":10,"name":"Sample product"}]'
) -> None:
    """What a working WooCommerce store answers a shopper (see WooCommerceEngine.shopper_path)."""
    router.routes[(host, "/")] = Route(body=f"<html><title>{name} store</title><body>Shop</body></html>")
    router.routes[(host, "/wp-json/wc/store/v1/products")] = Route(body=products)
