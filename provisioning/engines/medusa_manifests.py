"""The Medusa processes of a store (server, worker, setup Job), as pure functions.

The image (images/medusa/) runs as uid 1000 with a read-only app tree; it needs a writable
/tmp (HOME and XDG_CONFIG_HOME point there) and /app/static (the local file provider).
PostgreSQL and Redis are in medusa_backing.py; medusa.py puts the store together.

Resources: the five pods (PostgreSQL, Redis, server, worker, setup) run at once during
provisioning, so the sum of their limits must fit the Medusa quota settings; a unit test
adds them up. Node's heap is capped at three quarters of each container's memory limit so
V8 collects garbage before the kernel kills the process.
"""

from __future__ import annotations

from typing import Any

from provisioning.catalog.plans import Plan
from provisioning.engines.base import Manifest, StoreSpec, engine_plan, metadata, store_labels
from provisioning.engines.medusa_backing import (
    DB_NAME,
    DB_USER,
    KEY_DB_PASSWORD,
    PG_PORT,
    POSTGRES_UID,
    REDIS_PORT,
    cluster_ip_service,
    selector,
)
from provisioning.engines.pods import (
    container_security,
    placement,
    pod_security,
    resources,
    secret_env,
    storage,
    with_replicas_together,
)
from provisioning.settings import Settings

PORT = 9000
MEDUSA_UID = 1000

KEY_JWT_SECRET = "medusa-jwt-secret"
KEY_COOKIE_SECRET = "medusa-cookie-secret"
KEY_ADMIN_PASSWORD = "medusa-admin-password"
KEY_PUBLISHABLE_KEY = "medusa-publishable-key"

# (cpu request, memory request, cpu limit, memory limit) per container.
SERVER_RESOURCES = ("250m", "512Mi", "1", "1Gi")
WORKER_RESOURCES = ("100m", "384Mi", "500m", "768Mi")
SETUP_RESOURCES = ("100m", "384Mi", "500m", "768Mi")
GATE_RESOURCES = ("10m", "32Mi", "100m", "64Mi")

# How long the server and worker wait for the setup Job's seed before starting anyway.
# Bounded so that a schema change in a future Medusa (the gate reads `api_key.token`)
# costs minutes, never a store that cannot start.
SETUP_GATE_SECONDS = 300


def _mib(quantity: str) -> int:
    if quantity.endswith("Gi"):
        return int(quantity[:-2]) * 1024
    if quantity.endswith("Mi"):
        return int(quantity[:-2])
    raise ValueError(f"memory quantity {quantity!r} is not in Mi or Gi")


def _http_probe(path: str, *, period: int, failures: int = 3, timeout: int = 5) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": PORT},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


# -- Medusa: environment --------------------------------------------------------------------

# The store's PostgreSQL speaks plain TCP inside the namespace (see database_env).
DATABASE_URL_OPTIONS = "sslmode=disable"


def database_env() -> list[dict[str, Any]]:
    """DATABASE_URL without the password in any plain value.

    Kubernetes expands `$(DATABASE_PASSWORD)` from the secret-backed variable defined just
    before it in the same container, so the URL exists only inside the container.
    Generated passwords are alphanumeric: nothing to escape in a URL.

    ``sslmode=disable`` because Medusa turns TLS on for every host that is not
    ``localhost``/``127.0.0.1`` (``getDefaultDriverOptions`` in @medusajs/utils), and the
    store's own PostgreSQL, like the official image, offers none: without it every module's
    connection fails and ``db:migrate`` hangs until knex's acquire timeout. The traffic
    never leaves the namespace (the NetworkPolicy admits only the store's pods).
    """
    return [
        secret_env("DATABASE_PASSWORD", KEY_DB_PASSWORD),
        {
            "name": "DATABASE_URL",
            "value": f"postgres://{DB_USER}:$(DATABASE_PASSWORD)@postgres:{PG_PORT}/{DB_NAME}?{DATABASE_URL_OPTIONS}",
        },
    ]


