"""The WooCommerce setup and cron scripts, run for real by bash against a fake `wp`.

WordPress, WP-CLI and WooCommerce cannot be fetched on this machine, so `wp` here is a
small bash stand-in that keeps the store's state in files and answers like WP-CLI 2.12
does (exit codes, `--field=version`, `--format=count`). What this proves is the scripts'
own logic: each step runs once, a second run changes nothing, waits are bounded, and a
failure ends with the one line the store page shows.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from provisioning.engines.wp_cli_scripts import DB_WAIT_TRIES, cron_script, setup_script

FAKE_WP = r"""#!/usr/bin/env bash
# A stand-in for WP-CLI: state in $STATE, every call logged to $STATE/calls.
echo "$*" >> "$STATE/calls"
has() { [ -e "$STATE/$1" ]; }
case "$1 $2" in
  "db check")
    if has db_down; then
      echo "mysqlcheck: Got error: 1045: Access denied for user 'wordpress'@'10.1.2.3'" \
        "(using password: YES) when trying to connect" >&2
      exit 1
    fi ;;
  "core is-installed") has installed ;;
  "core install")
    touch "$STATE/installed"
    for arg in "$@"; do case "$arg" in --url=*) echo "${arg#--url=}" > "$STATE/siteurl" ;; esac; done
    echo "Success: WordPress installed successfully." ;;
  "option get")
    if has siteurl; then cat "$STATE/siteurl"; else echo "Error: Could not get 'siteurl' option." >&2; exit 1; fi ;;
  "search-replace "*) echo "$3" > "$STATE/siteurl"; echo "Success: Made 41 replacements." ;;
  "core version") if has core_version; then cat "$STATE/core_version"; else echo 7.1.0; fi ;;
  "core update")
    for arg in "$@"; do case "$arg" in --version=*) echo "${arg#--version=}" > "$STATE/core_version" ;; esac; done
    echo "Success: WordPress updated successfully." ;;
  "core update-db") echo "Success: WordPress database already at latest db version 60717." ;;
  "plugin get")
    if has plugin_version; then cat "$STATE/plugin_version"
    else echo "Error: The 'woocommerce' plugin could not be found." >&2; exit 1; fi ;;
  "plugin install")
    if has refuse_install; then echo "Error: This plugin requires WordPress version 6.9 or higher." >&2; exit 1; fi
    for arg in "$@"; do case "$arg" in --version=*) echo "${arg#--version=}" > "$STATE/plugin_version" ;; esac; done
    echo "Success: Installed 1 of 1 plugins." ;;
  "plugin is-active") has active ;;
  "plugin activate") touch "$STATE/active"; echo "Success: Activated 1 of 1 plugins." ;;
  "wc update") echo "Success: No updates required." ;;
  "option update") echo "$3=$4" >> "$STATE/options"; echo "Success: Updated '$3' option." ;;
  "wc payment_gateway") touch "$STATE/cod"; echo "Success: Updated payment_gateway cod." ;;
  "wc product")
    if [ "$3" = list ]; then if has product; then echo 1; else echo 0; fi
    else touch "$STATE/product"; echo "Success: Created product 10."; fi ;;
  "cron event") echo "Executed a total of 2 cron events." ;;
  "action-scheduler run") echo "Success: 3 scheduled tasks completed." ;;
  *) echo "fake wp: unexpected: $*" >&2; exit 2 ;;
