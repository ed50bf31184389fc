"""A small S3 client: Signature V4 (headers and presigned URLs), path-style, stdlib only.

Why not boto3: the platform needs six calls (create the bucket, put, get, head, list,
delete) and presigned URLs; boto3 and botocore would add ~15 MB and their own retry and
credential-chain behaviour for that. Why presigned URLs: the backup and restore Jobs run
in the store's namespace and get only URLs for their own backup's objects, valid for a
bounded time, so the bucket's credentials never leave the platform's worker and a store
can read and write nothing but its own prefix.

The signing follows the AWS Signature Version 4 specification; the unit tests check it
against the examples published with it, and tests/backups/ against a real S3 server.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # the protocol's limit
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class S3Error(Exception):
    """A request to the object store failed; the message says which and why."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    last_modified: datetime


def _quote(text: str, *, safe: str = "-_.~") -> str:
    return urllib.parse.quote(text, safe=safe)


def _canonical_query(params: dict[str, str]) -> str:
    return "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(params.items()))


def _signing_key(secret_key: str, day: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _signature(
    *,
    method: str,
    path: str,
    query: dict[str, str],
    headers: dict[str, str],
    payload_hash: str,
    secret_key: str,
    region: str,
    when: datetime,
    service: str = "s3",
) -> tuple[str, str]:
    """(signature, signed header names) of one request; `path` is already URI-encoded."""
    lowered = {name.lower(): " ".join(value.strip().split()) for name, value in headers.items()}
    signed = ";".join(sorted(lowered))
    canonical_headers = "".join(f"{name}:{lowered[name]}\n" for name in sorted(lowered))
    canonical = "\n".join([method, path, _canonical_query(query), canonical_headers, signed, payload_hash])
    day, stamp = when.strftime("%Y%m%d"), when.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _signing_key(secret_key, day, region, service)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), signed


def presign_url(
    method: str,
    url: str,
    *,
    access_key: str,
    secret_key: str,
    region: str,
    expires_seconds: int,
    when: datetime | None = None,
) -> str:
    """A URL that performs `method` on `url` without credentials until it expires."""
    if not 1 <= expires_seconds <= MAX_PRESIGN_SECONDS:
        raise ValueError(f"expires_seconds must be between 1 and {MAX_PRESIGN_SECONDS}")
    when = (when or datetime.now(UTC)).astimezone(UTC)
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    query.update(
        {
            "X-Amz-Algorithm": ALGORITHM,
            "X-Amz-Credential": f"{access_key}/{when:%Y%m%d}/{region}/s3/aws4_request",
            "X-Amz-Date": f"{when:%Y%m%dT%H%M%SZ}",
            "X-Amz-Expires": str(expires_seconds),
            "X-Amz-SignedHeaders": "host",
        }
    )
    signature, _ = _signature(
        method=method,
        path=parts.path or "/",
        query=query,
        headers={"host": parts.netloc},
        payload_hash=UNSIGNED_PAYLOAD,
        secret_key=secret_key,
        region=region,
        when=when,
    )
    return urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc, parts.path, f"{_canonical_query(query)}&X-Amz-Signature={signature}", "")
    )


def signed_headers(
    method: str,
    url: str,
    *,
    body: bytes,
    access_key: str,
    secret_key: str,
    region: str,
    headers: dict[str, str] | None = None,
    when: datetime | None = None,
) -> dict[str, str]:
    """The headers (Authorization included) that sign one request with its payload's hash."""
    when = (when or datetime.now(UTC)).astimezone(UTC)
    parts = urllib.parse.urlsplit(url)
    payload_hash = hashlib.sha256(body).hexdigest()
    all_headers = {
        **(headers or {}),
        "host": parts.netloc,
        "x-amz-content-sha256": payload_hash,
        "x-amz-date": f"{when:%Y%m%dT%H%M%SZ}",
    }
    signature, signed = _signature(
        method=method,
        path=parts.path or "/",
        query=dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)),
        headers=all_headers,
        payload_hash=payload_hash,
        secret_key=secret_key,
        region=region,
        when=when,
    )
    credential = f"{access_key}/{when:%Y%m%d}/{region}/s3/aws4_request"
    all_headers["Authorization"] = f"{ALGORITHM} Credential={credential}, SignedHeaders={signed}, Signature={signature}"
    return all_headers


