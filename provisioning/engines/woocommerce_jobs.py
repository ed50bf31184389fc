"""WooCommerce's WP-CLI pods: the one-time setup Job and the WP-cron CronJob.

Both mount the WordPress volume (ReadWriteOnce), so both run on the web pod's node.
The scripts themselves are in wp_cli_scripts.py.
"""

from __future__ import annotations

from typing import Any

from provisioning.catalog import woocommerce as woo_pins
from provisioning.engines import wordpress_runtime, wp_cli_scripts
from provisioning.engines.base import LABEL_COMPONENT, LABEL_STORE_ID, Manifest, StoreSpec, metadata, store_labels
from provisioning.engines.pods import container_security, placement, pod_security, resources, secret_env
from provisioning.engines.woocommerce_contract import KEY_ADMIN_PASSWORD, WWW_DATA_UID, wordpress_env
from provisioning.settings import Settings


def setup_script(spec: StoreSpec, settings: Settings) -> str:
    return wp_cli_scripts.setup_script(
        url=spec.url(settings),
        title=f"{spec.name} store",
        admin_user=spec.admin_user,
        admin_email=spec.admin_email,
        woocommerce_version=settings.woocommerce_version,
        wordpress_version=image_wordpress_version(settings.wordpress_image),
    )


def image_wordpress_version(image: str) -> str:
    """The WordPress version an official image tag names (`6.8.1-php8.3-apache` -> 6.8.1); ""
    for an image whose tag says nothing (a mirror, a digest): then core is not updated."""
    parsed = woo_pins.wordpress_version_of(image)
    return ".".join(str(part) for part in parsed[0]) if parsed else ""


def _wp_cli_pod(
    spec: StoreSpec,
    settings: Settings,
    *,
    component: str,
    script: str,
    extra_env: list[dict[str, Any]],
    cpu_limit: str,
    memory_limit: str,
    accessible_hosts: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A WP-CLI pod on the web pod's node (the WordPress volume is ReadWriteOnce).

    HOME=/tmp: the wp-cli image is Alpine, where uid 33 has no passwd entry (its
    www-data is 82); the official docs run it as `--user 33:33` with HOME=/tmp.
    FallbackToLogsOnError: the script's last line becomes the termination message.
    """
    return {
        "metadata": {"labels": store_labels(spec, component=component)},
        "spec": {
            "restartPolicy": "OnFailure",
            "automountServiceAccountToken": False,
            **placement(settings),
            "securityContext": pod_security(WWW_DATA_UID),
            "affinity": {
                "podAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "labelSelector": {"matchLabels": {LABEL_STORE_ID: spec.id, LABEL_COMPONENT: "web"}},
                            "topologyKey": "kubernetes.io/hostname",
                        }
                    ]
                }
            },
            "containers": [
                {
                    "name": "wp-cli",
                    "image": settings.wpcli_image,
                    "command": ["bash", "-c", script],
                    "env": [
                        *wordpress_env(spec, settings, accessible_hosts=accessible_hosts),
                        *extra_env,
                        {"name": "HOME", "value": "/tmp"},
                        {"name": "WP_CLI_CACHE_DIR", "value": "/tmp/wp-cli-cache"},
                    ],
                    "resources": resources("50m", "128Mi", "500m" if component == "setup" else "250m", memory_limit),
                    "securityContext": container_security(),
                    "terminationMessagePolicy": "FallbackToLogsOnError",
                    "volumeMounts": [{"name": "html", "mountPath": "/var/www/html"}],
                }
            ],
            "volumes": [{"name": "html", "persistentVolumeClaim": {"claimName": "wordpress-data"}}],
        },
    }


def setup_job(spec: StoreSpec, settings: Settings) -> Manifest:
    """Install WordPress and WooCommerce; the only pod allowed to reach wordpress.org."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(spec, "store-setup", component="setup"),
        "spec": {
            "backoffLimit": 6,
            # Apart from the store's timeout: this also covers pulling about half a GB
            # of images on a fresh node. A store past its timeout that then converges
            # still becomes ready (the reconciler keeps watching it).
            "activeDeadlineSeconds": settings.setup_deadline_seconds,
            "template": _wp_cli_pod(
                spec,
                settings,
                component="setup",
                script=setup_script(spec, settings),
                extra_env=[secret_env("WP_ADMIN_PASSWORD", KEY_ADMIN_PASSWORD)],
                cpu_limit="500m",
                memory_limit="512Mi",
                accessible_hosts=wordpress_runtime.WORDPRESS_ORG_HOSTS,
            ),
        },
    }


def cron_job(spec: StoreSpec, settings: Settings) -> Manifest:
    """WP-cron and the Action Scheduler without HTTP loopback (DISABLE_WP_CRON is set)."""
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata(spec, "wp-cron", component="cron"),
        "spec": {
            "schedule": settings.wp_cron_schedule,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 120,
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {
                "metadata": {"labels": store_labels(spec, component="cron")},
                "spec": {
                    "backoffLimit": 1,
                    "activeDeadlineSeconds": 600,
                    "ttlSecondsAfterFinished": 3600,
                    "template": _wp_cli_pod(
                        spec,
                        settings,
                        component="cron",
                        script=wp_cli_scripts.cron_script(),
                        extra_env=[],
                        cpu_limit="250m",
                        memory_limit="256Mi",
                    ),
                },
            },
        },
    }
