"""Session fixtures for the store-software tests: one built Medusa server, one PostgreSQL,
one Redis, and one store set up twice and running, shared by every test of the session.

Why shared: building Medusa costs minutes (cached across runs by tools/medusa/build.sh),
migrating an empty database about 35 s and starting the server about 15 s. Tests that need
isolation (a fresh database, a different sandbox) make their own database on the same
PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.shared import builds
from tests.shared.builds import wait_for_builds
from tests.shared.report import record_component
from tests.shared.servers import free_port
from tests.store_software.medusa import (
    ComponentMissing,
    MedusaBuild,
    Postgres,
    Redis,
    SetupRun,
    StoreServer,
    build_medusa,
    run_setup,
    store_environment,
)

# Rows whose number must not change when the setup runs again (table, extra condition).
COUNTED = {
    "stores": ("store", ""),
    "sales channels": ("sales_channel", ""),
    "publishable keys": ("api_key", "type = 'publishable'"),
    "regions": ("region", ""),
    "tax regions": ("tax_region", ""),
    "stock locations": ("stock_location", ""),
    "fulfillment sets": ("fulfillment_set", ""),
    "shipping profiles": ("shipping_profile", ""),
    "shipping options": ("shipping_option", ""),
    "products": ("product", ""),
    "variants": ("product_variant", ""),
    "inventory items": ("inventory_item", ""),
    "inventory levels": ("inventory_level", ""),
    "users": ('"user"', ""),
    "login identities": ("provider_identity", ""),
}


def row_counts(postgres: Postgres, database: str) -> dict[str, int]:
    """How many live rows each seeded kind of object has."""
    counts = {}
    for label, (table, condition) in COUNTED.items():
        where = "deleted_at IS NULL" + (f" AND {condition}" if condition else "")
        if table == "provider_identity":
            where = "true"
        counts[label] = int(postgres.scalar(database, f"SELECT count(*) FROM {table} WHERE {where}"))
    return counts


@dataclass
class Shop:
    """The store every order test uses: set up twice, then started."""

    build: MedusaBuild
    postgres: Postgres
    database: str
    env: dict[str, str]
    runs: list[SetupRun]
    counts: list[dict[str, int]]
    server: StoreServer

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def key(self) -> str:
        return self.env["MEDUSA_PUBLISHABLE_KEY"]


def _component(factory):  # type: ignore[no-untyped-def]
    try:
        return factory()
    except ComponentMissing as missing:
        pytest.skip(str(missing))


@pytest.fixture(scope="session")
def medusa_build(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> MedusaBuild:
    wait_for_builds(*builds.MEDUSA)  # under `make test` it may still be building beside the tests
    log = tmp_path_factory.mktemp("medusa-build") / "build.log"
    build: MedusaBuild = _component(lambda: build_medusa(log))
    record_component(pytestconfig, "Medusa", f"{build.medusa_version} on Node {build.node_version}")
    return build


@pytest.fixture(scope="session")
def postgres(pytestconfig: pytest.Config) -> Iterator[Postgres]:
    server: Postgres = _component(Postgres.start)
    record_component(pytestconfig, "PostgreSQL", str(server.scalar("postgres", "SHOW server_version")))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis(pytestconfig: pytest.Config) -> Iterator[Redis]:
    server: Redis = _component(Redis.start)
    record_component(pytestconfig, "Redis", server.version)
    yield server
    server.stop()


def new_database(postgres: Postgres) -> tuple[str, str]:
    """A fresh database and its owner; returns (name, DATABASE_URL)."""
    name = f"store_{uuid.uuid4().hex[:10]}"
    return name, postgres.create_database(name)


@pytest.fixture(scope="session")
def shop(
    medusa_build: MedusaBuild, postgres: Postgres, redis: Redis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shop]:
    work = tmp_path_factory.mktemp("shop")
    database, url = new_database(postgres)
    env = store_environment(
        medusa_build, database_url=url, redis_url=redis.url, port=free_port(), config_home=work / "home"
    )
    (work / "home").mkdir()
    runs, counts = [], []
    for number in (1, 2):
        run = run_setup(medusa_build, env)
        (work / f"setup-{number}.log").write_text(run.output)
        runs.append(run)
        assert run.returncode == 0, f"store-setup failed:\n{run.output[-5000:]}"
        counts.append(row_counts(postgres, database))
    server = StoreServer(medusa_build, env, log=work / "server.log").start()
    try:
        yield Shop(medusa_build, postgres, database, env, runs, counts, server)
    finally:
        server.stop()
