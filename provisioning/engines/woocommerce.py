"""WooCommerce: MariaDB + WordPress + a WP-CLI setup Job and cron, under Pod Security "restricted".

Both images run as their unprivileged users (mysql 999, www-data 33). Apache keeps port 80
through the namespaced, PSS-allowed sysctl `net.ipv4.ip_unprivileged_port_start=0`
instead of root or NET_BIND_SERVICE. The facts about the official images these manifests
rely on are stated, with their sources, in provisioning/catalog/woocommerce.py (versions),
provisioning/engines/wordpress_runtime.py (config, memory) and wp_cli_scripts.py
(setup, cron), and pinned by tests/provisioning/test_woocommerce_facts.py.
"""

from __future__ import annotations

from collections.abc import Mapping

from provisioning import credentials
from provisioning.catalog import versions
from provisioning.catalog.plans import Plan
from provisioning.engines import woocommerce_jobs, wordpress_runtime
from provisioning.engines.base import (
    LABEL_COMPONENT,
    LABEL_STORE_ID,
    Check,
    Manifest,
    ShopperRequest,
    StoreSpec,
    engine_plan,
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
    with_replicas_together,
)
from provisioning.engines.tenancy import credentials_secret, store_ingress, tenancy_manifests
from provisioning.engines.woocommerce_contract import (
    DB_CLIENTS,
    DB_NAME,
    DB_PORT,
    DB_USER,
    KEY_ADMIN_PASSWORD,
    KEY_ADMIN_USER,
    KEY_DB_PASSWORD,
    KEY_DB_ROOT_PASSWORD,
    MARIADB_UID,
    SALT_ENV,
    WEB_PORT,
    WWW_DATA_UID,
    wordpress_env,
)
from provisioning.settings import Settings

WEB_MEMORY_LIMIT_MIB = 512
MPM_CONFIG = "apache-mpm"
MPM_CONF_PATH = "/etc/apache2/mods-available/mpm_prefork.conf"
# healthcheck.sh ships in the mariadb image; it reads the credentials the entrypoint writes
# to $DATADIR/.my-healthcheck.cnf during initialisation (MariaDB/mariadb-docker 11.8).
MARIADB_STARTED = ["healthcheck.sh", "--connect", "--innodb_initialized"]
MARIADB_ALIVE = ["healthcheck.sh", "--connect"]


