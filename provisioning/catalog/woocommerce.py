"""The WooCommerce store's versions, pinned together, and the rule that keeps them compatible.

Why one module: WordPress, WP-CLI, WooCommerce and MariaDB move independently, and a
WooCommerce release refuses to install ("requirements not met") or activate on a
WordPress older than its "Requires at least" header. Since WooCommerce 10.8 (May 2026)
that is WordPress 6.9, so the old pin (wordpress:6.8.3 with an unpinned, i.e. latest,
WooCommerce) failed every store. Changing one pin without the other must fail a test or
the settings check at start-up, never a store.

Sources (read 2026-11-27):
- docker-library/wordpress versions.json: `latest` is WordPress 7.1.0 (since
  2026-08-19), PHP variants 8.2-8.5, cli 2.12.0; tags `7.1.0-php8.3-apache`,
  `cli-2.12.0-php8.3`.
- MariaDB/mariadb-docker versions.json: 11.8 is the current LTS line at 11.8.8; 11.4 at
  11.4.12.
- WooCommerce's readme.txt headers per release line (`Requires at least`, `Requires PHP`).
"""

from __future__ import annotations

import re

WORDPRESS_VERSION = "7.1.0"
PHP_VERSION = "8.3"
WPCLI_VERSION = "2.12.0"
WOOCOMMERCE_VERSION = "10.8.0"
MARIADB_VERSION = "11.8.8"

WORDPRESS_IMAGE = f"wordpress:{WORDPRESS_VERSION}-php{PHP_VERSION}-apache"
WPCLI_IMAGE = f"wordpress:cli-{WPCLI_VERSION}-php{PHP_VERSION}"
MARIADB_IMAGE = f"mariadb:{MARIADB_VERSION}"

# WooCommerce release line -> oldest WordPress it installs on ("Requires at least").
# Requirements only ever rise, so a release line newer than the last entry is held to
# at least that entry's requirement (see `required_wordpress`).
WOOCOMMERCE_REQUIRES_WORDPRESS: dict[tuple[int, int], tuple[int, int]] = {
    (10, 8): (6, 9),
}
WOOCOMMERCE_REQUIRES_PHP = (7, 4)

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")
_WORDPRESS_TAG = re.compile(r"^(?:.*/)?wordpress:(\d+\.\d+(?:\.\d+)?)(?:-php(\d+\.\d+))?(?:-[a-z-]+)?$")


class IncompatibleVersionsError(ValueError):
    """The pinned WordPress cannot run the pinned WooCommerce."""


def parse_version(text: str) -> tuple[int, ...]:
    match = _VERSION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a version like 10.8.0")
    return tuple(int(part) for part in match.groups() if part is not None)


def wordpress_version_of(image: str) -> tuple[tuple[int, ...], tuple[int, ...] | None] | None:
    """(WordPress version, PHP version or None) from an official image reference, or None.

    A custom image (a mirror with another name, a digest) cannot be read: the caller
    then trusts the operator and says so.
    """
    match = _WORDPRESS_TAG.match(image.strip())
    if not match:
        return None
    php = parse_version(match.group(2)) if match.group(2) else None
    return parse_version(match.group(1)), php


def required_wordpress(woocommerce_version: str) -> tuple[int, int] | None:
    """The oldest WordPress `woocommerce_version` installs on, as far as we know."""
    line = parse_version(woocommerce_version)[:2]
    known = [requires for release, requires in sorted(WOOCOMMERCE_REQUIRES_WORDPRESS.items()) if release <= line]
    return known[-1] if known else None


def check_compatible(wordpress_image: str, woocommerce_version: str) -> None:
    """Raise IncompatibleVersionsError with a sentence an operator can act on."""
    if not woocommerce_version.strip():
        raise IncompatibleVersionsError(
            "WOOCOMMERCE_VERSION must be pinned: 'latest' changes under a running platform and "
            f"may require a newer WordPress than {wordpress_image} (use e.g. {WOOCOMMERCE_VERSION})."
        )
    try:
        parse_version(woocommerce_version)
    except ValueError as error:
        raise IncompatibleVersionsError(f"WOOCOMMERCE_VERSION: {error}") from None
    parsed = wordpress_version_of(wordpress_image)
    if parsed is None:
        return
    wordpress, php = parsed
    needed = required_wordpress(woocommerce_version)
    if needed is not None and wordpress[:2] < needed:
        raise IncompatibleVersionsError(
            f"WooCommerce {woocommerce_version} requires WordPress {needed[0]}.{needed[1]} or newer, but "
            f"WORDPRESS_IMAGE {wordpress_image} runs WordPress {'.'.join(map(str, wordpress))}. "
            "Change WORDPRESS_IMAGE and WOOCOMMERCE_VERSION together."
        )
    if php is not None and php[:2] < WOOCOMMERCE_REQUIRES_PHP:
        raise IncompatibleVersionsError(
            f"WooCommerce needs PHP {'.'.join(map(str, WOOCOMMERCE_REQUIRES_PHP))} or newer; "
            f"{wordpress_image} has PHP {'.'.join(map(str, php))}."
        )
