"""WooCommerce: MariaDB + WordPress + a WP-CLI setup Job, all under Pod Security "restricted".

Both images run as their unprivileged users (mysql 999, www-data 33). Apache keeps port 80
through the namespaced, PSS-allowed sysctl `net.ipv4.ip_unprivileged_port_start=0`
instead of root or NET_BIND_SERVICE.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from provisioning import credentials
from provisioning.engines.base import (
    LABEL_COMPONENT,
    LABEL_STORE_ID,
    SECRET_NAME,
    Check,
    Manifest,
    StoreSpec,
    metadata,
    store_labels,
)
from provisioning.engines.pods import (
    container_security,
    placement,
    pod_security,
    resources,
    secret_env,
    storage,
)
from provisioning.engines.tenancy import tenancy_manifests
from provisioning.settings import Settings

WEB_PORT = 80
DB_PORT = 3306
DB_NAME = "wordpress"
DB_USER = "wordpress"
MARIADB_UID = 999
WWW_DATA_UID = 33

KEY_DB_ROOT_PASSWORD = "mariadb-root-password"
KEY_DB_PASSWORD = "mariadb-password"
KEY_ADMIN_USER = "wordpress-admin-user"
KEY_ADMIN_PASSWORD = "wordpress-admin-password"
SALT_ENV = {f"WORDPRESS_{key}": f"wordpress-{key.lower().replace('_', '-')}" for key in credentials.WORDPRESS_SALT_KEYS}


def _wordpress_env(spec: StoreSpec, settings: Settings) -> list[dict[str, Any]]:
    url = spec.url(settings)
    return [
        {"name": "WORDPRESS_DB_HOST", "value": f"mariadb:{DB_PORT}"},
        {"name": "WORDPRESS_DB_NAME", "value": DB_NAME},
        {"name": "WORDPRESS_DB_USER", "value": DB_USER},
        secret_env("WORDPRESS_DB_PASSWORD", KEY_DB_PASSWORD),
        *(secret_env(env, key) for env, key in SALT_ENV.items()),
        {
            "name": "WORDPRESS_CONFIG_EXTRA",
            "value": f"define('WP_HOME', '{url}');\ndefine('WP_SITEURL', '{url}');",
        },
    ]


class WooCommerceEngine:
    name = "woocommerce"
    title = "WooCommerce"
    available = True

    def admin_path(self) -> str:
        return "/wp-admin/"

    def generate_secrets(self, spec: StoreSpec) -> dict[str, str]:
        values = {
            KEY_DB_ROOT_PASSWORD: credentials.password(),
            KEY_DB_PASSWORD: credentials.password(),
            KEY_ADMIN_USER: spec.admin_user,
            KEY_ADMIN_PASSWORD: credentials.password(20),
        }
        values.update({key: credentials.salt() for key in SALT_ENV.values()})
        return values

    def secret(self, spec: StoreSpec, values: Mapping[str, str]) -> Manifest:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata(spec, SECRET_NAME),
            "type": "Opaque",
            "stringData": dict(values),
        }

    def workloads(self, spec: StoreSpec, settings: Settings) -> list[Manifest]:
        return [
            *tenancy_manifests(spec, settings, web_port=WEB_PORT, db_port=DB_PORT),
            self.database_service(spec),
            self.database(spec, settings),
            self.web_volume(spec, settings),
            self.web_service(spec),
            self.web(spec, settings),
            self.setup_job(spec, settings),
            self.ingress(spec, settings),
        ]

    def checks(self, spec: StoreSpec) -> list[Check]:
        return [
            Check("NamespaceReady", "Namespace", spec.namespace, "Namespace"),
            Check("DatabaseReady", "StatefulSet", "mariadb", "Database"),
            Check("AppReady", "Deployment", "wordpress", "Web server"),
            Check("StoreInstalled", "Job", "store-setup", "Store setup"),
            Check("IngressReady", "Ingress", "store", "Ingress"),
        ]

    # -- database -------------------------------------------------------------------------

    def database_service(self, spec: StoreSpec) -> Manifest:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(spec, "mariadb", component="database"),
            "spec": {
                "clusterIP": "None",
                "selector": {LABEL_STORE_ID: spec.id, LABEL_COMPONENT: "database"},
                "ports": [{"name": "mysql", "port": DB_PORT, "targetPort": DB_PORT}],
            },
        }

    def database(self, spec: StoreSpec, settings: Settings) -> Manifest:
        labels = store_labels(spec, component="database")
        selector = {LABEL_STORE_ID: spec.id, LABEL_COMPONENT: "database"}
        probe_cmd = ["healthcheck.sh", "--connect", "--innodb_initialized"]
        return {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": metadata(spec, "mariadb", component="database"),
            "spec": {
                "serviceName": "mariadb",
                "replicas": 1,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        **placement(settings),
                        "securityContext": pod_security(MARIADB_UID),
                        "containers": [
                            {
                                "name": "mariadb",
                                "image": settings.mariadb_image,
                                "ports": [{"name": "mysql", "containerPort": DB_PORT}],
                                "env": [
                                    secret_env("MARIADB_ROOT_PASSWORD", KEY_DB_ROOT_PASSWORD),
                                    {"name": "MARIADB_DATABASE", "value": DB_NAME},
                                    {"name": "MARIADB_USER", "value": DB_USER},
                                    secret_env("MARIADB_PASSWORD", KEY_DB_PASSWORD),
                                ],
                                "resources": resources("100m", "256Mi", "500m", "768Mi"),
                                "securityContext": container_security(),
                                "readinessProbe": {
                                    "exec": {"command": probe_cmd},
                                    "initialDelaySeconds": 10,
                                    "periodSeconds": 10,
                                    "timeoutSeconds": 5,
                                },
                                "livenessProbe": {
                                    "tcpSocket": {"port": DB_PORT},
                                    "initialDelaySeconds": 60,
                                    "periodSeconds": 20,
                                    "failureThreshold": 6,
                                },
                                "volumeMounts": [{"name": "data", "mountPath": "/var/lib/mysql"}],
                            }
                        ],
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data", "labels": store_labels(spec, component="database")},
                        "spec": storage(settings),
                    }
                ],
            },
        }

    # -- web ------------------------------------------------------------------------------

    def web_volume(self, spec: StoreSpec, settings: Settings) -> Manifest:
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": metadata(spec, "wordpress-data", component="web"),
            "spec": storage(settings),
        }

    def web_service(self, spec: StoreSpec) -> Manifest:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(spec, "wordpress", component="web"),
            "spec": {
                "type": "ClusterIP",
                "selector": {LABEL_STORE_ID: spec.id, LABEL_COMPONENT: "web"},
                "ports": [{"name": "http", "port": WEB_PORT, "targetPort": WEB_PORT}],
            },
        }

    def web(self, spec: StoreSpec, settings: Settings) -> Manifest:
        selector = {LABEL_STORE_ID: spec.id, LABEL_COMPONENT: "web"}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata(spec, "wordpress", component="web"),
            "spec": {
                "replicas": 1,
                # One RWO volume: the old pod must release it before the new one starts.
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": store_labels(spec, component="web")},
                    "spec": {
                        "automountServiceAccountToken": False,
                        **placement(settings),
                        "securityContext": pod_security(WWW_DATA_UID, unprivileged_ports=True),
                        "containers": [
                            {
                                "name": "wordpress",
                                "image": settings.wordpress_image,
                                "ports": [{"name": "http", "containerPort": WEB_PORT}],
                                "env": _wordpress_env(spec, settings),
                                "resources": resources("100m", "256Mi", "500m", "512Mi"),
                                "securityContext": container_security(),
                                "readinessProbe": {
                                    "httpGet": {"path": "/wp-login.php", "port": WEB_PORT},
                                    "initialDelaySeconds": 10,
                                    "periodSeconds": 10,
                                    "timeoutSeconds": 5,
                                },
                                "livenessProbe": {
                                    "tcpSocket": {"port": WEB_PORT},
                                    "initialDelaySeconds": 60,
                                    "periodSeconds": 20,
                                    "failureThreshold": 6,
                                },
                                "volumeMounts": [{"name": "html", "mountPath": "/var/www/html"}],
                            }
                        ],
                        "volumes": [{"name": "html", "persistentVolumeClaim": {"claimName": "wordpress-data"}}],
                    },
                },
            },
        }

    # -- setup ----------------------------------------------------------------------------

    def setup_script(self, spec: StoreSpec, settings: Settings) -> str:
        """Idempotent: every step checks before it acts, so a retried Job converges."""
        url = shlex.quote(spec.url(settings))
        title = shlex.quote(f"{spec.name} store")
        admin = shlex.quote(spec.admin_user)
        email = shlex.quote(spec.admin_email)
        version = f" --version={shlex.quote(settings.woocommerce_version)}" if settings.woocommerce_version else ""
        return "\n".join(
            [
                "set -eu",
                "until [ -f /var/www/html/wp-includes/version.php ] && [ -f /var/www/html/wp-config.php ]; do",
                "  echo 'waiting for the WordPress files'; sleep 3",
                "done",
                "until wp db check --quiet >/dev/null 2>&1; do echo 'waiting for the database'; sleep 3; done",
                "if ! wp core is-installed; then",
                f"  wp core install --url={url} --title={title} --admin_user={admin} "
                f'--admin_password="$WP_ADMIN_PASSWORD" --admin_email={email} --skip-email',
                "fi",
                f"wp plugin is-installed woocommerce || wp plugin install woocommerce{version}",
                "wp plugin is-active woocommerce || wp plugin activate woocommerce",
                "wp option update woocommerce_coming_soon no",
                f"wp wc payment_gateway update cod --enabled=true --user={admin}",
                f'if [ "$(wp wc product list --user={admin} --format=count)" = "0" ]; then',
                f"  wp wc product create --name='Sample product' --regular_price=9.99 --status=publish --user={admin}",
                "fi",
                "echo 'store setup complete'",
            ]
        )

    def setup_job(self, spec: StoreSpec, settings: Settings) -> Manifest:
        labels = store_labels(spec, component="setup")
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": metadata(spec, "store-setup", component="setup"),
            "spec": {
                "backoffLimit": 6,
                "activeDeadlineSeconds": settings.provisioning_timeout_seconds,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "OnFailure",
                        "automountServiceAccountToken": False,
                        **placement(settings),
                        "securityContext": pod_security(WWW_DATA_UID),
                        # The WordPress volume is ReadWriteOnce: run next to the web pod.
                        "affinity": {
                            "podAffinity": {
                                "requiredDuringSchedulingIgnoredDuringExecution": [
                                    {
                                        "labelSelector": {
                                            "matchLabels": {LABEL_STORE_ID: spec.id, LABEL_COMPONENT: "web"}
                                        },
                                        "topologyKey": "kubernetes.io/hostname",
                                    }
                                ]
                            }
                        },
                        "containers": [
                            {
                                "name": "wp-cli",
                                "image": settings.wpcli_image,
                                "command": ["sh", "-c", self.setup_script(spec, settings)],
                                "env": [
                                    *_wordpress_env(spec, settings),
                                    secret_env("WP_ADMIN_PASSWORD", KEY_ADMIN_PASSWORD),
                                    {"name": "WP_CLI_CACHE_DIR", "value": "/tmp/wp-cli-cache"},
                                ],
                                "resources": resources("50m", "128Mi", "500m", "512Mi"),
                                "securityContext": container_security(),
                                "volumeMounts": [{"name": "html", "mountPath": "/var/www/html"}],
                            }
                        ],
                        "volumes": [{"name": "html", "persistentVolumeClaim": {"claimName": "wordpress-data"}}],
                    },
                },
            },
        }

    # -- ingress --------------------------------------------------------------------------

    def ingress(self, spec: StoreSpec, settings: Settings) -> Manifest:
        host = spec.host(settings)
        annotations: dict[str, str] = {}
        if settings.ingress_class == "nginx":
            annotations["nginx.ingress.kubernetes.io/proxy-body-size"] = "64m"
        body: dict[str, Any] = {
            "ingressClassName": settings.ingress_class,
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "wordpress", "port": {"number": WEB_PORT}}},
                            }
                        ]
                    },
                }
            ],
        }
        if settings.tls_enabled:
            body["tls"] = [{"hosts": [host], "secretName": "store-tls"}]
            if settings.cert_manager_issuer:
                annotations["cert-manager.io/cluster-issuer"] = settings.cert_manager_issuer
        meta = metadata(spec, "store", component="web")
        if annotations:
            meta["annotations"] = annotations
        return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": body}