def medusa_env(spec: StoreSpec, settings: Settings, *, mode: str, memory_limit: str) -> list[dict[str, Any]]:
    """The image's environment contract (images/medusa/), common to server, worker, setup."""
    url = spec.url(settings)
    heap_mib = _mib(memory_limit) * 3 // 4
    return [
        *database_env(),
        {"name": "REDIS_URL", "value": f"redis://redis:{REDIS_PORT}"},
        {"name": "MEDUSA_WORKER_MODE", "value": mode},
        # The admin UI is the server's job; the worker and the setup never serve it.
        {"name": "DISABLE_MEDUSA_ADMIN", "value": "false" if mode == "server" else "true"},
        secret_env("JWT_SECRET", KEY_JWT_SECRET),
        secret_env("COOKIE_SECRET", KEY_COOKIE_SECRET),
        {"name": "STORE_CORS", "value": url},
        {"name": "ADMIN_CORS", "value": url},
        {"name": "AUTH_CORS", "value": url},
        {"name": "MEDUSA_DISABLE_TELEMETRY", "value": "true"},
        {"name": "NODE_ENV", "value": "production"},
        {"name": "NODE_OPTIONS", "value": f"--max-old-space-size={heap_mib}"},
        {"name": "PORT", "value": str(PORT)},
        # Admin cookies are `Secure` in production: without TLS at the ingress the admin
        # could not sign in. Only then are they sent over plain HTTP (the store page says so).
        {"name": "MEDUSA_INSECURE_COOKIES", "value": "true" if settings.url_scheme == "http" else "false"},
        {"name": "HOME", "value": "/tmp"},
        {"name": "XDG_CONFIG_HOME", "value": "/tmp"},
    ]


def setup_env(spec: StoreSpec) -> list[dict[str, Any]]:
    """What only the setup needs: the admin account, the key the seed installs, the name."""
    return [
        {"name": "MEDUSA_ADMIN_EMAIL", "value": spec.admin_email},
        secret_env("MEDUSA_ADMIN_PASSWORD", KEY_ADMIN_PASSWORD),
        secret_env("MEDUSA_PUBLISHABLE_KEY", KEY_PUBLISHABLE_KEY),
        {"name": "MEDUSA_STORE_NAME", "value": f"{spec.name} store"},
    ]


# -- Medusa: pods ---------------------------------------------------------------------------


def setup_gate(settings: Settings, *, wait_seconds: int = SETUP_GATE_SECONDS, poll_seconds: int = 5) -> dict[str, Any]:
    """Init container: wait (bounded) until the setup Job's seed installed the store's key.

    Without it the server and worker start against an empty database, exit, and reach
    CrashLoopBackOff, which delays the store by minutes and shows as "keeps crashing".
    Uses the PostgreSQL image (already on the node) as its own user, 999.
    """
    # Never the key itself in SQL: PostgreSQL logs a failing statement's text (e.g.
    # "relation api_key does not exist" before migrations), so the gate compares SHA-256
    # digests, and asks whether the table exists before reading it.
    exists = "select to_regclass('public.api_key') is not null"
    query = "select count(*) from api_key where encode(sha256(token::bytea), 'hex') = :'digest' and deleted_at is null"
    script = "\n".join(
        [
            f"deadline=$(( $(date +%s) + {wait_seconds} ))",
            'digest=$(printf %s "$MEDUSA_PUBLISHABLE_KEY" | sha256sum | cut -d" " -f1)',
            "seeded() {",
            f'  [ "$(echo "{exists}" | psql -qtAX 2>/dev/null)" = t ] &&',
            f'  [ "$(echo "{query}" | psql -qtAX -v digest="$digest" 2>/dev/null)" = 1 ]',
            "}",
            "until seeded; do",
            '  if [ "$(date +%s)" -ge "$deadline" ]; then',
            "    echo 'store setup not seen; starting anyway'; exit 0",
            "  fi",
            f"  echo 'waiting for the store setup (migrations and seed)'; sleep {poll_seconds}",
            "done",
            "echo 'store setup found'",
        ]
    )
    return {
        "name": "wait-for-setup",
        "image": settings.postgres_image,
        "command": ["sh", "-c", script],
        "env": [
            {"name": "PGHOST", "value": "postgres"},
            {"name": "PGPORT", "value": str(PG_PORT)},
            {"name": "PGUSER", "value": DB_USER},
            {"name": "PGDATABASE", "value": DB_NAME},
            {"name": "PGCONNECT_TIMEOUT", "value": "5"},
            secret_env("PGPASSWORD", KEY_DB_PASSWORD),
            secret_env("MEDUSA_PUBLISHABLE_KEY", KEY_PUBLISHABLE_KEY),
        ],
        "resources": resources(*GATE_RESOURCES),
        "securityContext": {
            **container_security(read_only_root=True),
            "runAsUser": POSTGRES_UID,
            "runAsGroup": POSTGRES_UID,
        },
    }


def _medusa_container(
    spec: StoreSpec, settings: Settings, *, name: str, command: str, mode: str, sizes: tuple[str, str, str, str]
) -> dict[str, Any]:
    return {
        "name": name,
        "image": settings.medusa_image,
        "command": [command],
        "env": medusa_env(spec, settings, mode=mode, memory_limit=sizes[3]),
        "resources": resources(*sizes),
        "securityContext": container_security(read_only_root=True),
        # A crash's last log lines become the termination message the platform shows.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "static", "mountPath": "/app/static"},
        ],
    }


