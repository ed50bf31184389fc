"""Facts about the official images that the WooCommerce manifests rely on, each pinned once.

Sources (read 2026-11-27): docker-library/wordpress bf223d1 (versions.json, the apache
variant's docker-entrypoint.sh and wp-config-docker.php, cli/php8.3/alpine/Dockerfile),
docker-library/php 445bf41 (8.3/bookworm/apache/Dockerfile: mpm_prefork, 1777 run dirs),
MariaDB/mariadb-docker 1b6429b (11.8: healthcheck.sh, docker-entrypoint.sh). If an image
changes one of these, the test that names it is the one to revisit with the new source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from provisioning.catalog import woocommerce as pins
from provisioning.engines.base import StoreSpec
from provisioning.engines.woocommerce import MPM_CONF_PATH, WooCommerceEngine
from provisioning.engines.wordpress_runtime import WORDPRESS_ORG_HOSTS, max_request_workers, mpm_prefork_conf
from provisioning.errors import SettingsError
from provisioning.settings import Settings
from tests.conftest import make_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def objects(settings: Settings) -> dict[str, dict[str, Any]]:
    spec = StoreSpec("f" * 32, "fact-shop", "store-fact-shop-ffffffff", "alice", "woocommerce", "admin", "a@b.invalid")
    return {m["kind"]: m for m in WooCommerceEngine().workloads(spec, settings)}


def pod(objects: dict[str, dict[str, Any]], kind: str) -> dict[str, Any]:
    obj = objects[kind]
    spec = obj["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else obj["spec"]
    return spec["template"]["spec"]


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def mebibytes(quantity: str) -> int:
    units = {"Mi": 1, "Gi": 1024}
    return int(quantity[:-2]) * units[quantity[-2:]]


# -- versions: pinned together -----------------------------------------------------------------


def test_default_pins_are_current_and_agree(settings: Settings) -> None:
    assert settings.wordpress_image == "wordpress:7.1.0-php8.3-apache"  # docker-library `latest` since 2026-08-19
    assert settings.wpcli_image == "wordpress:cli-2.12.0-php8.3"
    assert settings.mariadb_image == "mariadb:11.8.8"  # the LTS line
    pins.check_compatible(settings.wordpress_image, settings.woocommerce_version)
    wordpress, php = pins.wordpress_version_of(settings.wordpress_image) or ((), None)
    assert wordpress[:2] >= pins.required_wordpress(settings.woocommerce_version)
    assert php == (8, 3) and settings.wpcli_image.endswith("-php8.3"), "web and WP-CLI run the same PHP"


def test_woocommerce_10_8_and_later_need_wordpress_6_9() -> None:
    assert pins.required_wordpress("10.8.0") == (6, 9)
    assert pins.required_wordpress("11.2.1") == (6, 9), "requirements only rise"
    assert pins.required_wordpress("10.7.0") is None


@pytest.mark.parametrize(
    ("image", "version", "needle"),
    [
        ("wordpress:6.8.3-php8.3-apache", "10.8.0", "requires WordPress 6.9 or newer"),
        ("wordpress:7.1.0-php8.3-apache", "", "must be pinned"),
        ("wordpress:7.1.0-php8.3-apache", "latest", "is not a version"),
        ("wordpress:7.1.0-php7.2-apache", "10.8.0", "needs PHP 7.4"),
    ],
)
def test_changing_one_pin_without_the_other_fails_at_start_up(
    tmp_path: Path, image: str, version: str, needle: str
) -> None:
    with pytest.raises(SettingsError, match=needle):
        Settings.from_env(
            {}, database_url=f"sqlite:///{tmp_path}/x.db", wordpress_image=image, woocommerce_version=version
        )


def test_a_custom_image_name_is_trusted() -> None:
    pins.check_compatible("registry.example.com/shop/wp@sha256:abc", "10.8.0")  # nothing to read: no error


# -- users and writable paths ------------------------------------------------------------------


def test_every_pod_runs_as_the_images_own_user(objects: dict[str, dict[str, Any]]) -> None:
    assert pod(objects, "StatefulSet")["securityContext"]["runAsUser"] == 999  # mysql in the mariadb image
    for kind in ("Deployment", "Job", "CronJob"):
        context = pod(objects, kind)["securityContext"]
        assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"]) == (33, 33, 33)  # www-data
        assert context["fsGroupChangePolicy"] == "OnRootMismatch", "never re-chown all of WordPress per mount"


def test_wp_cli_runs_with_home_in_tmp(objects: dict[str, dict[str, Any]]) -> None:
    """Alpine's www-data is 82: uid 33 has no passwd entry, hence no home (official docs: HOME=/tmp)."""
    for kind in ("Job", "CronJob"):
        (container,) = pod(objects, kind)["containers"]
        assert env(container)["HOME"] == "/tmp"
        assert env(container)["WP_CLI_CACHE_DIR"].startswith("/tmp/")
        assert container["command"][0] == "bash", "bash ships in wordpress:cli (for `wp shell`)"


