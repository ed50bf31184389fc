"""The WP-CLI scripts a WooCommerce store runs: the one-time setup and the periodic cron.

They run in the official `wordpress:cli` image (Alpine, bash installed for `wp shell`,
mysql-client for `wp db check`), as uid 33 with HOME=/tmp. Every step checks before it
acts, so a retried Job converges. Every failure ends with one line on stderr that says
which step failed and why: the Job's container uses `FallbackToLogsOnError`, so that
line becomes the pod's termination message, which the reconciler shows on the store page.
Secrets come from the environment and are never echoed.
"""

from __future__ import annotations

import shlex

# The database wait: 60 tries x 5 s. MariaDB's first start (initialising InnoDB and the
# WordPress user) takes well under a minute; five minutes of refusals is a real problem.
DB_WAIT_TRIES = 60
FILES_WAIT_TRIES = 120  # x 3 s: the web pod's entrypoint copies WordPress into the volume

_PRELUDE = r"""set -Eeuo pipefail
fail() { echo "store setup failed: $*" >&2; exit 1; }
# run TITLE CMD...: run a step; on failure say which step and the command's last line.
run() {
  local title="$1"; shift
  local out
  echo "== $title"
  if ! out="$("$@" 2>&1)"; then
    printf '%s\n' "$out" | tail -n 5 >&2
    fail "$title: $(printf '%s\n' "$out" | grep -v '^\s*$' | tail -n 1)"
  fi
  [ -z "$out" ] || printf '%s\n' "$out" | tail -n 3
}"""


def setup_script(
    *,
    url: str,
    title: str,
    admin_user: str,
    admin_email: str,
    woocommerce_version: str,
    wordpress_version: str = "",
    docroot: str = "/var/www/html",
) -> str:
    """Install WordPress and WooCommerce, enable Cash on Delivery, add a sample product.

    A store whose site address is not `url` (a clone's copied database) is moved to it.

    Run again after an upgrade (provisioning/upgrades/), it is the store's upgrade step:
    the wordpress image copies WordPress into an empty volume only, so a store whose core
    differs from `wordpress_version` (the image's) is updated to it, then WordPress's and
    WooCommerce's database updates run."""
    q = shlex.quote
    admin = q(admin_user)
    return "\n".join(
        [
            _PRELUDE,
            "tries=0",
            f"until [ -f {q(docroot)}/wp-includes/version.php ] && [ -f {q(docroot)}/wp-config.php ]; do",
            "  tries=$((tries + 1))",
            f"  [ $tries -lt {FILES_WAIT_TRIES} ] || fail 'the web pod did not copy WordPress into the volume "
            f"within {FILES_WAIT_TRIES * 3 // 60} minutes (is the wordpress pod running?)'",
            "  echo 'waiting for the WordPress files'; sleep 3",
            "done",
            "tries=0",
            "until out=$(wp db check --quiet 2>&1); do",
            "  tries=$((tries + 1))",
            "  last=$(printf '%s\\n' \"$out\" | grep -v '^\\s*$' | tail -n 1)",
            f'  [ $tries -lt {DB_WAIT_TRIES} ] || fail "the database refused WordPress for '
            f'{DB_WAIT_TRIES * 5 // 60} minutes: $last"',
            f'  echo "waiting for the database ($tries/{DB_WAIT_TRIES}): $last"; sleep 5',
            "done",
            "if ! wp core is-installed 2>/dev/null; then",
            f'  run "Installing WordPress" wp core install --url={q(url)} --title={q(title)} '
            f'--admin_user={admin} --admin_password="$WP_ADMIN_PASSWORD" --admin_email={q(admin_email)} --skip-email',
            "fi",
            # A clone's copied database (provisioning/backups/clone.py) still names its
            # source's address; serialized options and post content are rewritten too.
            'site="$(wp option get siteurl 2>/dev/null || true)"',
            f'if [ -n "$site" ] && [ "$site" != {q(url)} ]; then',
            f'  run "Moving the site from $site to {url}" wp search-replace "$site" {q(url)} '
            "--all-tables-with-prefix --skip-columns=guid",
            "fi",
            *(
                [
                    'core="$(wp core version 2>/dev/null || true)"',
                    f'if [ -n "$core" ] && [ "$core" != {q(wordpress_version)} ]; then',
                    f'  run "Updating WordPress $core to {wordpress_version}" wp core update '
                    f"--version={q(wordpress_version)} --force",
                    "fi",
                    'run "Updating the WordPress database" wp core update-db',
                ]
                if wordpress_version
                else []
            ),
            'installed="$(wp plugin get woocommerce --field=version 2>/dev/null || true)"',
            f'if [ "$installed" != {q(woocommerce_version)} ]; then',
            f'  run "Installing WooCommerce {woocommerce_version}" wp plugin install woocommerce '
            f"--version={q(woocommerce_version)} --force",
            "fi",
            'wp plugin is-active woocommerce || run "Activating WooCommerce" wp plugin activate woocommerce',
            'run "Updating the WooCommerce database" wp wc update',
            'run "Opening the store (coming soon off)" wp option update woocommerce_coming_soon no',
            f'run "Enabling Cash on Delivery" wp wc payment_gateway update cod --enabled=true --user={admin}',
            f'if [ "$(wp wc product list --user={admin} --format=count)" = "0" ]; then',
            f'  run "Adding the sample product" wp wc product create --name="Sample product" '
            f"--regular_price=9.99 --status=publish --user={admin}",
            "fi",
            "echo 'store setup complete'",
        ]
    )


def cron_script() -> str:
    """Run what WP-cron and the Action Scheduler would have run over HTTP loopback."""
    return "\n".join(
        [
            _PRELUDE,
            'wp core is-installed 2>/dev/null || { echo "WordPress is not installed yet; nothing to run"; exit 0; }',
            'run "WP-cron: due events" wp cron event run --due-now',
            "if wp plugin is-active woocommerce 2>/dev/null; then",
            '  run "Action Scheduler: pending actions" wp action-scheduler run --batches=5',
            "fi",
        ]
    )
