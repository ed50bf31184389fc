"""The platform's side of the object store: the client from settings, the presigned URLs a
run gets, what a finished backup left there, and deleting a backup's objects."""

from __future__ import annotations

import json

from provisioning.backups.manifests import object_keys
from provisioning.backups.s3 import S3Client, S3Error
from provisioning.settings import Settings


class IncompleteBackupError(S3Error):
    """What a finished Job left in the object store is not a whole backup."""


def client_for(settings: Settings) -> S3Client:
    return S3Client(
        endpoint=settings.backup_s3_endpoint,
        bucket=settings.backup_s3_bucket,
        region=settings.backup_s3_region,
        access_key=settings.backup_s3_access_key_id,
        secret_key=settings.backup_s3_secret_access_key,
    )


def presigned_urls(client: S3Client, location: str, *, method: str, ttl_seconds: int) -> dict[str, str]:
    """One URL per object of the backup at `location`, for PUT (backup) or GET (restore)."""
    return {
        name: client.presign(method, key, expires_seconds=ttl_seconds) for name, key in object_keys(location).items()
    }


def stored_size(client: S3Client, location: str) -> int:
    """The bytes a finished backup holds, checked against its manifest (written last by the
    Job, so its presence marks a complete upload). S3Error when anything is missing."""
    keys = object_keys(location)
    try:
        manifest = json.loads(client.get(keys["manifest"]))
        expected = {name: int(entry["bytes"]) for name, entry in manifest["objects"].items()}
    except S3Error as error:
        if error.status != 404:
            raise  # the object store is unreachable or refuses: not the backup's fault
        raise IncompleteBackupError("The backup's manifest is missing, so its upload did not finish.") from error
    except (ValueError, KeyError, TypeError) as error:
        raise IncompleteBackupError("The backup's manifest is unreadable.") from error
    total = 0
    for name, suffix in (("database", "database"), ("files", "files.tar.gz")):
        size = client.head(keys[name])
        if size is None:
            raise IncompleteBackupError(f"The backup's {suffix} is missing from the object store.")
        if expected.get(suffix) != size:
            raise IncompleteBackupError(
                f"The backup's {suffix} has {size} bytes where its manifest says {expected.get(suffix)}."
            )
        total += size
    return total


def delete_objects(client: S3Client, location: str) -> None:
    """Every object under the backup's location (also ones a failed run left)."""
    for obj in client.list(location.rstrip("/") + "/"):
        client.delete(obj.key)
