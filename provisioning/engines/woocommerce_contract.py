"""The WooCommerce store's contract with the official images: ports, users, Secret keys, env.

Shared by the manifests (woocommerce.py) and the WP-CLI Jobs (woocommerce_jobs.py). The
env is the wordpress image's contract: its wp-config-docker.php reads `WORDPRESS_DB_*`,
the salts and `WORDPRESS_CONFIG_EXTRA` with getenv at run time (docker-library/wordpress).
"""

from __future__ import annotations

from typing import Any

from provisioning import credentials
from provisioning.engines import wordpress_runtime
from provisioning.engines.base import StoreSpec
from provisioning.engines.pods import secret_env
from provisioning.settings import Settings

WEB_PORT = 80
DB_PORT = 3306
DB_NAME = "wordpress"
DB_USER = "wordpress"
MARIADB_UID = 999  # `mysql` in the mariadb image (groupadd -r / useradd -r on Ubuntu)
WWW_DATA_UID = 33  # Debian's www-data in the apache image; the wp-cli image (Alpine) runs `--user 33:33`
# Components that talk to MariaDB (NetworkPolicies allow exactly these).
DB_CLIENTS = ("web", "setup", "cron")

KEY_DB_ROOT_PASSWORD = "mariadb-root-password"
KEY_DB_PASSWORD = "mariadb-password"
KEY_ADMIN_USER = "wordpress-admin-user"
KEY_ADMIN_PASSWORD = "wordpress-admin-password"
SALT_ENV = {f"WORDPRESS_{key}": f"wordpress-{key.lower().replace('_', '-')}" for key in credentials.WORDPRESS_SALT_KEYS}


def wordpress_env(
    spec: StoreSpec, settings: Settings, *, accessible_hosts: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The wordpress image's env contract (read at run time by its wp-config-docker.php)."""
    url = spec.url(settings)
    return [
        {"name": "WORDPRESS_DB_HOST", "value": f"mariadb:{DB_PORT}"},
        {"name": "WORDPRESS_DB_NAME", "value": DB_NAME},
        {"name": "WORDPRESS_DB_USER", "value": DB_USER},
        secret_env("WORDPRESS_DB_PASSWORD", KEY_DB_PASSWORD),
        *(secret_env(env, key) for env, key in SALT_ENV.items()),
        {
            "name": "WORDPRESS_CONFIG_EXTRA",
            "value": wordpress_runtime.config_extra(url, accessible_hosts=accessible_hosts),
        },
    ]
