"""Every setting of the platform, in one place, read from the environment.

One frozen dataclass means the portal, the worker and the tests agree on names, types and
defaults; `Settings.from_env()` is the only reader of `os.environ` for configuration.
The README's settings table is generated from `SETTINGS_DOC` so the two cannot drift.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from provisioning.backups.config import BackupSettings
from provisioning.catalog import plans
from provisioning.catalog import woocommerce as woo_pins
from provisioning.errors import SettingsError
from provisioning.upgrades.config import UpgradeSettings


def _default_database_url() -> str:
    return f"sqlite:///{os.path.join(os.getcwd(), 'store_platform.db')}"


@dataclass(frozen=True)
class Settings(UpgradeSettings, BackupSettings):  # their settings: provisioning/backups/, upgrades/ config.py
    """Typed configuration. Field metadata carries the env var name and a description."""

    database_url: str = field(
        default_factory=_default_database_url,
        metadata={"env": "DATABASE_URL", "doc": "SQLAlchemy URL; SQLite file in the cwd by default"},
    )
    domain: str = field(
        default="stores.localhost",
        metadata={"env": "DOMAIN", "doc": "Stores are served at <name>.<DOMAIN>"},
    )
    url_scheme: str = field(
        default="http",
        metadata={"env": "STORE_URL_SCHEME", "doc": "http or https, used for store links"},
    )
    max_stores_per_user: int = field(
        default=10, metadata={"env": "MAX_STORES_PER_USER", "doc": "Live stores a user may own"}
    )
    max_creates_per_hour: int = field(
        default=5,
        metadata={"env": "MAX_CREATES_PER_HOUR", "doc": "Stores a user may order per rolling hour"},
    )
    max_concurrent_provisioning: int = field(
        default=3,
        metadata={"env": "MAX_CONCURRENT_PROVISIONING", "doc": "Stores provisioned at once"},
    )
    provisioning_timeout_seconds: int = field(
        default=900,
        metadata={
            "env": "PROVISIONING_TIMEOUT_SECONDS",
            "doc": "Then a store shows as failed, with its likeliest cause; it still becomes ready if it converges",
        },
    )
    setup_deadline_seconds: int = field(
        default=1800,
        metadata={
            "env": "SETUP_DEADLINE_SECONDS",
            "doc": "activeDeadlineSeconds of a store's setup Job: covers image pulls on a fresh node plus the install",
        },
    )
    shopper_check_url: str = field(
        default="",
        metadata={
            "env": "SHOPPER_CHECK_URL",
            "doc": "How the platform reaches the ingress controller (e.g. http://127.0.0.1:8080); "
            "empty = each store's own URL. Requests carry the store's Host header",
        },
    )
    shopper_check_interval_seconds: int = field(
        default=60,
        metadata={"env": "SHOPPER_CHECK_INTERVAL_SECONDS", "doc": "How often ready stores are checked as a shopper"},
    )
    shopper_check_timeout_seconds: float = field(
        default=10.0,
        metadata={"env": "SHOPPER_CHECK_TIMEOUT_SECONDS", "doc": "Per-request timeout of the shopper-path check"},
    )
    reconcile_interval_seconds: float = field(
        default=2.0,
        metadata={"env": "RECONCILE_INTERVAL_SECONDS", "doc": "Pause between reconciler passes"},
    )
    webhook_timeout_seconds: float = field(
        default=5.0,
        metadata={"env": "WEBHOOK_TIMEOUT_SECONDS", "doc": "Connect/read timeout of one webhook delivery"},
    )
    webhook_max_attempts: int = field(
        default=8,
        metadata={"env": "WEBHOOK_MAX_ATTEMPTS", "doc": "Delivery attempts of one webhook event before giving up"},
    )
    webhook_retry_base_seconds: float = field(
        default=10.0,
        metadata={
            "env": "WEBHOOK_RETRY_BASE_SECONDS",
            "doc": "First retry delay of a webhook delivery; doubled after each failure (at most an hour)",
        },
    )
    storage_class: str = field(default="", metadata={"env": "STORAGE_CLASS", "doc": "Empty = the cluster's default"})
    ingress_class: str = field(
        default="nginx",
        metadata={"env": "INGRESS_CLASS", "doc": "nginx (kind/minikube/Docker Desktop), traefik (k3s)"},
    )
    ingress_controller_namespace: str = field(
        default="ingress-nginx",
        metadata={
            "env": "INGRESS_CONTROLLER_NAMESPACE",
            "doc": "Namespace allowed to reach store web pods (kube-system for k3s traefik)",
        },
    )
    tls_enabled: bool = field(
        default=False, metadata={"env": "TLS_ENABLED", "doc": "Add a TLS section to store Ingresses"}
    )
    cert_manager_issuer: str = field(
        default="",
        metadata={"env": "CERT_MANAGER_CLUSTER_ISSUER", "doc": "cert-manager ClusterIssuer for TLS"},
    )
    quota_requests_cpu: str = field(default="1", metadata={"env": "STORE_QUOTA_REQUESTS_CPU", "doc": "Per-store quota"})
    quota_requests_memory: str = field(
        default="1536Mi", metadata={"env": "STORE_QUOTA_REQUESTS_MEMORY", "doc": "Per-store quota"}
    )
    quota_limits_cpu: str = field(default="2", metadata={"env": "STORE_QUOTA_LIMITS_CPU", "doc": "Per-store quota"})
    quota_limits_memory: str = field(
        default="2Gi", metadata={"env": "STORE_QUOTA_LIMITS_MEMORY", "doc": "Per-store quota"}
    )
    quota_storage: str = field(
        default="10Gi", metadata={"env": "STORE_QUOTA_STORAGE", "doc": "Per-store storage quota"}
    )
    quota_pods: int = field(default=10, metadata={"env": "STORE_QUOTA_PODS", "doc": "Per-store pod count quota"})
    store_node_selector: str = field(
        default="",
        metadata={"env": "STORE_NODE_SELECTOR", "doc": "key=value[,key=value] nodes store pods must run on"},
    )
    store_tolerations: str = field(
        default="",
        metadata={
            "env": "STORE_TOLERATIONS",
            "doc": "key[=value][:Effect][,...] taints store pods tolerate (with STORE_NODE_SELECTOR: dedicated nodes)",
        },
    )
    volume_size: str = field(default="2Gi", metadata={"env": "STORE_VOLUME_SIZE", "doc": "Size of each store volume"})
    # -- plans (provisioning/catalog/plans.py; docs/operations.md "Plans and resize") --
    plans_json: str = field(
        default="",
        metadata={
            "env": "PLANS",
            "doc": "Plans as JSON (a list); empty = small, medium, large (small = the settings above)",
        },
    )
    plans_file: str = field(
        default="", metadata={"env": "PLANS_FILE", "doc": "YAML or JSON file of plans, read when PLANS is empty"}
    )
    default_plan: str = field(
        default="",
        metadata={
            "env": "DEFAULT_PLAN",
            "doc": "Plan of stores ordered without one (an orderable one); empty = small (or the first orderable)",
        },
    )
    orderable_plans: str = field(
        default="",
        metadata={"env": "ORDERABLE_PLANS", "doc": "Comma-separated plans users may order; empty = all (admins: any)"},
    )
    wordpress_image: str = field(
        default=woo_pins.WORDPRESS_IMAGE,
        metadata={
            "env": "WORDPRESS_IMAGE",
            "doc": "Pinned WordPress image; must satisfy WOOCOMMERCE_VERSION's 'Requires at least'",
        },
    )
    wpcli_image: str = field(
        default=woo_pins.WPCLI_IMAGE,
        metadata={"env": "WPCLI_IMAGE", "doc": "Pinned WP-CLI image (runs as uid 33, HOME=/tmp)"},
    )
    mariadb_image: str = field(
        default=woo_pins.MARIADB_IMAGE, metadata={"env": "MARIADB_IMAGE", "doc": "Pinned MariaDB image (LTS line)"}
    )
    woocommerce_version: str = field(
        default=woo_pins.WOOCOMMERCE_VERSION,
        metadata={
            "env": "WOOCOMMERCE_VERSION",
            "doc": "Pinned WooCommerce plugin version; checked against WORDPRESS_IMAGE at start-up",
        },
    )
    wp_cron_schedule: str = field(
        default="*/5 * * * *",
        metadata={
            "env": "WP_CRON_SCHEDULE",
            "doc": "When each WooCommerce store's CronJob runs WP-cron and the Action Scheduler",
        },
    )
    # -- Medusa stores: the project's own image (images/medusa/) plus official images --
    medusa_image: str = field(
        default="store-platform/medusa-store:2.21.2",
        metadata={"env": "MEDUSA_IMAGE", "doc": "Medusa store image built from images/medusa/ (runs as uid 1000)"},
    )
    postgres_image: str = field(
        default="postgres:17.6-bookworm",
        metadata={"env": "POSTGRES_IMAGE", "doc": "Pinned PostgreSQL image of Medusa stores (runs as uid 999)"},
    )
    redis_image: str = field(
        default="redis:7.4.6-bookworm",
        metadata={"env": "REDIS_IMAGE", "doc": "Pinned Redis image of Medusa stores (runs as uid 999)"},
    )
    # A Medusa store runs five pods (PostgreSQL, Redis, server, worker, setup) where a
    # WooCommerce store runs three: its quota is its own setting, not the shared one.
    medusa_quota_requests_cpu: str = field(
        default="1", metadata={"env": "MEDUSA_QUOTA_REQUESTS_CPU", "doc": "Per-store quota of a Medusa store"}
    )
    medusa_quota_requests_memory: str = field(
        default="2Gi", metadata={"env": "MEDUSA_QUOTA_REQUESTS_MEMORY", "doc": "Per-store quota of a Medusa store"}
    )
    medusa_quota_limits_cpu: str = field(
        default="3", metadata={"env": "MEDUSA_QUOTA_LIMITS_CPU", "doc": "Per-store quota of a Medusa store"}
    )
    medusa_quota_limits_memory: str = field(
        default="3584Mi", metadata={"env": "MEDUSA_QUOTA_LIMITS_MEMORY", "doc": "Per-store quota of a Medusa store"}
    )
    kube_context: str = field(
        default="",
        metadata={"env": "KUBE_CONTEXT", "doc": "kubeconfig context; empty = current (or in-cluster)"},
    )
    metrics_port: int = field(
        default=9090,
        metadata={
            "env": "METRICS_PORT",
            "doc": "Port of the worker's Prometheus /metrics (python -m provisioning.worker); 0 = off. "
            "The portal serves /metrics on its own port",
        },
    )
    watch_cluster: bool = field(
        default=True,
        metadata={
            "env": "WATCH_CLUSTER",
            "doc": "The reconciler reads readiness from list+watch caches instead of a GET per object per pass "
            "(false: GETs, as before)",
        },
    )
    run_reconciler: bool = field(
        default=True,
        metadata={
            "env": "RUN_RECONCILER",
            "doc": "Run the reconciler as a thread of the portal (false when it has its own Deployment)",
        },
    )
    admin_username: str = field(default="admin", metadata={"env": "ADMIN_USERNAME", "doc": "First admin's username"})
    admin_password: str = field(
        repr=False,
        default="",
        metadata={
            "env": "ADMIN_PASSWORD",
            "doc": "First admin's password; empty = generated once into the local secrets file",
            "secret": True,
        },
    )
    cookie_key: str = field(
        repr=False,
        default="",
        metadata={
            "env": "COOKIE_KEY",
            "doc": "Signs login cookies; empty = generated once into the local secrets file",
            "secret": True,
        },
    )
    local_secrets_file: str = field(
        default=".local/secrets.env",
        metadata={"env": "LOCAL_SECRETS_FILE", "doc": "Where generated local secrets are kept (0600)"},
    )
    max_failed_logins: int = field(
        default=5, metadata={"env": "MAX_FAILED_LOGINS", "doc": "Failed sign-ins before lockout"}
    )
    lockout_minutes: int = field(
        default=15, metadata={"env": "LOCKOUT_MINUTES", "doc": "Lockout length after failures"}
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from `environ` (default `os.environ`); bad values raise SettingsError."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"])
            if not raw:  # unset and empty both mean "use the default"
                continue
            values[f.name] = _parse(f.metadata["env"], f.type, raw)
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse settings that would only fail later, far from their cause."""
        for name in (
            "max_stores_per_user",
            "max_creates_per_hour",
            "max_concurrent_provisioning",
            "provisioning_timeout_seconds",
            "setup_deadline_seconds",
            "shopper_check_interval_seconds",
            "max_failed_logins",
            "webhook_max_attempts",
        ):
            if getattr(self, name) < 1:
                raise SettingsError(f"{_env_name(name)} must be at least 1")
        if not 0 <= self.metrics_port <= 65535:
            raise SettingsError("METRICS_PORT must be a port number (0 = off)")
        if self.shopper_check_timeout_seconds <= 0:
            raise SettingsError("SHOPPER_CHECK_TIMEOUT_SECONDS must be more than 0")
        if self.webhook_timeout_seconds <= 0 or self.webhook_retry_base_seconds <= 0:
            raise SettingsError("WEBHOOK_TIMEOUT_SECONDS and WEBHOOK_RETRY_BASE_SECONDS must be more than 0")
        if self.shopper_check_url and not self.shopper_check_url.startswith(("http://", "https://")):
            raise SettingsError(f"SHOPPER_CHECK_URL {self.shopper_check_url!r} must start with http:// or https://")
        if len(self.wp_cron_schedule.split()) != 5:
            raise SettingsError(f"WP_CRON_SCHEDULE {self.wp_cron_schedule!r} is not a five-field cron schedule")
        try:
            woo_pins.check_compatible(self.wordpress_image, self.woocommerce_version)
        except woo_pins.IncompatibleVersionsError as error:
            raise SettingsError(str(error)) from None
        if self.url_scheme not in ("http", "https"):
            raise SettingsError("STORE_URL_SCHEME must be http or https")
        if not self.domain or self.domain.startswith(".") or " " in self.domain:
            raise SettingsError(f"DOMAIN {self.domain!r} is not a DNS name")
        _parse_pairs(self.store_node_selector)
        _parse_tolerations(self.store_tolerations)
        plans.load_catalog(self)  # SettingsError names the plan and the field to fix
        self.validate_backups()
        self.validate_upgrades()
        if self.cookie_key and len(self.cookie_key) < 32:
            raise SettingsError("COOKIE_KEY must be at least 32 characters (it signs the login cookies).")

    @functools.cached_property
    def catalog(self) -> plans.Catalog:
        """The plans on offer (validated at start-up by `validate`)."""
        return plans.load_catalog(self)

    @property
    def node_selector(self) -> dict[str, str]:
        return _parse_pairs(self.store_node_selector)

    @property
    def tolerations(self) -> list[dict[str, str]]:
        return _parse_tolerations(self.store_tolerations)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def store_url(self, name: str) -> str:
        return f"{self.url_scheme}://{name}.{self.domain}"


