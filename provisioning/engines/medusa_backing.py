"""PostgreSQL and Redis for a Medusa store, as pure functions (see medusa.py).

Facts of the official images (docker-library, Debian bookworm variants):
- PostgreSQL: user `postgres` is uid 999. Run as that user, the entrypoint skips
  chown/gosu and initialises PGDATA itself; PGDATA is a subdirectory of the volume because
  a fresh volume's root may hold `lost+found`, which initdb refuses. `/var/run/postgresql`
  (socket) and `/tmp` are the only other paths it writes, so the root can be read-only.
- Redis: user `redis` is uid 999; the entrypoint prepends `redis-server` to arguments
  starting with "-". No persistence: it holds Medusa's event queue, locks and workflow
  state, all rebuilt from PostgreSQL, so no volume, and `maxmemory` with `noeviction`
  below the container limit: BullMQ queues must never be evicted silently, and a full
  Redis refuses writes instead of being OOM-killed.
"""

from __future__ import annotations

from typing import Any

from provisioning.catalog.plans import Plan
from provisioning.engines.base import (
    LABEL_COMPONENT,
    LABEL_STORE_ID,
    Manifest,
    StoreSpec,
    engine_plan,
    metadata,
    store_labels,
)
from provisioning.engines.pods import container_security, placement, pod_security, resources, secret_env, storage
from provisioning.settings import Settings

PG_PORT = 5432
REDIS_PORT = 6379
POSTGRES_UID = 999
REDIS_UID = 999
DB_NAME = "medusa"
DB_USER = "medusa"
PGDATA_MOUNT = "/var/lib/postgresql/data"
PGDATA = f"{PGDATA_MOUNT}/pgdata"
REDIS_MAXMEMORY = "192mb"
KEY_DB_PASSWORD = "postgres-password"

# (cpu request, memory request, cpu limit, memory limit)
POSTGRES_RESOURCES = ("100m", "256Mi", "500m", "512Mi")
REDIS_RESOURCES = ("50m", "64Mi", "250m", "256Mi")


def selector(spec: StoreSpec, component: str) -> dict[str, str]:
    return {LABEL_STORE_ID: spec.id, LABEL_COMPONENT: component}


def exec_probe(command: list[str], *, period: int, failures: int = 3, timeout: int = 5) -> dict[str, Any]:
    return {
        "exec": {"command": command},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def _headless_service(spec: StoreSpec, name: str, component: str, port_name: str, port: int) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(spec, name, component=component),
        "spec": {
            "clusterIP": "None",
            "selector": selector(spec, component),
            "ports": [{"name": port_name, "port": port, "targetPort": port}],
        },
    }


def cluster_ip_service(spec: StoreSpec, name: str, component: str, port_name: str, port: int) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(spec, name, component=component),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(spec, component),
            "ports": [{"name": port_name, "port": port, "targetPort": port}],
        },
    }


# -- PostgreSQL -----------------------------------------------------------------------------


def postgres_service(spec: StoreSpec) -> Manifest:
    return _headless_service(spec, "postgres", "database", "postgres", PG_PORT)


def postgres(spec: StoreSpec, settings: Settings, *, plan: Plan | None = None) -> Manifest:
    """PostgreSQL with its volume; ready when it accepts TCP connections to the store's DB.

    pg_isready over TCP (not the socket) fails while the entrypoint's first-start server
    runs socket-only, so "ready" means initialised. The startupProbe gives a slow disk
    five minutes before liveness may kill an initialisation half-way.
    """
    is_ready = ["pg_isready", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", DB_USER, "-d", DB_NAME]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(spec, "postgres", component="database"),
        "spec": {
            "serviceName": "postgres",
            "replicas": 1,
            "selector": {"matchLabels": selector(spec, "database")},
            "template": {
                "metadata": {"labels": store_labels(spec, component="database")},
                "spec": {
                    "automountServiceAccountToken": False,
                    **placement(settings),
                    "securityContext": pod_security(POSTGRES_UID),
                    "containers": [
                        {
                            "name": "postgres",
                            "image": settings.postgres_image,
                            "ports": [{"name": "postgres", "containerPort": PG_PORT}],
                            "env": [
                                {"name": "POSTGRES_USER", "value": DB_USER},
                                {"name": "POSTGRES_DB", "value": DB_NAME},
                                secret_env("POSTGRES_PASSWORD", KEY_DB_PASSWORD),
                                {"name": "PGDATA", "value": PGDATA},
                            ],
                            "resources": resources(*POSTGRES_RESOURCES),
                            "securityContext": container_security(read_only_root=True),
                            "startupProbe": exec_probe(is_ready, period=5, failures=60),
                            "readinessProbe": exec_probe(is_ready, period=10),
                            "livenessProbe": exec_probe(is_ready, period=20, failures=6),
                            "volumeMounts": [
                                {"name": "data", "mountPath": PGDATA_MOUNT},
                                {"name": "run", "mountPath": "/var/run/postgresql"},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "run", "emptyDir": {"sizeLimit": "16Mi"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                    ],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data", "labels": store_labels(spec, component="database")},
                    "spec": storage(
                        settings, size=engine_plan(spec, settings, plan, engine="medusa").volume("database")
                    ),
                }
            ],
        },
    }


# -- Redis ----------------------------------------------------------------------------------


def redis_service(spec: StoreSpec) -> Manifest:
    return cluster_ip_service(spec, "redis", "cache", "redis", REDIS_PORT)


def redis(spec: StoreSpec, settings: Settings) -> Manifest:
    ping = ["sh", "-c", f"redis-cli -p {REDIS_PORT} ping | grep -qx PONG"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(spec, "redis", component="cache"),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector(spec, "cache")},
            "template": {
                "metadata": {"labels": store_labels(spec, component="cache")},
                "spec": {
                    "automountServiceAccountToken": False,
                    **placement(settings),
                    "securityContext": pod_security(REDIS_UID),
                    "containers": [
                        {
                            "name": "redis",
                            "image": settings.redis_image,
                            # The entrypoint prepends `redis-server` to arguments starting with "-".
                            "args": [
                                "--save",
                                "",
                                "--appendonly",
                                "no",
                                "--maxmemory",
                                REDIS_MAXMEMORY,
                                "--maxmemory-policy",
                                "noeviction",
                            ],
                            "ports": [{"name": "redis", "containerPort": REDIS_PORT}],
                            "resources": resources(*REDIS_RESOURCES),
                            "securityContext": container_security(read_only_root=True),
                            "startupProbe": exec_probe(ping, period=2, failures=30),
                            "readinessProbe": exec_probe(ping, period=10),
                            "livenessProbe": {
                                "tcpSocket": {"port": REDIS_PORT},
                                "periodSeconds": 20,
                                "failureThreshold": 6,
                            },
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        }
                    ],
                    "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }
