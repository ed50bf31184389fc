"""Signature V4 against the examples published with the specification (Amazon S3 API
reference, "Authenticating Requests: Using Query Parameters" and "...: Using the
Authorization Header"): same inputs, same signatures, or no real S3 would accept ours."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from provisioning.backups.s3 import S3Client, presign_url, signed_headers

ACCESS = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
WHEN = datetime(2013, 5, 24, tzinfo=UTC)


def test_presigned_url_matches_the_published_example() -> None:
    url = presign_url(
        "GET",
        "https://examplebucket.s3.amazonaws.com/test.txt",
        access_key=ACCESS,
        secret_key=SECRET,
        region="us-east-1",
        expires_seconds=86400,
        when=WHEN,
    )
    assert url.endswith("X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
    assert "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" in url


def test_header_signature_matches_the_published_get_example() -> None:
    headers = signed_headers(
        "GET",
        "https://examplebucket.s3.amazonaws.com/test.txt",
        body=b"",
        access_key=ACCESS,
        secret_key=SECRET,
        region="us-east-1",
        headers={"Range": "bytes=0-9"},
        when=WHEN,
    )
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_header_signature_matches_the_published_put_example() -> None:
    headers = signed_headers(
        "PUT",
        "https://examplebucket.s3.amazonaws.com/test%24file.text",  # keys arrive URI-encoded (S3Client.url)
        body=b"Welcome to Amazon S3.",
        access_key=ACCESS,
        secret_key=SECRET,
        region="us-east-1",
        headers={"Date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY"},
        when=WHEN,
    )
    assert headers["Authorization"].endswith(
        "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    )


def test_keys_are_path_style_and_encoded_but_keep_their_slashes() -> None:
    client = S3Client(endpoint="http://127.0.0.1:9000/", bucket="b", region="r", access_key="a", secret_key="s")
    assert client.url("stores/x y/é.gz") == "http://127.0.0.1:9000/b/stores/x%20y/%C3%A9.gz"
    assert "s" not in repr(client).split("region")[1].replace("'r'", "")  # no secret in repr


@pytest.mark.parametrize("seconds", [0, 7 * 24 * 3600 + 1])
def test_presign_refuses_lifetimes_the_protocol_refuses(seconds: int) -> None:
    client = S3Client(endpoint="http://h", bucket="b", region="r", access_key="a", secret_key="s")
    with pytest.raises(ValueError, match="between 1 and"):
        client.presign("GET", "k", expires_seconds=seconds)


def test_endpoint_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        S3Client(endpoint="s3.example.com", bucket="b", region="r", access_key="a", secret_key="s")
