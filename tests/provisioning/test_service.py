"""StoreService: validation, limits, authorization and state rules (provisioning/service.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from provisioning.actors import Actor
from provisioning.engines.base import SECRET_NAME
from provisioning.errors import (
    InvalidStateError,
    LimitExceededError,
    NameTakenError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from provisioning.models import AuditEvent, Store, StoreStatus, utcnow
from provisioning.names import namespace_for
from provisioning.service import StoreService
from provisioning.settings import Settings
from provisioning.users import UserService
from tests.shared.platform import set_store


class FakeSecrets:
    """A SecretReader that records every read."""

    def __init__(self, value: str = "Revealed-Admin-Password-1") -> None:
        self.value = value
        self.calls: list[tuple[str, str, str]] = []

    def read_secret_value(self, namespace: str, name: str, key: str) -> str:
        self.calls.append((namespace, name, key))
        return self.value


@pytest.fixture
def secrets() -> FakeSecrets:
    return FakeSecrets()


@pytest.fixture
def service(db: Engine, settings: Settings, secrets: FakeSecrets) -> StoreService:
    return StoreService(db, settings, secrets=secrets)


@pytest.fixture
def service_with(db: Engine, settings: Settings) -> Callable[..., StoreService]:
    def build(**overrides: object) -> StoreService:
        return StoreService(db, dataclasses.replace(settings, **overrides))

    return build


def count(db: Engine, model: type) -> int:
    with Session(db) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def counts(db: Engine) -> tuple[int, int]:
    return count(db, Store), count(db, AuditEvent)


def reload(db: Engine, store_id: str) -> Store:
    with Session(db) as session:
        store = session.get(Store, store_id)
        assert store is not None
        return store


def events(db: Engine, action: str) -> list[AuditEvent]:
    with Session(db) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


@pytest.fixture
def bob_store(service: StoreService, bob: Actor) -> Store:
    return service.create_store(bob, "bobs-shop")


# -- create -----------------------------------------------------------------------------------


def test_create_returns_a_requested_store(service: StoreService, alice: Actor, settings: Settings, db: Engine) -> None:
    store = service.create_store(alice, "my-shop")
    assert store.status == StoreStatus.REQUESTED
    assert store.name == store.active_name == "my-shop"
    assert store.engine == "woocommerce"
    assert store.owner_id == alice.id
    assert store.namespace == namespace_for("my-shop", store.id)
    assert store.url == settings.store_url("my-shop") == "http://my-shop.stores.localhost"
    assert store.admin_user == "my-shop-admin"
    assert store.attempts == 0

    saved = reload(db, store.id)
    assert (saved.status, saved.namespace, saved.url, saved.admin_user) == (
        StoreStatus.REQUESTED,
        store.namespace,
        store.url,
        store.admin_user,
    )
    (event,) = events(db, "store.create")
    assert (event.actor, event.store_id, event.store_name) == ("alice", store.id, "my-shop")


@pytest.mark.parametrize(
    "name",
    [
        *("", None, 17, "ab", "a" * 31, "MyShop", "my_shop", "-shop", "my--shop", "café", " shop", "sh\x00op"),
        *("<script>", "shop';drop", "a$(b)", "admin", "api", "www", "dashboard"),
    ],
)
def test_bad_names_raise_and_write_nothing(service: StoreService, alice: Actor, db: Engine, name: object) -> None:
    before = counts(db)
    with pytest.raises(ValidationError) as excinfo:
        service.create_store(alice, name)
    assert excinfo.value.field == "name"
    assert counts(db) == before


def test_duplicate_live_name_is_refused_for_anyone(
    service: StoreService, alice: Actor, bob: Actor, bob_store: Store, db: Engine
) -> None:
    before = counts(db)
    for actor in (bob, alice):
        with pytest.raises(NameTakenError, match="already exists"):
            service.create_store(actor, "bobs-shop")
    assert counts(db) == before


def test_name_is_reusable_after_delete(service: StoreService, alice: Actor, db: Engine) -> None:
    first = service.create_store(alice, "my-shop")
    deleted = service.delete_store(alice, first.id)
    assert deleted.active_name is None
    assert reload(db, first.id).active_name is None
    second = service.create_store(alice, "my-shop")
    assert second.id != first.id
    assert second.namespace != first.namespace
    assert reload(db, first.id).status == StoreStatus.DELETING


def test_per_user_store_limit(service_with: Callable[..., StoreService], alice: Actor, bob: Actor, db: Engine) -> None:
    service = service_with(max_stores_per_user=2)
    service.create_store(alice, "shop-one")
    second = service.create_store(alice, "shop-two")
    before = counts(db)
    with pytest.raises(LimitExceededError) as excinfo:
        service.create_store(alice, "shop-three")
    assert "2 of 2 stores" in str(excinfo.value)
    assert counts(db) == before
    # Another user has their own allowance.
    service.create_store(bob, "bob-one")
    # A store being deleted still counts; a deleted one no longer does.
    service.delete_store(alice, second.id)
    with pytest.raises(LimitExceededError):
        service.create_store(alice, "shop-three")
    set_store(db, second.id, status=StoreStatus.DELETED)
    assert service.create_store(alice, "shop-three").status == StoreStatus.REQUESTED


def test_hourly_create_limit_is_not_reset_by_deleting(
    service_with: Callable[..., StoreService], alice: Actor, bob: Actor, db: Engine
) -> None:
    service = service_with(max_creates_per_hour=2)
    first = service.create_store(alice, "shop-one")
    second = service.create_store(alice, "shop-two")
    service.delete_store(alice, first.id)
    service.delete_store(alice, second.id)
    before = counts(db)
    with pytest.raises(LimitExceededError) as excinfo:
        service.create_store(alice, "shop-three")
    assert "2 stores per hour" in str(excinfo.value)
    assert counts(db) == before
    assert service.create_store(bob, "bob-one")
    # Creations older than an hour no longer count.
    set_store(db, first.id, created_at=utcnow() - timedelta(hours=1, minutes=1))
    assert service.create_store(alice, "shop-three").name == "shop-three"


@pytest.mark.parametrize(("engine", "fragment"), [("shopify", "Unknown store type"), ("", ""), ("Medusa", "Unknown")])
def test_unavailable_engines_are_refused(
    service: StoreService, alice: Actor, db: Engine, engine: str, fragment: str
) -> None:
    before = counts(db)
    with pytest.raises(ValidationError) as excinfo:
        service.create_store(alice, "my-shop", engine=engine)
    assert excinfo.value.field == "engine"
    assert fragment in str(excinfo.value)
    assert counts(db) == before


def test_engines_lists_only_available_ones() -> None:
    assert StoreService.engines() == {"woocommerce": "WooCommerce", "medusa": "MedusaJS"}


def test_disabled_user_cannot_create(
    service: StoreService, users: UserService, admin: Actor, alice: Actor, db: Engine
) -> None:
    users.set_disabled(admin, "alice", True)
    before = counts(db)
    with pytest.raises(PermissionDeniedError, match="disabled"):
        service.create_store(alice, "my-shop")
    assert counts(db) == before


# -- authorization --------------------------------------------------------------------------


def test_other_users_stores_are_invisible(
    service: StoreService, alice: Actor, bob_store: Store, secrets: FakeSecrets, db: Engine
) -> None:
    set_store(db, bob_store.id, status=StoreStatus.FAILED)
    before = counts(db)
    actions: list[Callable[[], object]] = [
        lambda: service.get_store(alice, bob_store.id),
        lambda: service.delete_store(alice, bob_store.id),
        lambda: service.retry_store(alice, bob_store.id),
        lambda: service.reveal_admin_password(alice, bob_store.id),
        lambda: service.audit_log(alice, store_id=bob_store.id),
    ]
    for action in actions:
        with pytest.raises(NotFoundError, match="does not exist or is not yours"):
            action()
    assert counts(db) == before
    assert secrets.calls == []
    saved = reload(db, bob_store.id)
    assert (saved.status, saved.attempts, saved.active_name) == (StoreStatus.FAILED, 0, "bobs-shop")


@pytest.mark.parametrize("store_id", ["0" * 32, "", 12345, None])
def test_unknown_store_ids_are_not_found(service: StoreService, alice: Actor, store_id: object) -> None:
    with pytest.raises(NotFoundError):
        service.get_store(alice, store_id)  # type: ignore[arg-type]


def test_list_stores_shows_only_own_stores_newest_first(
    service: StoreService, alice: Actor, bob: Actor, bob_store: Store, db: Engine
) -> None:
    first = service.create_store(alice, "shop-one")
    second = service.create_store(alice, "shop-two")
    assert [s.id for s in service.list_stores(alice)] == [second.id, first.id]
    assert [s.id for s in service.list_stores(bob)] == [bob_store.id]
    set_store(db, first.id, status=StoreStatus.DELETED)
    assert [s.id for s in service.list_stores(alice)] == [second.id]
    assert {s.id for s in service.list_stores(alice, include_deleted=True)} == {first.id, second.id}


def test_admin_only_queries_refuse_users(service: StoreService, alice: Actor, bob_store: Store) -> None:
    with pytest.raises(PermissionDeniedError):
        service.list_all_stores(alice)
    with pytest.raises(PermissionDeniedError):
        service.list_all_stores(alice, owner="alice")
    with pytest.raises(PermissionDeniedError):
        service.audit_log(alice)


def test_users_read_the_audit_log_of_their_own_store(service: StoreService, alice: Actor, bob_store: Store) -> None:
    mine = service.create_store(alice, "my-shop")
    service.delete_store(alice, mine.id)
    log = service.audit_log(alice, store_id=mine.id)
    assert [e.action for e in log] == ["store.delete", "store.create"]
    assert all(e.store_id == mine.id for e in log)


def test_admin_can_act_on_other_users_stores(service: StoreService, admin: Actor, bob_store: Store, db: Engine) -> None:
    assert service.get_store(admin, bob_store.id).name == "bobs-shop"
    set_store(db, bob_store.id, status=StoreStatus.FAILED)
    assert service.retry_store(admin, bob_store.id).status == StoreStatus.REQUESTED
    assert service.delete_store(admin, bob_store.id).status == StoreStatus.DELETING
    assert [e.actor for e in events(db, "store.retry") + events(db, "store.delete")] == ["admin", "admin"]
    assert [e.action for e in service.audit_log(admin)][:3] == ["store.delete", "store.retry", "store.create"]


def test_admin_lists_all_stores_with_filters(
    service: StoreService, admin: Actor, alice: Actor, bob: Actor, bob_store: Store, db: Engine
) -> None:
    a1 = service.create_store(alice, "alice-one")
    a2 = service.create_store(alice, "alice-two")
    set_store(db, a2.id, status=StoreStatus.FAILED)

    def listed(**filters: object) -> list[tuple[str, str]]:
        rows, total = service.list_all_stores(admin, **filters)  # type: ignore[arg-type]
        if "limit" not in filters:
            assert total == len(rows)
        return [(r.id, r.owner) for r in rows]

    assert listed() == [(a2.id, "alice"), (a1.id, "alice"), (bob_store.id, "bob")]
    assert {i for i, _ in listed(owner="alice")} == {a1.id, a2.id}
    assert listed(owner="bob") == [(bob_store.id, "bob")]
    assert listed(owner="nobody") == []
    assert [i for i, _ in listed(status=StoreStatus.FAILED)] == [a2.id]
    assert {i for i, _ in listed(status="requested")} == {a1.id, bob_store.id}
    assert len(listed(engine="woocommerce")) == 3
    assert listed(engine="medusa") == []
    assert [i for i, _ in listed(owner="alice", status="requested")] == [a1.id]
    rows, total = service.list_all_stores(admin, limit=2)
    assert len(rows) == 2 and total == 3


def test_store_stats_aggregate_every_store(service: StoreService, admin: Actor, alice: Actor, db: Engine) -> None:
    a1 = service.create_store(alice, "alice-one")
    service.create_store(alice, "alice-two")
    started = a1.created_at
    set_store(
        db, a1.id, status=StoreStatus.READY, provisioning_started_at=started, ready_at=started + timedelta(seconds=90)
    )
    stats = service.store_stats(admin)
    assert stats.total == 2
    assert stats.by_status == {"ready": 1, "requested": 1}
    assert sum(stats.created_per_day.values()) == 2
    assert stats.seconds_to_ready == [90.0]
    with pytest.raises(PermissionDeniedError):
        service.store_stats(alice)


def test_audit_log_search(service: StoreService, admin: Actor, alice: Actor, bob_store: Store) -> None:
    service.create_store(alice, "alice-shop")
    found = service.audit_log(admin, search="alice-sh")
    assert [(e.action, e.store_name) for e in found] == [("store.create", "alice-shop")]
    assert {e.store_name for e in service.audit_log(admin, search="store.create")} == {"alice-shop", "bobs-shop"}


# -- state rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", [StoreStatus.REQUESTED, StoreStatus.PROVISIONING, StoreStatus.READY, StoreStatus.DELETING]
)
def test_only_failed_stores_can_be_retried(
    service: StoreService, alice: Actor, db: Engine, status: StoreStatus
) -> None:
    store = service.create_store(alice, "my-shop")
    set_store(db, store.id, status=status)
    with pytest.raises(InvalidStateError, match="Only failed stores"):
        service.retry_store(alice, store.id)
    assert reload(db, store.id).status == status
    assert events(db, "store.retry") == []


def test_retry_requeues_and_counts_attempts(service: StoreService, alice: Actor, db: Engine) -> None:
    store = service.create_store(alice, "my-shop")
    set_store(db, store.id, status=StoreStatus.FAILED, provisioning_started_at=utcnow(), next_attempt_at=utcnow())
    retried = service.retry_store(alice, store.id)
    assert retried.status == StoreStatus.REQUESTED
    assert retried.attempts == 1
    saved = reload(db, store.id)
    assert (saved.status, saved.attempts, saved.provisioning_started_at, saved.next_attempt_at) == (
        StoreStatus.REQUESTED,
        1,
        None,
        None,
    )
    set_store(db, store.id, status=StoreStatus.FAILED)
    assert service.retry_store(alice, store.id).attempts == 2
    assert len(events(db, "store.retry")) == 2


def test_delete_twice_is_refused(service: StoreService, alice: Actor, db: Engine) -> None:
    store = service.create_store(alice, "my-shop")
    deleted = service.delete_store(alice, store.id)
    assert deleted.status == StoreStatus.DELETING
    assert deleted.deleting_started_at is not None
    with pytest.raises(InvalidStateError, match="already being deleted"):
        service.delete_store(alice, store.id)
    set_store(db, store.id, status=StoreStatus.DELETED)
    with pytest.raises(InvalidStateError, match="already deleted"):
        service.delete_store(alice, store.id)
    assert len(events(db, "store.delete")) == 1


# -- credentials ----------------------------------------------------------------------------


def test_reveal_admin_password_reads_the_store_secret(
    service: StoreService, alice: Actor, secrets: FakeSecrets, db: Engine
) -> None:
    store = service.create_store(alice, "my-shop")
    assert service.reveal_admin_password(alice, store.id) == "Revealed-Admin-Password-1"
    assert secrets.calls == [(store.namespace, SECRET_NAME, "wordpress-admin-password")]
    (event,) = events(db, "store.reveal_password")
    assert (event.actor, event.store_id) == ("alice", store.id)
    # The password itself is never written to the audit trail.
    with Session(db) as session:
        for row in session.exec(select(AuditEvent)).all():
            assert secrets.value not in f"{row.detail} {row.store_name} {row.action}"


def test_admin_can_reveal_any_store_password(
    service: StoreService, admin: Actor, bob_store: Store, secrets: FakeSecrets
) -> None:
    assert service.reveal_admin_password(admin, bob_store.id) == secrets.value
    assert secrets.calls == [(bob_store.namespace, SECRET_NAME, "wordpress-admin-password")]


@pytest.mark.parametrize("status", [StoreStatus.DELETING, StoreStatus.DELETED])
def test_reveal_refuses_deleting_stores(
    service: StoreService, alice: Actor, secrets: FakeSecrets, db: Engine, status: StoreStatus
) -> None:
    store = service.create_store(alice, "my-shop")
    set_store(db, store.id, status=status)
    with pytest.raises(InvalidStateError, match="being deleted"):
        service.reveal_admin_password(alice, store.id)
    assert secrets.calls == []
    assert events(db, "store.reveal_password") == []


def test_reveal_without_a_cluster_connection(db: Engine, settings: Settings, alice: Actor) -> None:
    service = StoreService(db, settings)
    store = service.create_store(alice, "my-shop")
    with pytest.raises(InvalidStateError, match="not connected"):
        service.reveal_admin_password(alice, store.id)


# -- usage ----------------------------------------------------------------------------------


def test_usage_counts_live_stores_only(service: StoreService, alice: Actor, bob_store: Store, db: Engine) -> None:
    assert (service.usage(alice).used, service.usage(alice).allowed, service.usage(alice).remaining) == (0, 10, 10)
    stores = [service.create_store(alice, f"shop-{i}") for i in range(4)]
    set_store(db, stores[1].id, status=StoreStatus.READY)
    set_store(db, stores[2].id, status=StoreStatus.FAILED)
    set_store(db, stores[3].id, status=StoreStatus.DELETED, active_name=None)
    usage = service.usage(alice)
    assert (usage.used, usage.remaining) == (3, 7)
    assert service.usage(Actor(id=-1, username="ghost", role="user")).used == 0


def test_usage_remaining_never_negative(service_with: Callable[..., StoreService], alice: Actor, db: Engine) -> None:
    service = service_with(max_stores_per_user=3)
    for i in range(3):
        service.create_store(alice, f"shop-{i}")
    smaller = dataclasses.replace(service.settings, max_stores_per_user=1)
    usage = StoreService(db, smaller).usage(alice)
    assert (usage.used, usage.allowed, usage.remaining) == (3, 1, 0)
