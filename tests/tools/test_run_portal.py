"""`make run`: which cluster the portal uses, and the built-in cluster started and stopped
with it when none is configured (issue 17)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.shared.portal import ADMIN_PASSWORD, portal_env
from tests.shared.servers import _healthy, api_request, free_port, keep_log
from tests.shared.waiting import wait_for
from tools.run_portal import choose_cluster

ROOT = Path(__file__).resolve().parents[2]


def kubeconfig(path: Path, *, context: str | None) -> Path:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
    }
    if context:
        doc["current-context"] = context
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def test_no_kubeconfig_starts_the_built_in_cluster(tmp_path: Path) -> None:
    choice = choose_cluster({}, home=tmp_path)
    assert choice.kind == "embedded"
    assert "no kubeconfig" in choice.reason and str(tmp_path / ".kube" / "config") in choice.reason


def test_a_configured_cluster_wins_even_when_it_does_not_answer(tmp_path: Path) -> None:
    """The kubeconfig points at https://127.0.0.1:1, where nothing listens: still the user's."""
    kubeconfig(tmp_path / ".kube" / "config", context="ctx")
    assert choose_cluster({}, home=tmp_path).kind == "kubeconfig"
    named = kubeconfig(tmp_path / "other.yaml", context="ctx")
    choice = choose_cluster({"KUBECONFIG": f"{tmp_path / 'missing'}{os.pathsep}{named}"}, home=tmp_path)
    assert choice.kind == "kubeconfig" and "context ctx" in choice.reason


def test_a_kubeconfig_without_a_current_context_is_no_cluster_unless_one_is_named(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / ".kube" / "config", context=None)
    choice = choose_cluster({}, home=tmp_path)
    assert choice.kind == "embedded" and f"{path} has no current context" in choice.reason
    assert choose_cluster({"KUBE_CONTEXT": "ctx"}, home=tmp_path).kind == "kubeconfig"


def test_a_named_kubeconfig_that_does_not_exist_is_no_cluster(tmp_path: Path) -> None:
    assert choose_cluster({"KUBECONFIG": str(tmp_path / "nope")}, home=tmp_path).kind == "embedded"


@pytest.mark.parametrize("value", ["false", "FALSE", "0", "no", "off"])
def test_embedded_cluster_false_turns_it_off(tmp_path: Path, value: str) -> None:
    choice = choose_cluster({"EMBEDDED_CLUSTER": value}, home=tmp_path)
    assert choice.kind == "none" and "EMBEDDED_CLUSTER=false" in choice.reason


def test_in_a_pod_the_in_cluster_config_wins(tmp_path: Path) -> None:
    kubeconfig(tmp_path / ".kube" / "config", context="ctx")
    assert choose_cluster({"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, home=tmp_path).kind == "in-cluster"


def harness_status(env: dict[str, str]) -> int:
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "tests.harness", "status"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=False,
    ).returncode


@pytest.mark.cluster
@pytest.mark.slow
def test_make_run_without_a_kubeconfig_provisions_a_store_then_stops_its_cluster(
    tmp_path: Path, control_plane: Any
) -> None:
    """From `make run` alone: the built-in cluster starts (binaries cached: the session's
    control plane fixture built them), a store ordered through the API becomes ready, and
    Ctrl-C stops the portal and the cluster. The dev cluster's state lives under this
    test's own XDG_RUNTIME_DIR, so a developer's `make dev-cluster` is not touched."""
    port = free_port()
    env = portal_env(tmp_path, reconciler=None, inherit=True, XDG_RUNTIME_DIR=str(tmp_path / "run"))
    env.pop("EMBEDDED_CLUSTER", None)
    env.pop("KUBE_CONTEXT", None)
    (tmp_path / "run").mkdir()
    log = tmp_path / "make-run.log"
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: _healthy(url, process, log), timeout=300, interval=0.5, what="the portal from make run")  # type: ignore[arg-type]
        text = log.read_text()
        assert "no kubeconfig" in text and "built-in cluster ready" in text, text[-2000:]
        assert harness_status(env) == 0, "the built-in cluster is not running"
        status, body = api_request(
            url, "POST", "/api/stores", user="admin", password=ADMIN_PASSWORD, body={"name": "first-shop"}
        )
        assert status == 201, body

        def ready() -> dict[str, Any] | None:
            code, store = api_request(url, "GET", f"/api/stores/{body['id']}", user="admin", password=ADMIN_PASSWORD)
            assert code == 200, store
            assert store["status"] != "failed", store
            return store if store["status"] == "ready" else None

        store = wait_for(ready, timeout=240, interval=1.0, what="the store ordered through make run to be ready")
        assert store["shopperCheck"]["status"] == "not_verifiable"  # kwok's nodes run no container
    finally:
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        keep_log(log)
    wait_for(lambda: harness_status(env) == 3, timeout=60, interval=0.5, what="the built-in cluster stopped")
    assert "stopping the built-in cluster" in log.read_text()
