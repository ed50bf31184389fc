"""The backup and restore Jobs of a store, as pure functions (like the engines' manifests).

A backup Job dumps the database and archives the uploaded files in an init container
running the store's own database image (its dump tool matches the server), then a
container with curl uploads both and a manifest of their sizes and SHA-256 sums to
presigned URLs. A restore Job is the same in reverse: download and verify, then import and
unpack. The scripts are files beside this module (scripts/), mounted from a ConfigMap, and
the same files run against real servers in tests/backups/.

The URLs live in a per-run Secret and expire (BACKUP_URL_TTL_SECONDS): the store's
namespace never holds the bucket's credentials, and a URL signs exactly one object, so a
store can only write and read its own backup's objects.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning.catalog import versions
from provisioning.engines import medusa_backing, medusa_manifests, woocommerce_contract
from provisioning.engines.base import LABEL_COMPONENT, LABEL_STORE_ID, Manifest, StoreSpec, metadata, store_labels
from provisioning.engines.pods import container_security, placement, pod_security, resources, secret_env
from provisioning.engines.tenancy import PRIVATE_RANGES
from provisioning.settings import Settings

SCRIPTS_DIR = Path(__file__).parent / "scripts"
SCRIPTS_CONFIGMAP = "backup-scripts"
SCRIPTS_MOUNT = "/backup-scripts"
WORK_DIR = "/work"
FILES_MOUNT = "/store-files"
BACKUP, RESTORE = "backup", "restore"
# The objects of one backup, under its location: name in the Job's work dir -> key suffix.
OBJECTS = {"database": "database", "files": "files.tar.gz", "manifest": "manifest.json"}
URL_ENV = {"database": "URL_DATABASE", "files": "URL_FILES", "manifest": "URL_MANIFEST"}


@dataclass(frozen=True)
class EngineData:
    """Where an engine keeps what a backup must hold, and how to reach it."""

    db_image_setting: str
    dump_script: str
    import_script: str
    db_env: tuple[dict[str, Any], ...]
    db_port: int
    files_claim: str
    files_subpath: str  # inside the claim: what the store's uploads are
    files_owner: str  # component whose pod mounts the (ReadWriteOnce) claim
    uid: int


ENGINE_DATA = {
    "woocommerce": EngineData(
        db_image_setting="mariadb_image",
        dump_script="dump-mariadb.sh",
        import_script="import-mariadb.sh",
        db_env=(
            {"name": "DB_HOST", "value": "mariadb"},
            {"name": "DB_PORT", "value": str(woocommerce_contract.DB_PORT)},
            {"name": "DB_NAME", "value": woocommerce_contract.DB_NAME},
            {"name": "DB_USER", "value": woocommerce_contract.DB_USER},
            secret_env("DB_PASSWORD", woocommerce_contract.KEY_DB_PASSWORD),
        ),
        db_port=woocommerce_contract.DB_PORT,
        files_claim="wordpress-data",
        # The whole volume: core files too, so a rolled-back upgrade gets its old core back
        # (the wordpress image copies WordPress only into an empty volume).
        files_subpath="",
        files_owner="web",
        uid=woocommerce_contract.WWW_DATA_UID,
    ),
    "medusa": EngineData(
        db_image_setting="postgres_image",
        dump_script="dump-postgres.sh",
        import_script="import-postgres.sh",
        db_env=(
            {"name": "PGHOST", "value": "postgres"},
            {"name": "PGPORT", "value": str(medusa_backing.PG_PORT)},
            {"name": "PGDATABASE", "value": medusa_backing.DB_NAME},
            {"name": "PGUSER", "value": medusa_backing.DB_USER},
            secret_env("PGPASSWORD", medusa_backing.KEY_DB_PASSWORD),
        ),
        db_port=medusa_backing.PG_PORT,
        files_claim="medusa-static",
        files_subpath="",
        files_owner="server",
        uid=medusa_manifests.MEDUSA_UID,
    ),
}


def engine_data(engine: str) -> EngineData:
    try:
        return ENGINE_DATA[engine]
    except KeyError:
        raise ValueError(f"Backups do not support the {engine!r} engine.") from None


def scripts() -> dict[str, str]:
    """Every script by file name (what the ConfigMap holds)."""
    return {path.name: path.read_text() for path in sorted(SCRIPTS_DIR.glob("*.sh"))}


def location(settings: Settings, store_id: str, backup_id: str) -> str:
    """The key prefix of one backup: <BACKUP_S3_PREFIX>/<store id>/<backup id>."""
    prefix = settings.backup_s3_prefix.strip("/")
    return "/".join(part for part in (prefix, store_id, backup_id) if part)


def object_keys(where: str) -> dict[str, str]:
    return {name: f"{where}/{suffix}" for name, suffix in OBJECTS.items()}


def job_name(kind: str, backup_id: str) -> str:
    return f"{kind}-{backup_id[:12]}"


def scripts_configmap(spec: StoreSpec) -> Manifest:
    data = scripts()
    digest = hashlib.sha256("".join(data.values()).encode()).hexdigest()[:16]
    meta = metadata(spec, SCRIPTS_CONFIGMAP, component=BACKUP)
    meta["annotations"] = {"store-platform.io/scripts-sha256": digest}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def urls_secret(spec: StoreSpec, kind: str, backup_id: str, urls: dict[str, str], *, job_uid: str) -> Manifest:
    """The presigned URLs of one run (each a credential for one object), owned by its Job:
    the garbage collector deletes them with the Job, so the worker needs no right to
    patch or delete Secrets (either would let it read every Secret of a namespace)."""
    meta = metadata(spec, job_name(kind, backup_id), component=kind)
    meta["ownerReferences"] = [
        {"apiVersion": "batch/v1", "kind": "Job", "name": job_name(kind, backup_id), "uid": job_uid}
    ]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "Opaque",
        "stringData": {URL_ENV[name]: url for name, url in urls.items()},
    }


def network_policies(spec: StoreSpec, settings: Settings) -> list[Manifest]:
    """Backup and restore pods may reach the store's database and the object store.

    Additive to the store's own policies (default deny plus its flows): the database
    accepts them, and they may leave the namespace only for the object store's port,
    on BACKUP_S3_EGRESS_CIDRS or else public addresses (never the private ranges).
    """
    data = engine_data(spec.engine)
    runners = {"matchExpressions": [{"key": LABEL_COMPONENT, "operator": "In", "values": [BACKUP, RESTORE]}]}
    db_port = [{"protocol": "TCP", "port": data.db_port}]
    cidrs = settings.backup_egress_cidrs
    store_peers = (
        [{"ipBlock": {"cidr": cidr}} for cidr in cidrs]
        if cidrs
        else [{"ipBlock": {"cidr": "0.0.0.0/0", "except": PRIVATE_RANGES}}]
    )

    def policy(name: str, body: dict[str, Any]) -> Manifest:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": metadata(spec, name, component=BACKUP),
            "spec": body,
        }

    return [
        policy(
            "allow-backup-to-database",
            {
                "podSelector": {"matchLabels": {LABEL_COMPONENT: "database"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": runners}], "ports": db_port}],
            },
        ),
        policy(
            "allow-backup-egress",
            {
                "podSelector": runners,
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"podSelector": {"matchLabels": {LABEL_COMPONENT: "database"}}}], "ports": db_port},
                    {"to": store_peers, "ports": [{"protocol": "TCP", "port": settings.backup_endpoint_port}]},
                ],
            },
        ),
    ]


def _container(name: str, image: str, command: str, env: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "command": ["sh", "-c", command],
        "env": [*env, {"name": "WORK_DIR", "value": WORK_DIR}, {"name": "HOME", "value": "/tmp"}],
        "resources": resources("50m", "64Mi", "500m", "256Mi"),
        "securityContext": container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": "work", "mountPath": WORK_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "scripts", "mountPath": SCRIPTS_MOUNT, "readOnly": True},
            {"name": "files", "mountPath": FILES_MOUNT},
        ],
    }


def _run(shell: str, *names: str) -> str:
    """Run the mounted scripts in order with `shell` (bash in the database images, sh in
    the Alpine transfer image), stopping at the first failure."""
    return " && ".join(f"{shell} {SCRIPTS_MOUNT}/{name}" for name in names)


def job(spec: StoreSpec, settings: Settings, *, kind: str, backup_id: str) -> Manifest:
    """The backup (kind "backup") or restore (kind "restore") Job of one backup."""
    data = engine_data(spec.engine)
    settings = versions.effective_settings(settings, spec.engine, spec.versions)  # the store's database image
    db_image = getattr(settings, data.db_image_setting)
    files_dir = f"{FILES_MOUNT}/{data.files_subpath}".rstrip("/")
    db_env = [*data.db_env, {"name": "FILES_DIR", "value": files_dir}]
    url_env = [
        {"name": env, "valueFrom": {"secretKeyRef": {"name": job_name(kind, backup_id), "key": env}}}
        for env in URL_ENV.values()
    ]
    transfer_image = settings.backup_transfer_image
    if kind == BACKUP:
        init = _container("dump", db_image, _run("bash", data.dump_script, "pack-files.sh"), db_env)
        main = _container("upload", transfer_image, _run("sh", "upload.sh"), url_env)
    elif kind == RESTORE:
        init = _container("download", transfer_image, _run("sh", "download.sh"), url_env)
        main = _container("import", db_image, _run("bash", data.import_script, "unpack-files.sh"), db_env)
    else:
        raise ValueError(f"unknown Job kind {kind!r}")
    labels = store_labels(spec, component=kind)
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        **placement(settings),
        "securityContext": pod_security(data.uid),
        "initContainers": [init],
        "containers": [main],
        "volumes": [
            {"name": "work", "emptyDir": {"sizeLimit": "8Gi"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
            {"name": "scripts", "configMap": {"name": SCRIPTS_CONFIGMAP}},
            {"name": "files", "persistentVolumeClaim": {"claimName": data.files_claim}},
        ],
    }
    if kind == BACKUP:
        # The files' volume is ReadWriteOnce and mounted by the running store: same node.
        pod["affinity"] = {
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {"matchLabels": {LABEL_STORE_ID: spec.id, LABEL_COMPONENT: data.files_owner}},
                        "topologyKey": "kubernetes.io/hostname",
                    }
                ]
            }
        }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(spec, job_name(kind, backup_id), component=kind),
        "spec": {
            "backoffLimit": 0,  # a failed run is reported, not repeated: the owner decides
            "activeDeadlineSeconds": settings.backup_deadline_seconds,
            "ttlSecondsAfterFinished": 24 * 3600,
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }
