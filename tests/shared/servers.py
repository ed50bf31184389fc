"""Start the real portal server (`streamlit run asgi.py`) as a subprocess, exactly as
`make run` does: the one way tests run the portal process."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.shared.portal import PASSWORDS
from tests.shared.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """An unused loopback port (tiny race window, fine for tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"portal exited with {process.returncode}:\n{log.read_text()[-3000:]}")
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def run_portal(env: dict[str, str], log: Path, *, timeout: float = 60) -> Iterator[str]:
    """Yield the base URL of a running portal; stop it (and its reconciler) afterwards."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "asgi.py",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for(lambda: _healthy(url, process, log), timeout=timeout, interval=0.3, message="the portal")
        except AssertionError as error:
            raise RuntimeError(f"portal not healthy after {timeout}s:\n{log.read_text()[-3000:]}") from error
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        keep_log(log)


def keep_log(log: Path) -> None:
    """Copy a server's log to test-artifacts/logs (CI keeps it; pytest's tmp dirs rotate)."""
    target = ROOT / "test-artifacts" / "logs"
    target.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    shutil.copy(log, target / f"{stamp}-{log.parent.name}-{log.name}")


def api_request(
    url: str,
    method: str,
    path: str,
    *,
    user: str | None = None,
    password: str | None = None,
    body: Any = None,
    raw: bytes | None = None,
    token: str | None = None,
) -> tuple[int, Any]:
    """One call to the portal's REST API as ``user`` (HTTP Basic; password from PASSWORDS
    unless given), or with the API token ``token`` (Bearer), or anonymous (neither).
    Returns the status and the JSON body (the text when the answer is not JSON, e.g. the
    portal's HTML for a path that is not an API route)."""
    headers = {"Content-Type": "application/json"}
    if user:
        basic = base64.b64encode(f"{user}:{password or PASSWORDS[user]}".encode()).decode()
        headers["Authorization"] = f"Basic {basic}"
    elif token:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    try:
        return status, json.loads(payload or b"null")
    except ValueError:
        return status, payload.decode(errors="replace")