esac
"""


@pytest.fixture
def sandbox(tmp_path: Path) -> dict[str, str]:
    bin_dir, state, docroot = tmp_path / "bin", tmp_path / "state", tmp_path / "html"
    for directory in (bin_dir, state, docroot / "wp-includes"):
        directory.mkdir(parents=True)
    (bin_dir / "wp").write_text(FAKE_WP)
    (bin_dir / "sleep").write_text("#!/bin/sh\nexit 0\n")  # waits are counted, not slept
    for tool in ("wp", "sleep"):
        (bin_dir / tool).chmod(0o755)
    (docroot / "wp-includes" / "version.php").write_text("<?php $wp_version = '7.1.0';")
    (docroot / "wp-config.php").write_text("<?php")
    return {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "STATE": str(state),
        "DOCROOT": str(docroot),
        "WP_ADMIN_PASSWORD": "s3cret-admin-pass",
    }


def script(env: dict[str, str]) -> str:
    return setup_script(
        url="http://my-shop.stores.localhost",
        title="my-shop store",
        admin_user="my-shop-admin",
        admin_email="my-shop-admin@my-shop.invalid",
        woocommerce_version="10.8.0",
        wordpress_version="7.1.0",
        docroot=env["DOCROOT"],
    )


def run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False)


def calls(env: dict[str, str]) -> list[str]:
    path = Path(env["STATE"], "calls")
    lines = path.read_text().splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return lines


def test_a_fresh_store_is_installed_step_by_step(sandbox: dict[str, str]) -> None:
    result = run(script(sandbox), sandbox)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("store setup complete")
    made = calls(sandbox)
    install = next(c for c in made if c.startswith("core install"))
    assert "--admin_password=s3cret-admin-pass" in install and "--skip-email" in install
    assert "plugin install woocommerce --version=10.8.0 --force" in made
    assert "option update woocommerce_coming_soon no" in made
    assert "wc payment_gateway update cod --enabled=true --user=my-shop-admin" in made
    assert any(c.startswith("wc product create --name=Sample product") for c in made)
    assert "s3cret-admin-pass" not in result.stdout + result.stderr, "the password is never echoed"


def test_a_second_run_changes_nothing(sandbox: dict[str, str]) -> None:
    assert run(script(sandbox), sandbox).returncode == 0
    calls(sandbox)
    again = run(script(sandbox), sandbox)
    assert again.returncode == 0, again.stderr
    made = calls(sandbox)
    for step in ("core install", "plugin install", "plugin activate", "wc product create", "search-replace"):
        assert not any(c.startswith(step) for c in made), f"{step} ran again"


def test_another_pinned_version_is_installed_over_the_old_one(sandbox: dict[str, str]) -> None:
    Path(sandbox["STATE"], "plugin_version").write_text("10.7.0\n")
    assert run(script(sandbox), sandbox).returncode == 0
    assert "plugin install woocommerce --version=10.8.0 --force" in calls(sandbox)


def test_a_refused_plugin_install_fails_with_the_reason_as_last_line(sandbox: dict[str, str]) -> None:
    Path(sandbox["STATE"], "refuse_install").touch()
    result = run(script(sandbox), sandbox)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        "store setup failed: Installing WooCommerce 10.8.0: "
        "Error: This plugin requires WordPress version 6.9 or higher."
    )


def test_a_database_that_refuses_is_reported_not_waited_on_forever(sandbox: dict[str, str]) -> None:
    Path(sandbox["STATE"], "db_down").touch()
    result = run(script(sandbox), sandbox)
    assert result.returncode == 1
    assert sum(c == "db check --quiet" for c in calls(sandbox)) == DB_WAIT_TRIES
    assert "Access denied for user 'wordpress'" in result.stdout, "each wait says why"
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "store setup failed: the database refused WordPress for 5 minutes: mysqlcheck: Got error: 1045"
    )


def test_missing_wordpress_files_are_waited_on_with_a_bound(sandbox: dict[str, str]) -> None:
    Path(sandbox["DOCROOT"], "wp-config.php").unlink()
    result = run(script(sandbox), sandbox)
    assert result.returncode == 1
    assert "did not copy WordPress into the volume" in result.stderr.strip().splitlines()[-1]


def test_cron_runs_due_events_and_the_action_scheduler_once_installed(sandbox: dict[str, str]) -> None:
    idle = run(cron_script(), sandbox)
    assert idle.returncode == 0 and "not installed yet" in idle.stdout
    assert calls(sandbox) == ["core is-installed"]
    for flag in ("installed", "active"):
        Path(sandbox["STATE"], flag).touch()
    result = run(cron_script(), sandbox)
    assert result.returncode == 0, result.stderr
    made = calls(sandbox)
    assert "cron event run --due-now" in made and "action-scheduler run --batches=5" in made


def test_an_upgrade_updates_an_older_wordpress_core_once_then_its_database(sandbox: dict[str, str]) -> None:
    """The wordpress image copies WordPress only into an empty volume: an upgraded store's
    older core is updated by the setup Job (run again as the upgrade step)."""
    state = Path(sandbox["STATE"])
    first = run(script(sandbox), sandbox)
    assert first.returncode == 0, first.stderr
    assert "core update --version" not in (state / "calls").read_text(), "a new store already has the image's core"
    (state / "core_version").write_text("7.0.2\n")
    (state / "calls").write_text("")
    again = run(script(sandbox), sandbox)
    assert again.returncode == 0, again.stderr
    calls = (state / "calls").read_text().splitlines()
    assert "core update --version=7.1.0 --force" in calls
    assert calls.index("core update --version=7.1.0 --force") < calls.index("core update-db")
    (state / "calls").write_text("")
    assert run(script(sandbox), sandbox).returncode == 0
    assert not [c for c in (state / "calls").read_text().splitlines() if c.startswith("core update --")]


def test_a_clones_copied_site_is_moved_to_its_own_address_once(sandbox: dict[str, str]) -> None:
    """A clone's restored database names its source's address (provisioning/backups/clone.py)."""
    state = Path(sandbox["STATE"])
    for name in ("installed", "active", "product"):
        (state / name).touch()
    (state / "plugin_version").write_text("10.8.0\n")
    (state / "siteurl").write_text("http://old-shop.stores.localhost\n")
    result = run(script(sandbox), sandbox)
    assert result.returncode == 0, result.stderr
    made = calls(sandbox)
    moves = [c for c in made if c.startswith("search-replace")]
    assert moves == [
        "search-replace http://old-shop.stores.localhost http://my-shop.stores.localhost "
        "--all-tables-with-prefix --skip-columns=guid"
    ]
    assert not any(c.startswith("core install") for c in made), "the copied store is not installed over"
    assert "Moving the site from http://old-shop.stores.localhost" in result.stdout
    assert run(script(sandbox), sandbox).returncode == 0
    assert not [c for c in calls(sandbox) if c.startswith("search-replace")], "moved once"
