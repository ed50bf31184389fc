"""What the official WordPress images need from us to run a WooCommerce store well.

Facts (docker-library/wordpress at bf223d1, docker-library/php at 445bf41, read 2026-11-27):
- wp-config.php is `wp-config-docker.php`, which reads `WORDPRESS_*` with getenv at run
  time and `eval`s WORDPRESS_CONFIG_EXTRA on every request; so each pod (web, setup
  Job, cron) gets its own extra config through its own environment.
- The php apache image runs `a2dismod mpm_event && a2enmod mpm_prefork`; Debian's
  mpm_prefork.conf allows MaxRequestWorkers 150. The wordpress image writes
  `opcache.memory_consumption=128` and `opcache.interned_strings_buffer=8`.
- Apache's run, lock and log directories are 1777, so Apache runs as uid 33 unchanged.

Nothing here touches the cluster: pure strings and numbers, pinned by tests.
"""

from __future__ import annotations

import math

WORDPRESS_ORG_HOSTS = ("api.wordpress.org", "downloads.wordpress.org")

# -- memory: how many Apache workers fit in the web container's limit --------------------

OPCACHE_MIB = 128 + 8  # opcache.memory_consumption + interned_strings_buffer (wordpress image)
APACHE_BASE_MIB = 32  # the parent process, shared libraries, the PHP engine's own pages
HEADROOM_MIB = 48  # page cache for the volume and a spike, so the limit is not the line we live on
WORKER_MIB = 64  # a WooCommerce page or Store API call: about 40-60 MiB resident per prefork child


def max_request_workers(memory_limit_mib: int) -> int:
    """Apache prefork workers that fit: (limit - opcache - base - headroom) / per-worker.

    With the 512 MiB web limit: (512 - 136 - 32 - 48) / 64 = 4.6 -> 4 workers. Debian's
    default of 150 lets about ten busy WooCommerce requests OOM-kill the pod; with 4,
    further requests wait in Apache's listen backlog instead. At least 2, so a slow
    request never blocks the probe.
    """
    budget = memory_limit_mib - OPCACHE_MIB - APACHE_BASE_MIB - HEADROOM_MIB
    return max(2, math.floor(budget / WORKER_MIB))


def mpm_prefork_conf(memory_limit_mib: int) -> str:
    """Replaces /etc/apache2/mods-available/mpm_prefork.conf (mods-enabled links to it)."""
    workers = max_request_workers(memory_limit_mib)
    return "\n".join(
        [
            f"# Sized by store-platform for a {memory_limit_mib} MiB container limit:",
            f"# ({memory_limit_mib} - {OPCACHE_MIB} opcache - {APACHE_BASE_MIB} base - {HEADROOM_MIB} headroom)"
            f" / {WORKER_MIB} MiB per worker = {workers}.",
            "<IfModule mpm_prefork_module>",
            "\tStartServers 2",
            "\tMinSpareServers 1",
            f"\tMaxSpareServers {min(workers, 3)}",
            f"\tServerLimit {workers}",
            f"\tMaxRequestWorkers {workers}",
            # Recycle children now and then: PHP extensions leak a little per request.
            "\tMaxConnectionsPerChild 500",
            "</IfModule>",
            "",
        ]
    )


# -- wp-config extras --------------------------------------------------------------------


def config_extra(url: str, *, accessible_hosts: tuple[str, ...] = ()) -> str:
    """PHP eval'd by wp-config.php: the store's URL, no loopback cron, fail-fast HTTP.

    - DISABLE_WP_CRON: WP-cron and WooCommerce's Action Scheduler call the site's own
      public URL, which default-deny egress blocks; the store's CronJob runs them instead.
    - WP_HTTP_BLOCK_EXTERNAL: outgoing HTTP (update checks, marketplace, telemetry) fails
      at once instead of hanging on dropped packets; `accessible_hosts` is the allow list
      (only the setup Job, which downloads WooCommerce, has one).
    - Updates come with the platform's pins, never from inside the pod.
    """
    lines = [
        f"define('WP_HOME', '{url}');",
        f"define('WP_SITEURL', '{url}');",
        "define('DISABLE_WP_CRON', true);",
        "define('WP_HTTP_BLOCK_EXTERNAL', true);",
        "define('AUTOMATIC_UPDATER_DISABLED', true);",
        "define('WP_AUTO_UPDATE_CORE', false);",
    ]
    if accessible_hosts:
        lines.append(f"define('WP_ACCESSIBLE_HOSTS', '{','.join(accessible_hosts)}');")
    return "\n".join(lines)
