"""provisioning/backups/s3.py against a real S3 server (versitygw, built by tools/s3/build.sh):
every call, presigned URLs used with a plain HTTP client, and what the server refuses: an
expired URL, a wrong secret key, a URL stretched to another key or another method."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest

from provisioning.backups.s3 import S3Client, S3Error
from tests.backups.servers import Versitygw

pytestmark = pytest.mark.store_software


def _http(method: str, url: str, data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_put_get_head_list_delete(s3: S3Client, prefix: str) -> None:
    blobs = {
        f"{prefix}a/database": b"\x00\x01binary\xff" * 1000,
        f"{prefix}a/files.tar.gz": b"",
        f"{prefix}a/manifest.json": b'{"format": 1}',
        f"{prefix}b/database": b"second backup",
        f"{prefix}c/deep/er/key with space": "unicode ✓ 🎉".encode(),
    }
    for key, data in blobs.items():
        s3.put(key, data)
    for key, data in blobs.items():
        assert s3.get(key) == data
        assert s3.head(key) == len(data)
    assert s3.head(f"{prefix}a/nothing-here") is None

    listed = {obj.key: obj.size for obj in s3.list(f"{prefix}a/")}
    assert listed == {key: len(data) for key, data in blobs.items() if key.startswith(f"{prefix}a/")}
    assert [obj.key for obj in s3.list(f"{prefix}b/")] == [f"{prefix}b/database"]
    assert [obj.key for obj in s3.list(f"{prefix}c/")] == [f"{prefix}c/deep/er/key with space"]
    assert {obj.key for obj in s3.list(prefix)} == set(blobs)
    assert all(obj.last_modified.tzinfo is not None for obj in s3.list(prefix))
    assert s3.list(f"{prefix}nothing/") == []

    s3.put(f"{prefix}b/database", b"overwritten")
    assert s3.get(f"{prefix}b/database") == b"overwritten"

    s3.delete(f"{prefix}a/database")
    s3.delete(f"{prefix}a/database")  # idempotent
    assert s3.head(f"{prefix}a/database") is None
    with pytest.raises(S3Error):
        s3.get(f"{prefix}a/database")
    assert {obj.key for obj in s3.list(f"{prefix}a/")} == {f"{prefix}a/files.tar.gz", f"{prefix}a/manifest.json"}
    s3.create_bucket()  # idempotent


def test_presigned_put_then_get(s3: S3Client, prefix: str) -> None:
    key = f"{prefix}presigned/database"
    data = bytes(range(256)) * 4096  # 1 MiB, every byte value
    status, _ = _http("PUT", s3.presign("PUT", key, expires_seconds=3600), data)
    assert status == 200
    assert s3.head(key) == len(data)
    status, body = _http("GET", s3.presign("GET", key, expires_seconds=3600))
    assert (status, body) == (200, data)


def test_expired_presigned_url_is_refused(s3: S3Client, prefix: str) -> None:
    key = f"{prefix}expired/database"
    s3.put(key, b"kept")
    put_url = s3.presign("PUT", key, expires_seconds=1)
    get_url = s3.presign("GET", key, expires_seconds=1)
    time.sleep(2.2)
    status, body = _http("PUT", put_url, b"overwritten")
    assert status == 403, body
    assert b"expired" in body.lower()
    assert _http("GET", get_url)[0] == 403
    assert s3.get(key) == b"kept"


def test_wrong_secret_key_names_the_signature(s3_server: Versitygw, s3: S3Client, prefix: str) -> None:
    wrong = S3Client(
        endpoint=s3_server.endpoint,
        bucket=s3.bucket,
        region=s3_server.region,
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key + "x",
    )
    with pytest.raises(S3Error, match=r"(?i)signature") as raised:
        wrong.put(f"{prefix}nope", b"data")
    assert raised.value.status == 403
    assert s3_server.secret_key not in str(raised.value)
    assert s3.head(f"{prefix}nope") is None
    status, _ = _http("GET", wrong.presign("GET", f"{prefix}nope", expires_seconds=60))
    assert status == 403


def test_presigned_url_is_bound_to_its_key_and_method(s3: S3Client, prefix: str) -> None:
    url = s3.presign("PUT", f"{prefix}store-a/database", expires_seconds=3600)
    tampered = url.replace("/store-a/database?", "/store-b/database?")
    assert tampered != url
    status, body = _http("PUT", tampered, b"intruder")
    assert status == 403, body
    assert s3.head(f"{prefix}store-b/database") is None

    s3.put(f"{prefix}store-a/database", b"original")
    get_url = s3.presign("GET", f"{prefix}store-a/database", expires_seconds=3600)
    assert _http("PUT", get_url, b"overwritten")[0] == 403  # a GET URL cannot write
    assert _http("GET", get_url.replace("/store-a/", "/store-b/"))[0] in (403, 404)
    assert s3.get(f"{prefix}store-a/database") == b"original"