def _parse_pairs(raw: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SettingsError(f"STORE_NODE_SELECTOR item {item!r} is not key=value")
        pairs[key.strip()] = value.strip()
    return pairs


TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def _parse_tolerations(raw: str) -> list[dict[str, str]]:
    """`key=value:Effect` tolerates that taint; `key:Effect` any value; `key` any value and effect."""
    tolerations: list[dict[str, str]] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        rest, colon, effect = item.rpartition(":") if ":" in item else (item, "", "")
        key, eq, value = rest.partition("=")
        if not key.strip() or (colon and effect not in TAINT_EFFECTS):
            raise SettingsError(
                f"STORE_TOLERATIONS item {item!r} is not key[=value][:Effect] (Effect: {', '.join(TAINT_EFFECTS)})"
            )
        toleration = {"key": key.strip(), "operator": "Equal" if eq else "Exists"}
        if eq:
            toleration["value"] = value.strip()
        if effect:
            toleration["effect"] = effect
        tolerations.append(toleration)
    return tolerations


def _env_name(field_name: str) -> str:
    return next(f.metadata["env"] for f in fields(Settings) if f.name == field_name)


def _parse(env_name: str, type_name: Any, raw: str) -> Any:
    kind = type_name if isinstance(type_name, str) else type_name.__name__
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
    except ValueError:
        raise SettingsError(f"{env_name}={raw!r} is not a valid {kind}") from None
    return raw


def settings_table() -> str:
    """Markdown table of every setting, for the README."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    inherited = [*fields(BackupSettings), *fields(UpgradeSettings)]
    names = {f.name for f in inherited}
    ordered = [f for f in fields(Settings) if f.name not in names] + inherited
    for f in ordered:
        default = (
            "(generated)"
            if f.metadata.get("secret") and f.metadata.get("generated", True)
            else ("sqlite:///./store_platform.db" if f.name == "database_url" else repr(f.default))
        )
        rows.append(f"| `{f.metadata['env']}` | `{default}` | {f.metadata['doc']} |")
    return "\n".join(rows)