def test_apache_binds_port_80_as_www_data_through_the_safe_sysctl(objects: dict[str, dict[str, Any]]) -> None:
    web = pod(objects, "Deployment")
    assert {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"} in web["securityContext"]["sysctls"]
    assert web["containers"][0]["ports"][0]["containerPort"] == 80


# -- probes ------------------------------------------------------------------------------------


def test_mariadb_gets_a_generous_startup_budget_before_liveness(objects: dict[str, dict[str, Any]]) -> None:
    (db,) = pod(objects, "StatefulSet")["containers"]
    startup = db["startupProbe"]
    assert startup["exec"]["command"] == ["healthcheck.sh", "--connect", "--innodb_initialized"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    assert db["livenessProbe"]["exec"]["command"] == ["healthcheck.sh", "--connect"]
    assert db["readinessProbe"]["exec"]["command"] == ["healthcheck.sh", "--connect", "--innodb_initialized"]


def test_the_web_pod_has_time_to_copy_wordpress_into_its_volume(objects: dict[str, dict[str, Any]]) -> None:
    (web,) = pod(objects, "Deployment")["containers"]
    startup = web["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


# -- env contract of the wordpress image -------------------------------------------------------


def test_wordpress_env_contract_and_secrets_by_reference(objects: dict[str, dict[str, Any]]) -> None:
    for kind in ("Deployment", "Job", "CronJob"):
        values = env(pod(objects, kind)["containers"][0])
        assert values["WORDPRESS_DB_HOST"] == "mariadb:3306"
        assert {"WORDPRESS_DB_NAME", "WORDPRESS_DB_USER", "WORDPRESS_CONFIG_EXTRA"} <= set(values)
        for name in ("WORDPRESS_DB_PASSWORD", "WORDPRESS_AUTH_KEY", "WORDPRESS_NONCE_SALT"):
            assert "secretKeyRef" in values[name], f"{name} must come from the Secret"


def test_no_loopback_cron_and_outgoing_http_fails_fast(objects: dict[str, dict[str, Any]]) -> None:
    for kind in ("Deployment", "CronJob"):
        extra = env(pod(objects, kind)["containers"][0])["WORDPRESS_CONFIG_EXTRA"]
        assert "define('DISABLE_WP_CRON', true);" in extra
        assert "define('WP_HTTP_BLOCK_EXTERNAL', true);" in extra
        assert "WP_ACCESSIBLE_HOSTS" not in extra, "the web pod and cron reach nothing outside"
    setup_extra = env(pod(objects, "Job")["containers"][0])["WORDPRESS_CONFIG_EXTRA"]
    assert f"define('WP_ACCESSIBLE_HOSTS', '{','.join(WORDPRESS_ORG_HOSTS)}');" in setup_extra


def test_the_cron_job_runs_wp_cron_and_the_action_scheduler(
    objects: dict[str, dict[str, Any]], settings: Settings
) -> None:
    cron = objects["CronJob"]
    assert cron["spec"]["schedule"] == settings.wp_cron_schedule
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    script = pod(objects, "CronJob")["containers"][0]["command"][2]
    assert "wp cron event run --due-now" in script and "wp action-scheduler run" in script


def test_failures_reach_the_platform_as_termination_messages(objects: dict[str, dict[str, Any]]) -> None:
    for kind in ("Job", "CronJob"):
        assert pod(objects, kind)["containers"][0]["terminationMessagePolicy"] == "FallbackToLogsOnError"


# -- memory ------------------------------------------------------------------------------------


def test_prefork_workers_fit_the_web_memory_limit(objects: dict[str, dict[str, Any]]) -> None:
    (web,) = pod(objects, "Deployment")["containers"]
    limit = mebibytes(web["resources"]["limits"]["memory"])
    workers = max_request_workers(limit)
    assert workers == 4 and limit == 512
    assert 136 + 32 + workers * 64 <= limit, "opcache + base + workers within the limit"
    config = objects["ConfigMap"]["data"]["mpm_prefork.conf"]
    assert f"MaxRequestWorkers {workers}" in config and f"ServerLimit {workers}" in config
    mount = next(m for m in web["volumeMounts"] if m["mountPath"] == MPM_CONF_PATH)
    assert mount["subPath"] == "mpm_prefork.conf" and mount["readOnly"] is True
    assert mpm_prefork_conf(1024).count("MaxRequestWorkers 12") == 1


def test_every_pod_at_once_fits_the_store_quota(objects: dict[str, dict[str, Any]], settings: Settings) -> None:
    """The setup Job and a cron run can overlap with the web and database pods."""
    containers = [
        c for kind in ("StatefulSet", "Deployment", "Job", "CronJob") for c in pod(objects, kind)["containers"]
    ]
    memory = sum(mebibytes(c["resources"]["limits"]["memory"]) for c in containers)
    assert memory <= mebibytes(settings.quota_limits_memory)
    cpu = sum(int(c["resources"]["limits"]["cpu"].removesuffix("m")) for c in containers)
    assert cpu <= int(settings.quota_limits_cpu) * 1000
