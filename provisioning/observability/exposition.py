"""Serving the metrics: `/metrics` in the portal's ASGI app, a port of its own in the worker.

Each endpoint scrapes a registry made for it (`scrape_registry`): the process's
instruments (`metrics.REGISTRY`) plus a `StoreCollector` on that endpoint's platform.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, start_http_server
from prometheus_client.registry import Collector

from provisioning.observability import metrics
from provisioning.observability.collector import HasDatabase, StoreCollector

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
# Headers a reverse proxy (ingress-nginx, traefik) adds: a request carrying one came
# through the public Ingress, not from Prometheus scraping the pod directly.
PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


class _Forward(Collector):
    """The process registry as one collector of a scrape registry (no double registration)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Any]:
        return self._registry.collect()


def scrape_registry(source: Callable[[], HasDatabase]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Forward(metrics.REGISTRY))
    registry.register(StoreCollector(source))
    return registry


def render(source: Callable[[], HasDatabase]) -> bytes:
    """The text exposition of one scrape (blocking: it reads the database)."""
    return generate_latest(scrape_registry(source))


def start_worker_server(port: int, source: Callable[[], HasDatabase], *, addr: str = "0.0.0.0") -> Any:
    """prometheus_client's HTTP server on `port` (any path answers; Prometheus asks /metrics),
    in a daemon thread. Returns the server (its `server_port` is the bound port)."""
    server, _thread = start_http_server(port, addr=addr, registry=scrape_registry(source))
    log.info("metrics on http://%s:%d%s", addr, server.server_port, METRICS_PATH)
    return server


# -- the portal's ASGI side (Starlette comes with Streamlit; imported only when used) ------


def metrics_route(source: Callable[[], HasDatabase]) -> Any:
    """`GET /metrics` for the portal's app. A request that came through a reverse proxy (the
    dashboard's Ingress) gets 404: metrics are for Prometheus scraping the pod, not the
    internet. Prometheus reaches the pod directly (scrape annotations, ServiceMonitor)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    async def endpoint(request: Request) -> Response:
        if any(header in request.headers for header in PROXY_HEADERS):
            return PlainTextResponse("Not Found", status_code=404)
        body = await run_in_threadpool(render, source)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return Route(METRICS_PATH, endpoint, methods=["GET"])


def instrument_routes(routes: Sequence[Any]) -> list[Any]:
    """The same routes, each counted in `store_platform_api_requests_total` under its path
    template (`/api/stores/{store_id}`, never the request's own path) and status."""
    from starlette.routing import Route

    wrapped = []
    for route in routes:
        if isinstance(route, Route) and route.path.startswith("/api/"):
            route = Route(
                route.path,
                _timed(route.path, route.endpoint),
                methods=sorted(m for m in route.methods or () if m != "HEAD") or None,
                name=route.name,
            )
        wrapped.append(route)
    return wrapped


def _timed(template: str, endpoint: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
    async def timed(request: Any) -> Any:
        began = time.perf_counter()
        status = 500
        try:
            response = await endpoint(request)
            status = response.status_code
            return response
        finally:
            metrics.api_request(template, request.method, status, time.perf_counter() - began)

    return timed
