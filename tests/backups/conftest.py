"""Session fixtures for the backup tests: one versitygw (the S3 server), one MariaDB and one
PostgreSQL, each shared by every test of the session; tests that need a clean slate use
their own key prefix in the bucket or their own database."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from provisioning.backups.s3 import S3Client
from tests.backups.servers import MariaDB, Versitygw, build_versitygw, component
from tests.shared.report import record_component
from tests.store_software.medusa import Postgres

BUCKET = "backups"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Versitygw]:
    log = tmp_path_factory.mktemp("versitygw-build") / "build.log"
    binary = component(lambda: build_versitygw(log))
    server = Versitygw.start(binary)
    record_component(pytestconfig, "Object store", f"versitygw {server.version}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3(s3_server: Versitygw) -> S3Client:
    """A client of the bucket `backups`, created through the S3 API."""
    client = S3Client(
        endpoint=s3_server.endpoint,
        bucket=BUCKET,
        region=s3_server.region,
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key,
    )
    client.create_bucket()
    return client


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own in the bucket."""
    return f"stores/test-{secrets.token_hex(4)}/"


@pytest.fixture(scope="session")
def mariadb(pytestconfig: pytest.Config) -> Iterator[MariaDB]:
    server: MariaDB = component(MariaDB.start)
    record_component(pytestconfig, "MariaDB", server.version)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres(pytestconfig: pytest.Config) -> Iterator[Postgres]:
    server: Postgres = component(Postgres.start)
    record_component(pytestconfig, "PostgreSQL", str(server.scalar("postgres", "SHOW server_version")))
    yield server
    server.stop()
