"""Fixtures of the backup, restore and clone tests: the service and the reconciler on the
in-memory FakeCluster and FakeObjectStore."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from provisioning.actors import Actor
from provisioning.models import Backup, StoreStatus
from provisioning.reconciler import Reconciler
from provisioning.service import StoreService
from provisioning.settings import Settings
from tests.fakes import Clock, FakeCluster, FakeObjectStore
from tests.shared.platform import store_row

SECRET_KEY = "bucket-secret-key-never-in-a-manifest"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        backup_s3_endpoint="http://objects.test:9000",
        backup_s3_access_key_id="AKIDTEST",
        backup_s3_secret_access_key=SECRET_KEY,
        backup_retention=2,
    )


@pytest.fixture
def cluster() -> FakeCluster:
    cluster = FakeCluster()
    cluster.make_all_ready()
    return cluster


@pytest.fixture
def objects() -> FakeObjectStore:
    return FakeObjectStore()


@pytest.fixture
def reconciler(
    db: Engine, settings: Settings, cluster: FakeCluster, clock: Clock, objects: FakeObjectStore
) -> Reconciler:
    reconciler = Reconciler(db, settings, lambda: cluster, identity="r1", clock=clock)
    reconciler._s3 = objects  # type: ignore[assignment]
    return reconciler


@pytest.fixture
def stores(db: Engine, settings: Settings) -> StoreService:
    return StoreService(db, settings)


def ready_store(
    stores: StoreService, reconciler: Reconciler, actor: Actor, name: str = "shop-one", *, engine: str = "woocommerce"
) -> str:
    store = stores.create_store(actor, name, engine=engine)
    reconciler.run_once()
    assert store_row(stores.db, store.id).status == StoreStatus.READY
    return store.id


def backup_row(db: Engine, backup_id: str) -> Backup:
    with Session(db) as session:
        row = session.get(Backup, backup_id)
        assert row is not None
        return row


def take_backup(
    stores: StoreService, reconciler: Reconciler, objects: FakeObjectStore, actor: Actor, sid: str
) -> Backup:
    """A backup whose Job uploads what a real one would."""
    backup = stores.backup_store(actor, sid)
    reconciler.run_once()  # Job created
    objects.upload_backup(backup_row(stores.db, backup.id).location)
    reconciler.run_once()  # outcome read
    return backup_row(stores.db, backup.id)
