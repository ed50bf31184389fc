"""A local-path style volume provisioner for the real node (``realnode.py``).

Why: the fake provisioner (``provisioner.py``) makes PVs whose hostPath is never created,
which is fine on kwok nodes where no container runs. On the real node a container really
mounts the directory, so this one creates it, and deletes it with its data when the claim
is released, as rancher's local-path-provisioner does. The directory is created 0777: the
kubelet applies no fsGroup to hostPath volumes, and a directory it created itself would be
root 0755, which a non-root pod (``restricted``) could not write.

Claims of the StorageClass ``STORAGE_CLASS`` (``WaitForFirstConsumer``, reclaim ``Delete``)
get a PV pinned to the real node by node affinity.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.harness.provisioner import PROVISIONED_BY, FakeProvisioner

PROVISIONER = "store-platform.test/real-local-path"
STORAGE_CLASS = "real-local-path"
PATH_ANNOTATION = "store-platform.test/host-path"

log = logging.getLogger(__name__)


def storage_class() -> client.V1StorageClass:
    return client.V1StorageClass(
        metadata=client.V1ObjectMeta(name=STORAGE_CLASS),
        provisioner=PROVISIONER,
        reclaim_policy="Delete",
        volume_binding_mode="WaitForFirstConsumer",
    )


class LocalPathProvisioner(FakeProvisioner):
    """Creates a 0777 directory per claim under ``host_root`` and deletes it on release."""

    def __init__(self, kubeconfig: Path, node_name: str, host_root: Path, *, interval: float = 0.3) -> None:
        super().__init__(kubeconfig, provisioner=PROVISIONER, interval=interval, host_root=str(host_root))
        self.node_name = node_name
        self.root = host_root
        self.deleted_paths: list[Path] = []

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        super().start()

    def _provision(self, core: client.CoreV1Api, pvc: Any) -> None:
        uid = pvc.metadata.uid
        name = f"pvc-{uid}"
        path = self.root / f"{pvc.metadata.namespace}_{pvc.metadata.name}_{uid}"
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o777)  # mkdir's mode is masked by the umask
        requests = (pvc.spec.resources.requests or {}) if pvc.spec.resources else {}
        pv = client.V1PersistentVolume(
            metadata=client.V1ObjectMeta(
                name=name,
                annotations={PROVISIONED_BY: self.provisioner, PATH_ANNOTATION: str(path)},
            ),
            spec=client.V1PersistentVolumeSpec(
                capacity={"storage": requests.get("storage", "1Gi")},
                access_modes=pvc.spec.access_modes or ["ReadWriteOnce"],
                volume_mode="Filesystem",
                persistent_volume_reclaim_policy="Delete",
                storage_class_name=pvc.spec.storage_class_name,
                host_path=client.V1HostPathVolumeSource(path=str(path), type="Directory"),
                node_affinity=client.V1VolumeNodeAffinity(
                    required=client.V1NodeSelector(
                        node_selector_terms=[
                            client.V1NodeSelectorTerm(
                                match_expressions=[
                                    client.V1NodeSelectorRequirement(
                                        key="kubernetes.io/hostname", operator="In", values=[self.node_name]
                                    )
                                ]
                            )
                        ]
                    )
                ),
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
            if exc.status != 409:
                raise
            return
        self.created += 1
        log.info("local-path: created %s at %s", name, path)

    def reconcile_once(self) -> None:
        core = self._core()
        classes = self._our_classes()
        for pvc in core.list_persistent_volume_claim_for_all_namespaces().items:
            if self._wants_volume(pvc, classes):
                self._provision(core, pvc)
        for pv in core.list_persistent_volume().items:
            if not self._should_delete(pv):
                continue
            path = Path((pv.metadata.annotations or {}).get(PATH_ANNOTATION, ""))
            # Only ever delete below our root (an annotation is not to be trusted blindly).
            if path.is_dir() and self.root in path.parents:
                shutil.rmtree(path)
                self.deleted_paths.append(path)
            with contextlib.suppress(ApiException):
                core.delete_persistent_volume(pv.metadata.name)
                self.deleted += 1
                log.info("local-path: deleted %s and %s", pv.metadata.name, path)
