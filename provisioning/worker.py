"""`python -m provisioning.worker`: the reconciler as its own process.

Runs until SIGTERM/SIGINT, then finishes the current pass and releases its lease so a
replacement can take over at once. Serves its Prometheus metrics on METRICS_PORT (default
9090; docs/metrics.md), standbys included.
"""

from __future__ import annotations

import logging
import signal
import sys

from provisioning.errors import SettingsError
from provisioning.logging_setup import configure_logging
from provisioning.observability.exposition import start_worker_server
from provisioning.platform import Platform
from provisioning.settings import Settings


def main() -> int:
    configure_logging()
    log = logging.getLogger("provisioning.worker")
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        log.error("%s", error)
        return 2
    platform = Platform.build(settings)
    if platform.admin_password_location:
        print(f"First admin created; password in {platform.admin_password_location}", flush=True)
    if settings.metrics_port:
        try:
            start_worker_server(settings.metrics_port, lambda: platform)
        except OSError as error:  # the port is taken: provisioning matters more than metrics
            log.error("metrics server not started on port %d: %s", settings.metrics_port, error)
    reconciler = platform.make_reconciler()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d received, stopping", signum)
        platform.stop_event.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    platform.start_dispatcher_thread()  # webhook deliveries, beside the reconciler
    reconciler.run_forever(platform.stop_event)
    platform.stop()  # lets the dispatcher finish the deliveries in flight
    return 0


if __name__ == "__main__":
    sys.exit(main())
