"""Proof that the test control plane is a real Kubernetes, not a mock.

Each test asserts a behaviour that only the real API server and controllers provide
(admission, quota, RBAC, Pod Security, scheduling, controllers, namespace finalization),
plus the two simulated parts the harness adds on top (kwok pod lifecycle, fake volume
provisioner). Every test works in its own uniquely named namespace.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.harness.binaries import read_versions
from tests.harness.controlplane import ControlPlane
from tests.harness.kube import (
    create_namespace,
    delete_namespace,
    impersonating_client,
    unique_name,
    wait_for,
)
from tests.harness.provisioner import PROVISIONER

pytestmark = pytest.mark.cluster

IMAGE = "registry.invalid/never-pulled:1"  # kwok never pulls images


@pytest.fixture
def namespace(kube_api: client.ApiClient) -> Iterator[str]:
    """A fresh namespace whose default ServiceAccount exists; deleted afterwards."""
    ns = create_namespace(kube_api, unique_name("harness"))
    yield ns
    delete_namespace(kube_api, ns, wait=False)


def _container(name: str = "c", **resources: dict[str, str]) -> client.V1Container:
    return client.V1Container(
        name=name,
        image=IMAGE,
        resources=client.V1ResourceRequirements(**resources) if resources else None,
    )


def _pod(name: str, container: client.V1Container, **spec: Any) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(containers=[container], **spec),
    )


def _error(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body).get("message", exc.body))
    except (TypeError, ValueError):
        return str(exc.body)


def _quota(core: client.CoreV1Api, ns: str, hard: dict[str, str]) -> None:
    """Create a ResourceQuota and wait for the quota controller to publish its status.

    Until ``status.hard`` is set, admission rejects every pod with "status unknown for quota".
    """
    core.create_namespaced_resource_quota(
        ns,
        client.V1ResourceQuota(metadata=client.V1ObjectMeta(name="quota"), spec=client.V1ResourceQuotaSpec(hard=hard)),
    )
    wait_for(
        lambda: (
            (core.read_namespaced_resource_quota("quota", ns).status or None)
            and core.read_namespaced_resource_quota("quota", ns).status.hard
        ),
        timeout=30,
        message="quota status",
    )


def _deployment(name: str, replicas: int, annotations: dict[str, str] | None = None) -> Any:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels, annotations=annotations),
                spec=client.V1PodSpec(containers=[_container()]),
            ),
        ),
    )


def _job(name: str, annotations: dict[str, str] | None = None, backoff: int = 0) -> Any:
    return client.V1Job(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1JobSpec(
            backoff_limit=backoff,
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(annotations=annotations),
                spec=client.V1PodSpec(restart_policy="Never", containers=[_container()]),
            ),
        ),
    )


def _pvc(name: str, size: str = "1Gi") -> client.V1PersistentVolumeClaim:
    return client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"],
            resources=client.V1VolumeResourceRequirements(requests={"storage": size}),
        ),
    )


# -- identity of the cluster ----------------------------------------------------------------


def test_server_version_is_the_pinned_release(control_plane: ControlPlane, kube_api: client.ApiClient) -> None:
    pinned = read_versions()["KUBERNETES_VERSION"]
    info = client.VersionApi(kube_api).get_code()
    assert info.git_version == pinned
    assert control_plane.version == pinned
    out = control_plane.kubectl("version", "--client", "-o", "json").stdout
    assert json.loads(out)["clientVersion"]["gitVersion"] == pinned


def test_fake_nodes_are_ready_and_untainted(control_plane: ControlPlane, kube_api: client.ApiClient) -> None:
    nodes = client.CoreV1Api(kube_api).list_node(label_selector="type=kwok").items
    assert len(nodes) >= 2
    for node in nodes:
        conds = {c.type: c.status for c in node.status.conditions}
        assert conds["Ready"] == "True"
        assert not node.spec.taints
        assert node.status.allocatable["cpu"] == "4"
        assert node.metadata.annotations["kwok.x-k8s.io/node"] == "fake"


# -- admission -------------------------------------------------------------------------------


def test_quota_with_limits_rejects_pod_without_limits(kube_api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    _quota(core, namespace, {"limits.cpu": "2", "limits.memory": "2Gi"})
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod(namespace, _pod("no-limits", _container()))
    assert err.value.status == 403
    assert "must specify limits.cpu" in _error(err.value)


def test_limit_range_defaults_satisfy_quota_and_quota_caps_usage(kube_api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_limit_range(
        namespace,
        client.V1LimitRange(
            metadata=client.V1ObjectMeta(name="defaults"),
            spec=client.V1LimitRangeSpec(
                limits=[
                    client.V1LimitRangeItem(
                        type="Container",
                        default={"cpu": "500m", "memory": "256Mi"},
                        default_request={"cpu": "100m", "memory": "128Mi"},
                    )
                ]
            ),
        ),
    )
    _quota(core, namespace, {"limits.cpu": "1", "limits.memory": "1Gi"})

    pod = core.create_namespaced_pod(namespace, _pod("defaulted", _container()))
    res = pod.spec.containers[0].resources
    assert res.limits == {"cpu": "500m", "memory": "256Mi"}
    assert res.requests == {"cpu": "100m", "memory": "128Mi"}

    over = _container(limits={"cpu": "2", "memory": "256Mi"}, requests={"cpu": "100m"})
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod(namespace, _pod("too-big", over))
    assert err.value.status == 403
    assert "exceeded quota" in _error(err.value)


def test_pod_security_restricted_rejects_privileged_pod(kube_api: client.ApiClient) -> None:
    ns = create_namespace(
        kube_api,
        unique_name("restricted"),
        labels={"pod-security.kubernetes.io/enforce": "restricted"},
    )
    core = client.CoreV1Api(kube_api)
    try:
        privileged = _container()
        privileged.security_context = client.V1SecurityContext(privileged=True)
        with pytest.raises(ApiException) as err:
            core.create_namespaced_pod(ns, _pod("privileged", privileged))
        assert err.value.status == 403
        message = _error(err.value)
        assert "violates PodSecurity" in message and "privileged" in message

        # A compliant pod is admitted: the rejection above is policy, not a broken namespace.
        ok = _container()
        ok.security_context = client.V1SecurityContext(
            allow_privilege_escalation=False,
            capabilities=client.V1Capabilities(drop=["ALL"]),
            run_as_non_root=True,
            run_as_user=1000,
            seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
        )
        core.create_namespaced_pod(ns, _pod("restricted-ok", ok))
    finally:
        delete_namespace(kube_api, ns, wait=False)


def test_rbac_denies_service_account_without_role(
    control_plane: ControlPlane, kube_api: client.ApiClient, namespace: str
) -> None:
    user = "system:serviceaccount:default:nobody"
    nobody = impersonating_client(control_plane.kubeconfig, user)
    try:
        with pytest.raises(ApiException) as err:
            client.CoreV1Api(nobody).list_namespaced_secret(namespace)
        assert err.value.status == 403
        assert user in _error(err.value)

        # Granting a Role makes the same call succeed: RBAC is evaluated, not just "deny all".
        rbac = client.RbacAuthorizationV1Api(kube_api)
        rbac.create_namespaced_role(
            namespace,
            client.V1Role(
                metadata=client.V1ObjectMeta(name="read-secrets"),
                rules=[client.V1PolicyRule(api_groups=[""], resources=["secrets"], verbs=["list"])],
            ),
        )
        rbac.create_namespaced_role_binding(
            namespace,
            client.V1RoleBinding(
                metadata=client.V1ObjectMeta(name="read-secrets"),
                role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="read-secrets"),
                subjects=[client.RbacV1Subject(kind="ServiceAccount", name="nobody", namespace="default")],
            ),
        )

        def allowed() -> bool:
            # The authorizer sees a new RoleBinding through its informer, a moment later:
            # until then the call is still refused (403), which means "not yet".
            try:
                client.CoreV1Api(nobody).list_namespaced_secret(namespace)
            except ApiException as error:
                if error.status == 403:
                    return False
                raise
            return True

        wait_for(allowed, timeout=10, message="RoleBinding to take effect")
        with pytest.raises(ApiException) as err:
            client.CoreV1Api(nobody).list_namespaced_secret("default")
        assert err.value.status == 403
    finally:
        nobody.close()


# -- controllers, scheduler and kwok ---------------------------------------------------------


def test_deployment_pods_are_scheduled_to_fake_nodes_and_ready(
    control_plane: ControlPlane, kube_api: client.ApiClient, namespace: str
) -> None:
    apps = client.AppsV1Api(kube_api)
    apps.create_namespaced_deployment(namespace, _deployment("web", replicas=2))
    wait_for(
        lambda: apps.read_namespaced_deployment_status("web", namespace).status.ready_replicas == 2,
        timeout=60,
        message="2 ready replicas",
    )
    pods = client.CoreV1Api(kube_api).list_namespaced_pod(namespace, label_selector="app=web")
    assert len(pods.items) == 2
    for pod in pods.items:
        assert pod.spec.node_name in control_plane.node_names
        assert pod.status.phase == "Running"
        assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"


def test_job_completes(kube_api: client.ApiClient, namespace: str) -> None:
    batch = client.BatchV1Api(kube_api)
    batch.create_namespaced_job(namespace, _job("once"))
    job = wait_for(
        lambda: (j := batch.read_namespaced_job_status("once", namespace)).status.succeeded == 1 and j,
        timeout=60,
        message="job succeeded",
    )
    assert any(c.type == "Complete" and c.status == "True" for c in job.status.conditions)
    pods = client.CoreV1Api(kube_api).list_namespaced_pod(namespace, label_selector="job-name=once")
    assert [p.status.phase for p in pods.items] == ["Succeeded"]
    terminated = pods.items[0].status.container_statuses[0].state.terminated
    assert terminated.exit_code == 0


def test_simulated_job_failure(kube_api: client.ApiClient, namespace: str) -> None:
    batch = client.BatchV1Api(kube_api)
    annotations = {"sim.store-platform.test/job-result": "failed"}
    batch.create_namespaced_job(namespace, _job("doomed", annotations, backoff=0))
    job = wait_for(
        lambda: (j := batch.read_namespaced_job_status("doomed", namespace)).status.failed and j,
        timeout=60,
        message="job failed",
    )
    wait_for(
        lambda: any(
            c.type == "Failed" and c.status == "True"
            for c in (batch.read_namespaced_job_status("doomed", namespace).status.conditions or [])
        ),
        timeout=30,
        message="Failed condition",
    )
    assert not job.status.succeeded


def test_simulated_never_ready_pod(kube_api: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(kube_api)
    core = client.CoreV1Api(kube_api)
    annotations = {"sim.store-platform.test/pod-ready": "false"}
    apps.create_namespaced_deployment(namespace, _deployment("stuck", 1, annotations))
    pod = wait_for(
        lambda: next((p for p in core.list_namespaced_pod(namespace).items if p.spec.node_name), None),
        timeout=30,
        message="stuck pod scheduled",
    )
    # kwok's pod stages run within milliseconds; give them ample time to (not) act.
    with pytest.raises(TimeoutError):
        wait_for(
            lambda: apps.read_namespaced_deployment_status("stuck", namespace).status.ready_replicas,
            timeout=3,
            message="stuck deployment ready",
        )
    assert core.read_namespaced_pod(pod.metadata.name, namespace).status.phase == "Pending"


# -- storage --------------------------------------------------------------------------------


def test_pvc_gets_bound_by_fake_provisioner(kube_api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_persistent_volume_claim(namespace, _pvc("data", "2Gi"))
    pvc = wait_for(
        lambda: (c := core.read_namespaced_persistent_volume_claim("data", namespace)).status.phase == "Bound" and c,
        timeout=30,
        message="PVC Bound",
    )
    assert pvc.spec.storage_class_name == "standard"  # defaulted by admission
    pv = core.read_persistent_volume(pvc.spec.volume_name)
    assert pv.spec.capacity["storage"] == "2Gi"
    assert pv.spec.claim_ref.uid == pvc.metadata.uid
    assert pv.metadata.annotations["pv.kubernetes.io/provisioned-by"] == PROVISIONER
    assert pv.spec.host_path.path == f"/tmp/fake-pv/{pvc.metadata.uid}"


def test_statefulset_with_volume_claim_becomes_ready(kube_api: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(kube_api)
    labels = {"app": "db"}
    container = _container()
    container.volume_mounts = [client.V1VolumeMount(name="data", mount_path="/var/lib/data")]
    apps.create_namespaced_stateful_set(
        namespace,
        client.V1StatefulSet(
            metadata=client.V1ObjectMeta(name="db"),
            spec=client.V1StatefulSetSpec(
                service_name="db",
                replicas=1,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(containers=[container]),
                ),
                volume_claim_templates=[_pvc("data")],
            ),
        ),
    )
    wait_for(
        lambda: apps.read_namespaced_stateful_set_status("db", namespace).status.ready_replicas == 1,
        timeout=60,
        message="statefulset ready",
    )
    pvc = client.CoreV1Api(kube_api).read_namespaced_persistent_volume_claim("data-db-0", namespace)
    assert pvc.status.phase == "Bound"


def test_namespace_deletion_removes_everything_including_volumes(
    kube_api: client.ApiClient,
) -> None:
    core = client.CoreV1Api(kube_api)
    apps = client.AppsV1Api(kube_api)
    ns = create_namespace(kube_api, unique_name("doomed"))
    apps.create_namespaced_deployment(ns, _deployment("web", replicas=2))
    client.BatchV1Api(kube_api).create_namespaced_job(ns, _job("setup"))
    core.create_namespaced_persistent_volume_claim(ns, _pvc("data"))
    core.create_namespaced_secret(ns, client.V1Secret(metadata=client.V1ObjectMeta(name="s"), string_data={"k": "v"}))
    wait_for(
        lambda: core.read_namespaced_persistent_volume_claim("data", ns).status.phase == "Bound",
        timeout=30,
        message="PVC Bound",
    )
    wait_for(
        lambda: apps.read_namespaced_deployment_status("web", ns).status.ready_replicas == 2,
        timeout=60,
        message="deployment ready",
    )
    pv_name = core.read_namespaced_persistent_volume_claim("data", ns).spec.volume_name

    delete_namespace(kube_api, ns, wait=True, timeout=60)

    def pv_gone() -> bool:
        try:
            core.read_persistent_volume(pv_name)
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for(pv_gone, timeout=30, message=f"PV {pv_name} deleted")
    leftovers = [
        pv.metadata.name
        for pv in core.list_persistent_volume().items
        if pv.spec.claim_ref and pv.spec.claim_ref.namespace == ns
    ]
    assert leftovers == []


def test_scheduler_outage_can_be_simulated(
    control_plane: ControlPlane, kube_api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_api)
    control_plane.pause("kube-scheduler")
    try:
        core.create_namespaced_pod(namespace, _pod("waiting", _container()))
        with pytest.raises(TimeoutError):
            wait_for(
                lambda: core.read_namespaced_pod("waiting", namespace).spec.node_name,
                timeout=2,
                message="pod scheduled while the scheduler is paused",
            )
    finally:
        control_plane.resume("kube-scheduler")
    wait_for(
        lambda: core.read_namespaced_pod("waiting", namespace).status.phase == "Running",
        timeout=30,
        message="pod running after the scheduler resumed",
    )