class WooCommerceEngine:
    name = "woocommerce"
    title = "WooCommerce"
    available = True
    admin_password_key = KEY_ADMIN_PASSWORD
    publishable_key_key = None
    clone_keys = (KEY_ADMIN_PASSWORD,)  # the admin's hash is in the copied database

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
        return credentials_secret(spec, values)

    def workloads(self, spec: StoreSpec, settings: Settings, *, plan: Plan | None = None) -> list[Manifest]:
        settings = versions.effective_settings(
            settings, "woocommerce", spec.versions
        )  # the store's own, not today's pins
        sizes = engine_plan(spec, settings, plan, engine="woocommerce")
        return [
            *tenancy_manifests(spec, settings, web_port=WEB_PORT, db_port=DB_PORT, db_clients=DB_CLIENTS, plan=sizes),
            self.database_service(spec),
            self.database(spec, settings, plan=plan),
            self.web_volume(spec, settings, plan=plan),
            self.web_config(spec),
            self.web_service(spec),
            self.web(spec, settings, plan=plan),
            self.setup_job(spec, settings),
            self.cron_job(spec, settings),
            self.ingress(spec, settings),
        ]

    def shopper_path(self, spec: StoreSpec) -> list[ShopperRequest]:
        """The storefront (its title proves it is this store), then the public Store API."""
        return [
            ShopperRequest("Storefront", "/", expect_text=(f"{spec.name} store",)),
            ShopperRequest(
                "Store API products", "/wp-json/wc/store/v1/products", expect_text=('"name":"Sample product"',)
            ),
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

    def database(self, spec: StoreSpec, settings: Settings, *, plan: Plan | None = None) -> Manifest:
        labels = store_labels(spec, component="database")
        selector = {LABEL_STORE_ID: spec.id, LABEL_COMPONENT: "database"}
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
                                # First start initialises InnoDB and creates the WordPress user;
                                # killed half-way, the next start sees /var/lib/mysql/mysql and
                                # skips the user: "Error establishing a database connection"
                                # forever. So: 5 minutes before liveness may act at all.
                                "startupProbe": {
                                    "exec": {"command": MARIADB_STARTED},
                                    "periodSeconds": 5,
                                    "timeoutSeconds": 5,
                                    "failureThreshold": 60,
                                },
                                "readinessProbe": {
                                    "exec": {"command": MARIADB_STARTED},
                                    "periodSeconds": 10,
                                    "timeoutSeconds": 5,
                                },
                                "livenessProbe": {
                                    "exec": {"command": MARIADB_ALIVE},
                                    "periodSeconds": 20,
                                    "timeoutSeconds": 5,
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
                        "spec": storage(
                            settings, size=engine_plan(spec, settings, plan, engine="woocommerce").volume("database")
                        ),
                    }
                ],
            },
        }

    # -- web ------------------------------------------------------------------------------

    def web_volume(self, spec: StoreSpec, settings: Settings, *, plan: Plan | None = None) -> Manifest:
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": metadata(spec, "wordpress-data", component="web"),
            "spec": storage(settings, size=engine_plan(spec, settings, plan, engine="woocommerce").volume("uploads")),
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

    def web_config(self, spec: StoreSpec) -> Manifest:
        """Apache prefork sized to the web container's memory limit (see wordpress_runtime)."""
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(spec, MPM_CONFIG, component="web"),
            "data": {"mpm_prefork.conf": wordpress_runtime.mpm_prefork_conf(WEB_MEMORY_LIMIT_MIB)},
        }

    def web(self, spec: StoreSpec, settings: Settings, *, plan: Plan | None = None) -> Manifest:
        selector = {LABEL_STORE_ID: spec.id, LABEL_COMPONENT: "web"}
        replicas = engine_plan(spec, settings, plan, engine="woocommerce").replicas
        manifest = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata(spec, "wordpress", component="web"),
            "spec": {
                "replicas": replicas,
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
                                "env": wordpress_env(spec, settings),
                                "resources": resources("100m", "256Mi", "500m", f"{WEB_MEMORY_LIMIT_MIB}Mi"),
                                "securityContext": container_security(),
                                # The entrypoint copies WordPress (about 3,000 files) into an
                                # empty volume on the first start: give it time before liveness.
                                "startupProbe": {
                                    "tcpSocket": {"port": WEB_PORT},
                                    "periodSeconds": 5,
                                    "failureThreshold": 60,
                                },
                                "readinessProbe": {
                                    "httpGet": {"path": "/wp-login.php", "port": WEB_PORT},
                                    "periodSeconds": 10,
                                    "timeoutSeconds": 5,
                                },
                                "livenessProbe": {
                                    "tcpSocket": {"port": WEB_PORT},
                                    "periodSeconds": 20,
                                    "failureThreshold": 6,
                                },
                                "volumeMounts": [
                                    {"name": "html", "mountPath": "/var/www/html"},
                                    {
                                        "name": "apache-mpm",
                                        "mountPath": MPM_CONF_PATH,
                                        "subPath": "mpm_prefork.conf",
                                        "readOnly": True,
                                    },
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "html", "persistentVolumeClaim": {"claimName": "wordpress-data"}},
                            {"name": "apache-mpm", "configMap": {"name": MPM_CONFIG}},
                        ],
                    },
                },
            },
        }
        return with_replicas_together(manifest, selector, replicas)

    # -- setup and cron (woocommerce_jobs.py) -------------------------------------------

    def setup_script(self, spec: StoreSpec, settings: Settings) -> str:
        return woocommerce_jobs.setup_script(spec, settings)

    def setup_job(self, spec: StoreSpec, settings: Settings) -> Manifest:
        return woocommerce_jobs.setup_job(spec, settings)

    def cron_job(self, spec: StoreSpec, settings: Settings) -> Manifest:
        return woocommerce_jobs.cron_job(spec, settings)

    # -- ingress --------------------------------------------------------------------------

    def ingress(self, spec: StoreSpec, settings: Settings) -> Manifest:
        return store_ingress(spec, settings, service="wordpress", port=WEB_PORT)
