"""The upgrade settings: how many stores upgrade at once and how long one may take."""

from __future__ import annotations

from dataclasses import dataclass, field

from provisioning.errors import SettingsError


@dataclass(frozen=True)
class UpgradeSettings:
    max_concurrent_upgrades: int = field(
        default=2,
        metadata={
            "env": "MAX_CONCURRENT_UPGRADES",
            "doc": "Stores upgraded at once (an 'upgrade all' queues the rest)",
        },
    )
    upgrade_timeout_seconds: int = field(
        default=900,
        metadata={
            "env": "UPGRADE_TIMEOUT_SECONDS",
            "doc": "An upgraded store not ready (shopper path included) this long after the new versions "
            "were applied is rolled back",
        },
    )

    def validate_upgrades(self) -> None:
        if self.max_concurrent_upgrades < 1:
            raise SettingsError("MAX_CONCURRENT_UPGRADES must be at least 1")
        if self.upgrade_timeout_seconds < 60:
            raise SettingsError("UPGRADE_TIMEOUT_SECONDS must be at least 60")