def _pod(settings: Settings, containers: list[dict[str, Any]], volumes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "automountServiceAccountToken": False,
        **placement(settings),
        "securityContext": pod_security(MEDUSA_UID),
        "containers": containers,
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "512Mi"}}, *volumes],
    }


def static_volume(spec: StoreSpec, settings: Settings, *, plan: Plan | None = None) -> Manifest:
    """Uploads of the local file provider (product images from the admin), kept on restart."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata(spec, "medusa-static", component="server"),
        "spec": storage(settings, size=engine_plan(spec, settings, plan, engine="medusa").volume("uploads")),
    }


def server_service(spec: StoreSpec) -> Manifest:
    return cluster_ip_service(spec, "medusa", "server", "http", PORT)


def server(spec: StoreSpec, settings: Settings, *, plan: Plan | None = None) -> Manifest:
    """The HTTP server: Store API, Admin API and the admin UI at /app."""
    container = _medusa_container(
        spec, settings, name="medusa", command="/app/bin/store-start", mode="server", sizes=SERVER_RESOURCES
    )
    container["ports"] = [{"name": "http", "containerPort": PORT}]
    # /health answers once every module is loaded (about 15 s); three minutes of budget.
    container["startupProbe"] = _http_probe("/health", period=5, failures=36)
    container["readinessProbe"] = _http_probe("/health", period=10)
    container["livenessProbe"] = _http_probe("/health", period=20, failures=6)
    pod = _pod(settings, [container], [{"name": "static", "persistentVolumeClaim": {"claimName": "medusa-static"}}])
    pod["initContainers"] = [setup_gate(settings)]
    replicas = engine_plan(spec, settings, plan, engine="medusa").replicas
    return _deployment(spec, "medusa-server", "server", pod, replicas=replicas)


def worker(spec: StoreSpec, settings: Settings) -> Manifest:
    """Subscribers, scheduled jobs and async workflow steps, fed through Redis.

    It serves no traffic (no Service, no policy lets anything in), but `medusa start`
    listens and answers /health in worker mode too, which the probes use. Its /app/static
    is scratch space: files written by background jobs (product exports) need an S3 file
    provider to be downloadable, as Medusa recommends for production.
    """
    container = _medusa_container(
        spec, settings, name="medusa", command="/app/bin/store-start", mode="worker", sizes=WORKER_RESOURCES
    )
    container["ports"] = [{"name": "http", "containerPort": PORT}]
    container["startupProbe"] = _http_probe("/health", period=5, failures=36)
    container["readinessProbe"] = _http_probe("/health", period=10)
    container["livenessProbe"] = _http_probe("/health", period=20, failures=6)
    pod = _pod(settings, [container], [{"name": "static", "emptyDir": {"sizeLimit": "256Mi"}}])
    pod["initContainers"] = [setup_gate(settings)]
    return _deployment(spec, "medusa-worker", "worker", pod)


def _deployment(spec: StoreSpec, name: str, component: str, pod: dict[str, Any], *, replicas: int = 1) -> Manifest:
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(spec, name, component=component),
        "spec": {
            "replicas": replicas,
            # Never two of a pod at once: the quota is sized for one of each, and the
            # server's upload volume is ReadWriteOnce (a plan's extra server replicas
            # share its node, see with_replicas_together).
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector(spec, component)},
            "template": {"metadata": {"labels": store_labels(spec, component=component)}, "spec": pod},
        },
    }
    return with_replicas_together(manifest, selector(spec, component), replicas)


def setup_job(spec: StoreSpec, settings: Settings) -> Manifest:
    """`/app/bin/store-setup`: migrate, seed (with the platform's publishable key), admin user.

    The script is idempotent, so a retried pod or a re-run Job converges. Shared worker
    mode lets it finish any asynchronous workflow step itself, since the worker waits
    for this seed before it starts.
    """
    container = _medusa_container(
        spec, settings, name="store-setup", command="/app/bin/store-setup", mode="shared", sizes=SETUP_RESOURCES
    )
    container["env"] += setup_env(spec)
    pod = _pod(settings, [container], [{"name": "static", "emptyDir": {"sizeLimit": "256Mi"}}])
    pod["restartPolicy"] = "OnFailure"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(spec, "store-setup", component="setup"),
        "spec": {
            "backoffLimit": 4,
            "activeDeadlineSeconds": settings.setup_deadline_seconds,
            "template": {"metadata": {"labels": store_labels(spec, component="setup")}, "spec": pod},
        },
    }
