"""Logging for the portal and the worker: one line per record, level from LOG_LEVEL."""

from __future__ import annotations

import logging
import os


def configure_logging() -> None:
    root = logging.getLogger()
    if getattr(root, "_store_platform_configured", False):
        return
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The Kubernetes client logs request bodies at DEBUG; those can hold Secret data.
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    root._store_platform_configured = True  # type: ignore[attr-defined]
