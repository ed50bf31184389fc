"""An in-memory stand-in for the cluster, for fast reconciler unit tests.

It implements the reconciler's Cluster protocol with just enough behaviour: objects are
stored as applied, readiness is switched on per kind by the test, namespace deletion
goes through Terminating until the test finishes it. The real behaviour is covered by
the `cluster` tests against a real API server; this one makes every branch reachable.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from provisioning.backups.s3 import S3Error, S3Object
from provisioning.engines.base import Check, Manifest
from provisioning.errors import ClusterRejectedError, ClusterUnavailableError
from provisioning.kube import ClusterInfo, WarningEvent
from provisioning.models import utcnow
from provisioning.readiness import Observation, evaluate


class Clock:
    """Time that moves only when the test says: the reconciler's and the dispatcher's `clock`."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class FakeCluster:
    context: str = "fake"
    reachable: bool = True
    ready_kinds: set[str] = field(default_factory=set)
    job_failed: bool = False
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    events: dict[str, list[WarningEvent]] = field(default_factory=dict)
    reject_kinds: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str, str, str]] = field(default_factory=list)
    # Like kwok: no container runs, so the shopper path is not verifiable.
    simulated: bool = True
    # Node names of the pods per namespace; names in fake_nodes are kwok's (none by default).
    pod_placement: dict[str, set[str]] = field(default_factory=dict)
    fake_nodes: frozenset[str] = frozenset()

    def _check(self) -> None:
        if not self.reachable:
            raise ClusterUnavailableError("The Kubernetes API at https://fake is unreachable (connection refused).")

    def probe(self) -> ClusterInfo:
        if not self.reachable:
            return ClusterInfo(False, self.context, "https://fake", error="connection refused")
        return ClusterInfo(
            True, self.context, "https://fake", version="v1.36.0", simulated=self.simulated, fake_nodes=self.fake_nodes
        )

    def apply(self, manifest: Manifest) -> dict[str, Any]:
        self._check()
        kind, meta = manifest["kind"], manifest["metadata"]
        self.calls.append(("apply", kind, meta.get("namespace", ""), meta["name"]))
        if kind in self.reject_kinds:
            error = ClusterRejectedError(self.reject_kinds[kind])
            error.status = 422  # type: ignore[attr-defined]
            raise error
        ns = meta.get("namespace", "")
        if kind != "Namespace" and self.namespace_phase(ns) != "Active":
            error = ClusterRejectedError(f"namespace {ns} not found or terminating")
            error.status = 404 if self.namespace_phase(ns) is None else 403  # type: ignore[attr-defined]
            raise error
        obj = copy.deepcopy(manifest)
        existing = self.objects.get((kind, ns, meta["name"]))
        obj["status"] = existing.get("status", {}) if existing else {}
        if kind == "Namespace":
            obj["status"] = existing["status"] if existing else {"phase": "Active"}
        self.objects[(kind, ns, meta["name"])] = obj
        return obj

    def create_if_absent(self, manifest: Manifest) -> bool:
        self._check()
        meta = manifest["metadata"]
        key = (manifest["kind"], meta.get("namespace", ""), meta["name"])
        self.calls.append(("create", *key))
        if key in self.objects:
            return False
        self.objects[key] = copy.deepcopy(manifest)
        return True

    def delete(self, api_version: str, kind: str, name: str, *, namespace: str | None = None) -> bool:
        self._check()
        self.calls.append(("delete", kind, namespace or "", name))
        if kind == "Namespace":
            ns = self.objects.get(("Namespace", "", name))
            if ns is None:
                return False
            ns["status"] = {"phase": "Terminating"}
            return True
        return self.objects.pop((kind, namespace or "", name), None) is not None

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        body: dict[str, Any],
        *,
        namespace: str | None = None,
        field_manager: str = "store-platform",
    ) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386) of a stored object; 404 if it is not there."""
        self._check()
        self.calls.append(("patch", kind, namespace or "", name))
        obj = self.objects.get((kind, namespace or "", name))
        if obj is None:
            error = ClusterRejectedError(f"{kind} {name} not found")
            error.status = 404  # type: ignore[attr-defined]
            raise error
        _merge(obj, body)
        return obj

    def get(self, api_version: str, kind: str, name: str, *, namespace: str | None = None) -> dict[str, Any] | None:
        self._check()
        return self.objects.get((kind, namespace or "", name))

    def observe(self, namespace: str, check: Check) -> Observation:
        self._check()
        if check.kind == "Namespace":
            if self.namespace_phase(namespace) != "Active":
                return Observation(False, "NotCreated", "no namespace")
            ready = "Namespace" in self.ready_kinds
            return Observation(ready, "Active" if ready else "ServiceAccountPending", "namespace")
        obj = self.objects.get((check.kind, namespace, check.name))
        if obj is None:
            return Observation(False, "NotCreated", f"{check.title}: not created yet.")
        obj = copy.deepcopy(obj)
        if check.kind == "Job" and self.job_failed:
            obj["status"] = {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]}
        elif check.kind in self.ready_kinds:
            count = max(1, (obj.get("spec") or {}).get("replicas") or 1)  # every replica a plan asks for
            obj["status"] = {"readyReplicas": count, "availableReplicas": count, "succeeded": 1}
        return evaluate(check, obj)

    def warning_events(self, namespace: str) -> list[WarningEvent]:
        self._check()
        return list(self.events.get(namespace, []))

    def pod_nodes(self, namespace: str) -> set[str]:
        self._check()
        return set(self.pod_placement.get(namespace, set()))

    def read_secret_value(self, namespace: str, name: str, key: str) -> str:
        self._check()
        secret = self.objects.get(("Secret", namespace, name))
        if secret is None or key not in secret.get("stringData", {}):
            raise ClusterRejectedError("The store's credentials are not there yet; try again when it is ready.")
        return str(secret["stringData"][key])

    def managed_namespaces(self) -> dict[str, str]:
        self._check()
        return {name: obj["status"]["phase"] for (kind, _, name), obj in self.objects.items() if kind == "Namespace"}

    # -- test controls --------------------------------------------------------------------

    def namespace_phase(self, name: str) -> str | None:
        ns = self.objects.get(("Namespace", "", name))
        return ns["status"]["phase"] if ns else None

    def finish_termination(self) -> None:
        """What the namespace controller does: remove terminating namespaces and contents."""
        gone = {
            name
            for (kind, _, name), o in self.objects.items()
            if kind == "Namespace" and o["status"]["phase"] == "Terminating"
        }
        self.objects = {
            k: v for k, v in self.objects.items() if not (k[1] in gone or (k[0] == "Namespace" and k[2] in gone))
        }

    def make_all_ready(self) -> None:
        self.ready_kinds = {"Namespace", "StatefulSet", "Deployment", "Job", "Ingress"}


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


@dataclass
class FakeObjectStore:
    """An in-memory stand-in for provisioning.backups.s3.S3Client (the reconciler's unit
    tests); tests/backups/ run the real client against a real S3 server."""

    bucket: str = "store-backups"
    objects: dict[str, bytes] = field(default_factory=dict)
    reachable: bool = True
    presigned: list[tuple[str, str]] = field(default_factory=list)

    def _check(self) -> None:
        if not self.reachable:
            raise S3Error("Cannot reach the object store at http://objects.test: connection refused")

    def create_bucket(self) -> None:
        self._check()

    def presign(self, method: str, key: str, *, expires_seconds: int) -> str:
        self.presigned.append((method, key))
        return f"http://objects.test/{self.bucket}/{key}?X-Amz-Expires={expires_seconds}&X-Amz-Signature=fake"

    def put(self, key: str, data: bytes) -> None:
        self._check()
        self.objects[key] = data

    def get(self, key: str) -> bytes:
        self._check()
        if key not in self.objects:
            raise S3Error(f"The object store refused to read {key} (HTTP 404, NoSuchKey).", status=404)
        return self.objects[key]

    def head(self, key: str) -> int | None:
        self._check()
        return len(self.objects[key]) if key in self.objects else None

    def list(self, prefix: str) -> list[S3Object]:
        self._check()
        return [S3Object(k, len(v), datetime.now(UTC)) for k, v in sorted(self.objects.items()) if k.startswith(prefix)]

    def delete(self, key: str) -> None:
        self._check()
        self.objects.pop(key, None)

    def upload_backup(self, location: str, *, database: bytes = b"dump", files: bytes = b"tar") -> None:
        """What a backup Job's upload step leaves: both archives, then the manifest."""
        self.objects[f"{location}/database"] = database
        self.objects[f"{location}/files.tar.gz"] = files
        manifest = {
            "format": 1,
            "objects": {"database": {"bytes": len(database)}, "files.tar.gz": {"bytes": len(files)}},
        }
        self.objects[f"{location}/manifest.json"] = json.dumps(manifest).encode()
