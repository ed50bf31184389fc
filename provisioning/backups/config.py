"""The backup settings: the object store, the schedule, retention and the Jobs' limits.

A base of `Settings` (provisioning/settings.py), so they are read, validated and listed in
the README's settings table like every other setting, while living beside the code that
uses them. Backups are off until BACKUP_S3_ENDPOINT is set: the store page then says
that no backup storage is configured instead of offering a button that cannot work.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from dataclasses import dataclass, field

from provisioning.errors import SettingsError


@dataclass(frozen=True)
class BackupSettings:
    backup_s3_endpoint: str = field(
        default="",
        metadata={
            "env": "BACKUP_S3_ENDPOINT",
            "doc": "S3-compatible object store for backups (http(s) URL, path-style); empty = backups off",
        },
    )
    backup_s3_bucket: str = field(
        default="store-backups",
        metadata={"env": "BACKUP_S3_BUCKET", "doc": "Bucket of the backups (created if absent)"},
    )
    backup_s3_region: str = field(
        default="us-east-1", metadata={"env": "BACKUP_S3_REGION", "doc": "Region the object store signs for"}
    )
    backup_s3_access_key_id: str = field(
        default="", metadata={"env": "BACKUP_S3_ACCESS_KEY_ID", "doc": "Access key of the backups' bucket"}
    )
    backup_s3_secret_access_key: str = field(
        repr=False,
        default="",
        metadata={
            "env": "BACKUP_S3_SECRET_ACCESS_KEY",
            "doc": "Its secret key (from a Secret; never leaves the worker: Jobs get presigned URLs)",
            "secret": True,
            "generated": False,
        },
    )
    backup_s3_prefix: str = field(
        default="stores",
        metadata={"env": "BACKUP_S3_PREFIX", "doc": "Key prefix; a store's backups are under <prefix>/<store id>/"},
    )
    backup_s3_egress_cidrs: str = field(
        default="",
        metadata={
            "env": "BACKUP_S3_EGRESS_CIDRS",
            "doc": "CIDRs backup Jobs may reach (an in-cluster object store); empty = public addresses only",
        },
    )
    backup_interval_hours: int = field(
        default=0, metadata={"env": "BACKUP_INTERVAL_HOURS", "doc": "Back up every ready store this often; 0 = off"}
    )
    backup_retention: int = field(
        default=7,
        metadata={"env": "BACKUP_RETENTION", "doc": "Successful backups kept per store; older ones are deleted"},
    )
    backup_url_ttl_seconds: int = field(
        default=6 * 3600,
        metadata={"env": "BACKUP_URL_TTL_SECONDS", "doc": "Lifetime of the presigned URLs a backup Job gets"},
    )
    backup_deadline_seconds: int = field(
        default=3600,
        metadata={"env": "BACKUP_DEADLINE_SECONDS", "doc": "activeDeadlineSeconds of a backup or restore Job"},
    )
    backup_transfer_image: str = field(
        default="curlimages/curl:8.11.1",
        metadata={"env": "BACKUP_TRANSFER_IMAGE", "doc": "Image with curl and sha256sum that moves the archives"},
    )

    @property
    def backups_configured(self) -> bool:
        return bool(self.backup_s3_endpoint)

    @property
    def backup_egress_cidrs(self) -> list[str]:
        return [part.strip() for part in self.backup_s3_egress_cidrs.split(",") if part.strip()]

    def validate_backups(self) -> None:
        if self.backup_retention < 1:
            raise SettingsError("BACKUP_RETENTION must be at least 1")
        if self.backup_interval_hours < 0:
            raise SettingsError("BACKUP_INTERVAL_HOURS must be 0 (off) or more")
        if not 60 <= self.backup_url_ttl_seconds <= 7 * 24 * 3600:
            raise SettingsError("BACKUP_URL_TTL_SECONDS must be between 60 and 604800 (7 days)")
        if self.backup_deadline_seconds < 60:
            raise SettingsError("BACKUP_DEADLINE_SECONDS must be at least 60")
        for cidr in self.backup_egress_cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise SettingsError(f"BACKUP_S3_EGRESS_CIDRS item {cidr!r} is not a CIDR") from None
        if not self.backup_s3_endpoint:
            return
        parts = urllib.parse.urlsplit(self.backup_s3_endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"BACKUP_S3_ENDPOINT {self.backup_s3_endpoint!r} must be an http(s) URL")
        if not (self.backup_s3_access_key_id and self.backup_s3_secret_access_key):
            raise SettingsError(
                "BACKUP_S3_ENDPOINT is set: set BACKUP_S3_ACCESS_KEY_ID and BACKUP_S3_SECRET_ACCESS_KEY"
            )
        if not self.backup_s3_bucket or "/" in self.backup_s3_bucket:
            raise SettingsError(f"BACKUP_S3_BUCKET {self.backup_s3_bucket!r} is not a bucket name")
        if self.backup_s3_prefix.startswith("/") or ".." in self.backup_s3_prefix.split("/"):
            raise SettingsError(f"BACKUP_S3_PREFIX {self.backup_s3_prefix!r} must be a relative key prefix")

    @property
    def backup_endpoint_port(self) -> int:
        parts = urllib.parse.urlsplit(self.backup_s3_endpoint)
        return parts.port or (443 if parts.scheme == "https" else 80)
