"""Health check of the Store Platform image: the Dockerfile's HEALTHCHECK and `helm test`.

    python docker/healthcheck.py [--retries=N] [URL]

With a URL: GET it and succeed on HTTP 200 with body "ok" (Streamlit's /_stcore/health).
Without one, decide from what PID 1 runs: the portal is checked at
http://127.0.0.1:<port>/_stcore/health (port from PID 1's --server.port=, else
$STREAMLIT_SERVER_PORT, else 8501); the reconciler worker
(`python -m provisioning.worker`) serves no HTTP and reports its state in the database, so
it is healthy while its process runs (this script runs inside the container, so it does).
Standard library only: the slim base image has no curl.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request

DEFAULT_PORT = 8501


def _pid1_cmdline() -> list[str]:
    try:
        with open("/proc/1/cmdline", "rb") as handle:
            return [part.decode(errors="replace") for part in handle.read().split(b"\0") if part]
    except OSError:
        return []


def check(url: str, timeout: float = 4.0) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read(64).decode(errors="replace").strip()
            return response.status == 200 and body == "ok", f"{response.status} {body!r}"
    except urllib.error.HTTPError as error:
        return False, f"HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        return False, str(getattr(error, "reason", error))


def main(argv: list[str]) -> int:
    retries = 1
    url = ""
    for arg in argv:
        if arg.startswith("--retries="):
            retries = max(1, int(arg.split("=", 1)[1]))
        else:
            url = arg
    if not url:
        if "provisioning.worker" in _pid1_cmdline():
            print("worker process running")
            return 0
        port = os.environ.get("STREAMLIT_SERVER_PORT", str(DEFAULT_PORT))
        for part in _pid1_cmdline():
            if part.startswith("--server.port="):
                port = part.split("=", 1)[1]
        url = f"http://127.0.0.1:{port}/_stcore/health"
    detail = ""
    for attempt in range(retries):
        healthy, detail = check(url)
        if healthy:
            print(f"healthy: {url} answered {detail}")
            return 0
        if attempt + 1 < retries:
            time.sleep(2)
    print(f"unhealthy: {url}: {detail}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