class S3Client:
    """Path-style requests to one bucket (works with AWS, MinIO, versitygw, Ceph, R2...)."""

    def __init__(
        self,
        *,
        endpoint: str,
        bucket: str,
        region: str,
        access_key: str,
        secret_key: str,
        timeout_seconds: float = 30.0,
    ) -> None:
        parts = urllib.parse.urlsplit(endpoint.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"The object store endpoint must be an http(s) URL, not {endpoint!r}.")
        self.endpoint = f"{parts.scheme}://{parts.netloc}{parts.path}"
        self.bucket = bucket
        self.region = region
        self._access_key = access_key
        self._secret_key = secret_key
        self._timeout = timeout_seconds

    def __repr__(self) -> str:  # never the keys
        return f"S3Client(endpoint={self.endpoint!r}, bucket={self.bucket!r}, region={self.region!r})"

    def url(self, key: str = "", query: dict[str, str] | None = None) -> str:
        path = f"/{_quote(self.bucket)}" + (f"/{_quote(key, safe='-_.~/')}" if key else "")
        base = self.endpoint + path
        return f"{base}?{_canonical_query(query)}" if query else base

    def presign(self, method: str, key: str, *, expires_seconds: int) -> str:
        return presign_url(
            method,
            self.url(key),
            access_key=self._access_key,
            secret_key=self._secret_key,
            region=self.region,
            expires_seconds=expires_seconds,
        )

    # -- requests ---------------------------------------------------------------------------

    def _request(
        self, method: str, key: str = "", *, query: dict[str, str] | None = None, body: bytes = b"", bucket_only=False
    ) -> tuple[int, dict[str, str], bytes]:
        url = self.url("" if bucket_only else key, query)
        headers = signed_headers(
            method, url, body=body, access_key=self._access_key, secret_key=self._secret_key, region=self.region
        )
        parts = urllib.parse.urlsplit(url)
        connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_type(parts.netloc, timeout=self._timeout)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request(method, target, body=body or None, headers=headers)
            response = connection.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        except OSError as error:
            raise S3Error(f"Cannot reach the object store at {self.endpoint}: {error}") from error
        finally:
            connection.close()

    def _raise_for(self, status: int, data: bytes, what: str) -> None:
        code, message = "", ""
        try:
            root = ElementTree.fromstring(data) if data else None
            if root is not None:
                code = root.findtext("Code") or ""
                message = root.findtext("Message") or ""
        except ElementTree.ParseError:
            pass
        reason = f"{code}: {message}" if code else (message or f"HTTP {status}")
        raise S3Error(f"The object store refused to {what} (HTTP {status}, {reason}).", status=status, code=code)

    def create_bucket(self) -> None:
        """Create the bucket; one that exists and is ours is fine."""
        status, _, data = self._request("PUT", bucket_only=True)
        if status in (200, 204):
            return
        if status == 409 and b"BucketAlreadyOwnedByYou" in data:
            return
        self._raise_for(status, data, f"create the bucket {self.bucket}")

    def put(self, key: str, data: bytes) -> None:
        status, _, body = self._request("PUT", key, body=data)
        if status not in (200, 204):
            self._raise_for(status, body, f"store {key}")

    def get(self, key: str) -> bytes:
        status, _, body = self._request("GET", key)
        if status != 200:
            self._raise_for(status, body, f"read {key}")
        return body

    def head(self, key: str) -> int | None:
        """The object's size in bytes, or None when there is no such object."""
        status, headers, _ = self._request("HEAD", key)
        if status == 404:
            return None
        if status != 200:
            self._raise_for(status, b"", f"look up {key}")
        return int(headers.get("content-length", "0"))

    def delete(self, key: str) -> None:
        status, _, body = self._request("DELETE", key)
        if status not in (200, 204, 404):
            self._raise_for(status, body, f"delete {key}")

    def list(self, prefix: str) -> list[S3Object]:
        """Every object under `prefix` (ListObjectsV2, following continuation tokens)."""
        objects: list[S3Object] = []
        token = ""
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if token:
                query["continuation-token"] = token
            status, _, data = self._request("GET", query=query, bucket_only=True)
            if status != 200:
                self._raise_for(status, data, f"list {prefix or 'the bucket'}")
            root = ElementTree.fromstring(data)
            ns = _NS if root.tag.startswith(_NS) else ""
            for item in root.findall(f"{ns}Contents"):
                modified = (item.findtext(f"{ns}LastModified") or "").replace("Z", "+00:00")
                objects.append(
                    S3Object(
                        key=item.findtext(f"{ns}Key") or "",
                        size=int(item.findtext(f"{ns}Size") or 0),
                        last_modified=datetime.fromisoformat(modified) if modified else datetime.now(UTC),
                    )
                )
            token = root.findtext(f"{ns}NextContinuationToken") or ""
            if (root.findtext(f"{ns}IsTruncated") or "false").lower() != "true" or not token:
                return objects
