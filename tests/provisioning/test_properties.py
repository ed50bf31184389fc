"""Property-based tests over every input of the service layer.

For any input: either a valid result, or a specific StorePlatformError; nothing is
written on error; no other exception escapes. `-s` shows how many cases ran.
"""

from __future__ import annotations

import contextlib
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from provisioning.actors import Actor
from provisioning.errors import StorePlatformError, ValidationError
from provisioning.models import AuditEvent, Store, User
from provisioning.names import validate_store_name
from provisioning.service import StoreService
from provisioning.settings import Settings
from provisioning.users import UserService
from tests.shared.examples import examples

NASTY = st.sampled_from(
    [
        "",
        " ",
        "\t",
        "shop\x00",
        "sh\nop",
        "'; DROP TABLE stores; --",
        "<script>alert(1)</script>",
        "$(rm -rf /)",
        "`id`",
        "a" * 10_000,
        "ünïcödé",
        "\u202eevil",
        "shop\u200b",
        "../../etc/passwd",
        "%00",
        "-shop",
        "shop-",
        "admin",
    ]
)
NAMES = st.one_of(
    NASTY, st.text(max_size=80), st.text(alphabet=string.ascii_lowercase + string.digits + "-", max_size=40)
)
PROFILE = settings(
    max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
COUNTS: dict[str, int] = {}


def _count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def _snapshot(db: Engine) -> tuple[int, int, int]:
    with Session(db) as session:
        return _count(session, Store), _count(session, AuditEvent), _count(session, User)


@PROFILE
@given(name=NAMES)
def test_validate_store_name_accepts_exactly_dns_labels(name: str) -> None:
    COUNTS["validate"] = COUNTS.get("validate", 0) + 1
    try:
        result = validate_store_name(name)
    except ValidationError as error:
        assert str(error) and "\n" not in str(error) and len(str(error)) < 200
        return
    assert result == name
    assert 3 <= len(name) <= 30
    assert set(name) <= set(string.ascii_lowercase + string.digits + "-")
    assert not name.startswith("-") and not name.endswith("-")


@PROFILE
@given(
    name=NAMES, engine=st.one_of(st.sampled_from(["woocommerce", "medusa", "", "WooCommerce"]), st.text(max_size=20))
)
def test_create_store_either_creates_or_writes_nothing(
    db: Engine, settings: Settings, alice: Actor, name: str, engine: str
) -> None:
    COUNTS["create"] = COUNTS.get("create", 0) + 1
    service = StoreService(db, settings)
    before = _snapshot(db)
    try:
        store = service.create_store(alice, name, engine=engine)
    except StorePlatformError as error:
        assert str(error)
        assert _snapshot(db) == before
        return
    assert store.name == name and engine in ("woocommerce", "medusa")
    service.delete_store(alice, store.id)  # keep within the per-user limit for the next example


@PROFILE
@given(store_id=st.one_of(st.text(max_size=64), st.sampled_from(["", "0" * 32, "'; --", "\x00"])))
def test_store_id_inputs_never_escape_as_other_errors(
    db: Engine, settings: Settings, alice: Actor, store_id: str
) -> None:
    COUNTS["ids"] = COUNTS.get("ids", 0) + 1
    service = StoreService(db, settings)
    before = _snapshot(db)
    for action in (service.get_store, service.delete_store, service.retry_store, service.reveal_admin_password):
        with contextlib.suppress(StorePlatformError):
            action(alice, store_id)
    assert _snapshot(db) == before


@PROFILE
@given(username=NAMES, password=st.one_of(st.text(max_size=100), NASTY))
def test_create_user_either_creates_or_writes_nothing(
    users: UserService, admin: Actor, db: Engine, username: str, password: str
) -> None:
    COUNTS["users"] = COUNTS.get("users", 0) + 1
    before = _snapshot(db)
    try:
        users.create_user(admin, username, password)
    except StorePlatformError as error:
        assert str(error)
        assert _snapshot(db) == before
        return
    assert users.get_actor(username).username == username


@PROFILE
@given(search=st.one_of(NASTY, st.text(max_size=60)))
def test_audit_search_is_safe(db: Engine, settings: Settings, admin: Actor, search: str) -> None:
    COUNTS["search"] = COUNTS.get("search", 0) + 1
    StoreService(db, settings).audit_log(admin, search=search)


def teardown_module() -> None:
    print(f"\nhypothesis cases run: {COUNTS} (total {sum(COUNTS.values())})")
