"""A fake dynamic volume provisioner for the test control plane.

Why: without kubelets or CSI drivers nothing provisions volumes, so PVCs would stay Pending
and every pod that mounts one would be unschedulable. This loop does what an external
provisioner does, and nothing more: for a Pending PVC of a StorageClass whose provisioner is
``PROVISIONER`` it creates a PersistentVolume pre-bound to the claim (hostPath
``/tmp/fake-pv/<uid>``, never created on disk since no pod really runs); the real
PersistentVolume controller in kube-controller-manager then binds the pair. When the claim
is deleted the PV controller marks the PV Released, and for reclaimPolicy Delete this loop
deletes the PV, so "nothing left behind" after a namespace deletion can be asserted.

It polls (default every 0.5 s) instead of watching: a test cluster holds few objects, and a
poll needs no resourceVersion bookkeeping nor watch restarts when the API server blips.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

PROVISIONER = "store-platform.test/fake-hostpath"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
DEFAULT_HOST_ROOT = "/tmp/fake-pv"

log = logging.getLogger(__name__)


class FakeProvisioner:
    """Creates and deletes PVs for claims of StorageClasses that name ``PROVISIONER``."""

    def __init__(
        self,
        kubeconfig: Path,
        *,
        provisioner: str = PROVISIONER,
        interval: float = 0.5,
        host_root: str = DEFAULT_HOST_ROOT,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.provisioner = provisioner
        self.interval = interval
        self.host_root = host_root
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._api_client: client.ApiClient | None = None
        self.created: int = 0
        self.deleted: int = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Run the reconcile loop in a daemon thread (used by ``ControlPlane``)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, name="fake-provisioner", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop; safe to call more than once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._api_client is not None:
            self._api_client.close()
            self._api_client = None

    def run_forever(self) -> None:
        """Reconcile until ``stop()``; errors are logged and retried, never fatal."""
        while not self._stop.is_set():
            try:
                self.reconcile_once()
            except Exception as exc:
                log.debug("fake provisioner: reconcile failed: %s", exc)
            self._stop.wait(self.interval)

    # -- reconcile -------------------------------------------------------------------------

    def _core(self) -> client.CoreV1Api:
        if self._api_client is None:
            self._api_client = config.new_client_from_config(config_file=str(self.kubeconfig))
        return client.CoreV1Api(self._api_client)

    def _our_classes(self) -> dict[str, str]:
        """Name -> volumeBindingMode of the StorageClasses this provisioner serves."""
        assert self._api_client is not None
        classes: list[Any] = client.StorageV1Api(self._api_client).list_storage_class().items
        return {
            sc.metadata.name: sc.volume_binding_mode or "Immediate"
            for sc in classes
            if sc.provisioner == self.provisioner
        }

    def reconcile_once(self) -> None:
        """One pass: provision PVs for pending claims, delete released PVs."""
        core = self._core()
        classes = self._our_classes()
        claims: list[Any] = core.list_persistent_volume_claim_for_all_namespaces().items
        for pvc in claims:
            if self._wants_volume(pvc, classes):
                self._provision(core, pvc)
        volumes: list[Any] = core.list_persistent_volume().items
        for pv in volumes:
            if self._should_delete(pv):
                try:
                    core.delete_persistent_volume(pv.metadata.name)
                    self.deleted += 1
                    log.info("fake provisioner: deleted PV %s", pv.metadata.name)
                except ApiException as exc:
                    if exc.status != 404:
                        raise

    def _wants_volume(self, pvc: Any, classes: dict[str, str]) -> bool:
        if pvc.metadata.deletion_timestamp is not None:
            return False
        if pvc.spec.volume_name or (pvc.status and pvc.status.phase != "Pending"):
            return False
        mode = classes.get(pvc.spec.storage_class_name or "")
        if mode is None:
            return False
        annotations = pvc.metadata.annotations or {}
        # WaitForFirstConsumer: like a real provisioner, wait until the scheduler picked a node.
        return mode != "WaitForFirstConsumer" or SELECTED_NODE in annotations

    def _provision(self, core: client.CoreV1Api, pvc: Any) -> None:
        uid = pvc.metadata.uid
        requests = (pvc.spec.resources.requests or {}) if pvc.spec.resources else {}
        capacity = requests.get("storage", "1Gi")
        pv = client.V1PersistentVolume(
            metadata=client.V1ObjectMeta(
                name=f"pvc-{uid}",
                annotations={PROVISIONED_BY: self.provisioner},
            ),
            spec=client.V1PersistentVolumeSpec(
                capacity={"storage": capacity},
                access_modes=pvc.spec.access_modes or ["ReadWriteOnce"],
                volume_mode=pvc.spec.volume_mode or "Filesystem",
                persistent_volume_reclaim_policy="Delete",
                storage_class_name=pvc.spec.storage_class_name,
                host_path=client.V1HostPathVolumeSource(path=f"{self.host_root}/{uid}", type="DirectoryOrCreate"),
                claim_ref=client.V1ObjectReference(
                    api_version="v1",
                    kind="PersistentVolumeClaim",
                    namespace=pvc.metadata.namespace,
                    name=pvc.metadata.name,
                    uid=uid,
                ),
            ),
        )
        try:
            core.create_persistent_volume(pv)
        except ApiException as exc:
            if exc.status == 409:  # already provisioned on an earlier pass
                return
            raise
        self.created += 1
        log.info(
            "fake provisioner: created PV pvc-%s for %s/%s (%s)",
            uid,
            pvc.metadata.namespace,
            pvc.metadata.name,
            capacity,
        )

    def _should_delete(self, pv: Any) -> bool:
        annotations = pv.metadata.annotations or {}
        if annotations.get(PROVISIONED_BY) != self.provisioner:
            return False
        if pv.metadata.deletion_timestamp is not None:
            return False
        if pv.spec.persistent_volume_reclaim_policy != "Delete":
            return False
        return bool(pv.status and pv.status.phase in ("Released", "Failed"))
