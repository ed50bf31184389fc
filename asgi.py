"""The server: the Streamlit portal (app.py) plus the REST API, in one ASGI app.

`streamlit run asgi.py` (what `make run` and the image do) or `uvicorn asgi:app`.
`GET /metrics` serves the Prometheus metrics (docs/metrics.md).
The lifespan hook builds the platform at start, so the reconciler thread runs even
before the first browser session, and API-only use provisions stores too.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import streamlit as st
from starlette.concurrency import run_in_threadpool

from portal.api import StoreApi
from provisioning.observability.exposition import instrument_routes, metrics_route
from provisioning.platform import shared_platform

log = logging.getLogger(__name__)
api = StoreApi(shared_platform)


@asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[None]:
    try:
        await run_in_threadpool(api.platform)
    except Exception:  # the pages show the problem; the server must still answer
        log.exception("could not start the platform")
    yield


# /metrics: Prometheus text format (docs/metrics.md); API routes counted by path template.
app = st.App("app.py", routes=[*instrument_routes(api.routes()), metrics_route(api.platform)], lifespan=lifespan)
