"""A test stand-in for an ingress controller: HTTP on 127.0.0.1, routed by the Host header.

Why: a store becomes ready only when the reconciler's shopper-path check passes, and that
check goes to the ingress controller (``SHOPPER_CHECK_URL``) with the store's Host header.
This one reads the cluster's Ingress objects as a controller would: the rule whose ``host``
is the request's Host names a backend Service and port; the request goes to that Service's
ClusterIP, which kube-proxy sends on to a pod (the harness routes the Service range over the
node's bridge). No TLS, no path matching beyond prefix ``/``, no load balancing of its own:
it is a test stand-in, and it says so in every response (header ``Via``).

What it is still for: the Medusa tests (test_medusa_store.py), which count its requests per
host (``routed``) and have not been moved yet. The real node now has a real ingress
controller, Traefik (``RealNode.start_ingress_controller``, fixture ``ingress_url``; issue
13, item 5), which serves Ingresses of class ``traefik`` (settings ``INGRESS_CLASS=traefik``)
and is what test_ingress_and_network_policies.py checks the shopper path through. New tests
should use Traefik; this stand-in goes once the Medusa tests are moved and have run green.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes import config as kube_config

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class HostRouter:
    """``start()`` serves on ``url``; ``stop()`` shuts it down. ``routed`` counts requests per host."""

    def __init__(self, kubeconfig: Path) -> None:
        self.api = kube_config.new_client_from_config(config_file=str(kubeconfig))
        self.routed: dict[str, int] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def backend(self, host: str) -> tuple[str, int] | None:
        """(ClusterIP, port) of the Service the Ingress rule for ``host`` names, or None."""
        net = client.NetworkingV1Api(self.api)
        for ingress in net.list_ingress_for_all_namespaces().items:
            for rule in ingress.spec.rules or []:
                if rule.host != host or rule.http is None:
                    continue
                for path in rule.http.paths:
                    if (path.path or "/") != "/":
                        continue
                    service = path.backend.service
                    svc: Any = client.CoreV1Api(self.api).read_namespaced_service(
                        service.name, ingress.metadata.namespace
                    )
                    port = service.port.number
                    if port is None:
                        port = next(p.port for p in svc.spec.ports if p.name == service.port.name)
                    return svc.spec.cluster_ip, port
        return None

    def start(self) -> HostRouter:
        router = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _proxy(self) -> None:
                host = (self.headers.get("Host") or "").split(":")[0]
                try:
                    target = router.backend(host)
                except Exception as error:  # the API server is what failed: a 502 that says so
                    self._answer(502, f"ingress stand-in: cannot read Ingresses: {error}")
                    return
                if target is None:
                    self._answer(404, f"ingress stand-in: no Ingress rule for host {host!r}")
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                connection = http.client.HTTPConnection(target[0], target[1], timeout=30)
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    data = response.read()
                except OSError as error:
                    self._answer(502, f"ingress stand-in: {target[0]}:{target[1]} unreachable: {error}")
                    return
                finally:
                    connection.close()
                router.routed[host] = router.routed.get(host, 0) + 1
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Via", "1.1 store-platform-test-ingress-standin")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _answer(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="ingress-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.api.close()
