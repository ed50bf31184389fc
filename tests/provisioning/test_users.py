"""UserService: first admin, user management, lockout and sign-in data (provisioning/users.py)."""

from __future__ import annotations

import dataclasses
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from provisioning.actors import Actor
from provisioning.errors import AuthenticationError, NotFoundError, PermissionDeniedError, ValidationError
from provisioning.local_secrets import LocalSecrets
from provisioning.models import AuditEvent, Role, SignInFailures, User, utcnow
from provisioning.settings import Settings
from provisioning.users import UNKNOWN_ACTOR, UserService, _failures_key, check_password, hash_password


def user_count(db: Engine) -> int:
    with Session(db) as session:
        return int(session.exec(select(func.count()).select_from(User)).one())


def get_user(db: Engine, username: str) -> User:
    with Session(db) as session:
        user = session.exec(select(User).where(User.username == username)).first()
        assert user is not None
        return user


def failures_of(db: Engine, username: str) -> SignInFailures | None:
    """The failed sign-ins counted for ``username`` (None: none in the lockout window)."""
    with Session(db) as session:
        return session.get(SignInFailures, _failures_key(username))


def database_text(db: Engine) -> str:
    """Every value of every row of every table, as one string."""
    parts: list[str] = []
    with db.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                parts.extend(str(value) for value in row)
    return "\n".join(parts)


def read_secrets_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            values[key] = value
    return values


@pytest.fixture
def no_password_settings(settings: Settings, tmp_path: Path) -> Settings:
    return dataclasses.replace(
        settings, admin_password="", local_secrets_file=str(tmp_path / "nested" / ".local" / "secrets.env")
    )


# -- first admin ------------------------------------------------------------------------------


def test_first_admin_from_the_setting(db: Engine, settings: Settings) -> None:
    service = UserService(db, settings)
    assert service.ensure_first_admin() == "the ADMIN_PASSWORD setting"
    actor = service.get_actor("admin")
    assert actor.is_admin
    assert actor.role == Role.ADMIN
    assert service.authenticate("admin", "first-admin-password").username == "admin"
    assert get_user(db, "admin").password_hash.startswith("$2")
    assert "first-admin-password" not in database_text(db)
    with Session(db) as session:
        (event,) = session.exec(select(AuditEvent).where(AuditEvent.action == "user.create")).all()
    assert (event.actor, event.detail) == ("system", "first admin admin")


def test_first_admin_password_is_generated_into_a_private_file(db: Engine, no_password_settings: Settings) -> None:
    service = UserService(db, no_password_settings)
    local = LocalSecrets(no_password_settings.local_secrets_file)
    where = service.ensure_first_admin(local_secrets=local)
    path = Path(no_password_settings.local_secrets_file).resolve()
    assert where == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = read_secrets_file(path)["ADMIN_PASSWORD"]
    assert len(password) >= 20
    assert password.isalnum()
    assert service.authenticate("admin", password).is_admin
    stored = get_user(db, "admin").password_hash
    assert stored.startswith("$2")
    assert stored != password
    assert password not in database_text(db)


def test_generated_password_keeps_other_local_secrets(db: Engine, no_password_settings: Settings) -> None:
    path = Path(no_password_settings.local_secrets_file)
    path.parent.mkdir(parents=True)
    path.write_text("COOKIE_KEY=kept-cookie-key\n")
    path.chmod(0o644)
    UserService(db, no_password_settings).ensure_first_admin(local_secrets=LocalSecrets(path))
    values = read_secrets_file(path)
    assert values["COOKIE_KEY"] == "kept-cookie-key"
    assert values["ADMIN_PASSWORD"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_first_admin_needs_a_password_source(db: Engine, no_password_settings: Settings) -> None:
    with pytest.raises(ValidationError, match="ADMIN_PASSWORD"):
        UserService(db, no_password_settings).ensure_first_admin()
    assert user_count(db) == 0


def test_ensure_first_admin_is_idempotent(db: Engine, no_password_settings: Settings) -> None:
    service = UserService(db, no_password_settings)
    local = LocalSecrets(no_password_settings.local_secrets_file)
    assert service.ensure_first_admin(local_secrets=local) is not None
    contents = Path(no_password_settings.local_secrets_file).read_text()
    hash_before = get_user(db, "admin").password_hash
    assert service.ensure_first_admin(local_secrets=local) is None
    assert service.ensure_first_admin() is None
    assert user_count(db) == 1
    assert get_user(db, "admin").password_hash == hash_before
    assert Path(no_password_settings.local_secrets_file).read_text() == contents


def test_no_first_admin_once_any_user_exists(users: UserService, db: Engine) -> None:
    assert user_count(db) == 1
    assert users.ensure_first_admin() is None
    assert user_count(db) == 1


# -- passwords --------------------------------------------------------------------------------


def test_default_bcrypt_cost(real_bcrypt: None) -> None:
    hashed = hash_password("correct-horse-battery")
    assert hashed.startswith("$2b$")
    assert int(hashed.split("$")[2]) >= 10
    assert check_password("correct-horse-battery", hashed)


def test_check_password() -> None:
    hashed = hash_password("correct-horse-battery")
    assert check_password("correct-horse-battery", hashed)
    assert not check_password("correct-horse-batterY", hashed)
    assert not check_password("correct-horse-battery", "not-a-bcrypt-hash")
    assert hash_password("correct-horse-battery") != hashed, "every hash has its own salt"


# -- create_user ------------------------------------------------------------------------------


def test_create_user(users: UserService, admin: Actor, db: Engine) -> None:
    user = users.create_user(admin, "carol", "carol-password-1", display_name="  Carol C ", email=" c@example.com ")
    assert (user.username, user.role, user.display_name, user.email) == ("carol", Role.USER, "Carol C", "c@example.com")
    assert user.password_hash.startswith("$2")
    assert "carol-password-1" not in database_text(db)
    assert users.authenticate("carol", "carol-password-1").username == "carol"
    assert not users.get_actor("carol").is_admin
    users.create_user(admin, "dave", "dave-password-1", role=Role.ADMIN)
    assert users.get_actor("dave").is_admin


@pytest.mark.parametrize(
    ("username", "password", "role", "field"),
    [
        ("carol", "short", Role.USER, "password"),
        ("carol", "123456789", Role.USER, "password"),
        ("carol", "x" * 73, Role.USER, "password"),
        ("carol", "é" * 37, Role.USER, "password"),
        ("carol", None, Role.USER, "password"),
        ("Carol", "carol-password-1", Role.USER, "username"),
        ("c", "carol-password-1", Role.USER, "username"),
        ("carol smith", "carol-password-1", Role.USER, "username"),
        ("", "carol-password-1", Role.USER, "username"),
        ("carol", "carol-password-1", "root", "role"),
    ],
)
def test_create_user_validation(
    users: UserService, admin: Actor, db: Engine, username: str, password: object, role: str, field: str
) -> None:
    before = user_count(db)
    with pytest.raises(ValidationError) as excinfo:
        users.create_user(admin, username, password, role=role)  # type: ignore[arg-type]
    assert excinfo.value.field == field
    assert user_count(db) == before


def test_password_of_exactly_72_bytes_is_accepted(users: UserService, admin: Actor) -> None:
    users.create_user(admin, "carol", "x" * 72)
    assert users.authenticate("carol", "x" * 72).username == "carol"


def test_duplicate_username(users: UserService, admin: Actor, alice: Actor, db: Engine) -> None:
    before = user_count(db)
    with pytest.raises(ValidationError, match="taken") as excinfo:
        users.create_user(admin, "alice", "another-password-1")
    assert excinfo.value.field == "username"
    assert user_count(db) == before
    assert users.authenticate("alice", "alice-password-1").username == "alice"


# -- admin-only actions -----------------------------------------------------------------------


def test_only_admins_manage_users(users: UserService, alice: Actor, bob: Actor, db: Engine) -> None:
    before = user_count(db)
    with pytest.raises(PermissionDeniedError):
        users.create_user(alice, "carol", "carol-password-1")
    with pytest.raises(PermissionDeniedError):
        users.set_disabled(alice, "bob", True)
    with pytest.raises(PermissionDeniedError):
        users.reset_password(alice, "bob", "new-password-123")
    with pytest.raises(PermissionDeniedError):
        users.list_users(alice)
    assert user_count(db) == before
    assert not get_user(db, "bob").disabled
    assert users.authenticate("bob", "bob-password-12").username == "bob"


def test_admin_cannot_disable_themselves(users: UserService, admin: Actor) -> None:
    with pytest.raises(PermissionDeniedError, match="your own account"):
        users.set_disabled(admin, "admin", True)
    assert users.get_actor("admin").is_admin
    users.set_disabled(admin, "admin", False)  # enabling yourself is harmless
    assert users.get_actor("admin").is_admin


def test_unknown_user_is_not_found(users: UserService, admin: Actor) -> None:
    with pytest.raises(NotFoundError):
        users.set_disabled(admin, "nobody", True)
    with pytest.raises(NotFoundError):
        users.reset_password(admin, "nobody", "new-password-123")


def test_list_users(users: UserService, admin: Actor, alice: Actor, bob: Actor) -> None:
    assert [u.username for u in users.list_users(admin)] == ["admin", "alice", "bob"]


# -- disabled users ---------------------------------------------------------------------------


def test_disabled_user_cannot_act_or_sign_in(users: UserService, admin: Actor, alice: Actor) -> None:
    users.set_disabled(admin, "alice", True)
    with pytest.raises(AuthenticationError, match="disabled"):
        users.get_actor("alice")
    with pytest.raises(AuthenticationError, match="disabled"):
        users.authenticate("alice", "alice-password-1")
    with pytest.raises(AuthenticationError, match="disabled"):
        users.check_lockout("alice")
    users.set_disabled(admin, "alice", False)
    assert users.get_actor("alice") == alice


def test_get_actor_for_unknown_user(users: UserService) -> None:
    with pytest.raises(AuthenticationError):
        users.get_actor("nobody")


def test_login_credentials_hold_hashes_of_enabled_users_only(
    users: UserService, admin: Actor, alice: Actor, bob: Actor
) -> None:
    users.set_disabled(admin, "bob", True)
    credentials = users.login_credentials()["usernames"]
    assert set(credentials) == {"admin", "alice"}
    plain = {"admin": "first-admin-password", "alice": "alice-password-1"}
    for username, entry in credentials.items():
        assert entry["password"].startswith("$2")
        assert entry["password"] != plain[username]
        assert check_password(plain[username], entry["password"])
    assert credentials["admin"]["roles"] == [Role.ADMIN]
    assert credentials["alice"]["roles"] == [Role.USER]
    assert "bob-password-12" not in repr(users.login_credentials())


# -- lockout ----------------------------------------------------------------------------------


@pytest.fixture
def strict(db: Engine, settings: Settings, alice: Actor) -> UserService:
    return UserService(db, dataclasses.replace(settings, max_failed_logins=3, lockout_minutes=15))


def test_failures_count_down_then_lock(strict: UserService, db: Engine) -> None:
    messages = []
    for _ in range(3):
        with pytest.raises(AuthenticationError) as excinfo:
            strict.authenticate("alice", "wrong-password")
        messages.append(str(excinfo.value))
    assert "2 attempts left" in messages[0]
    assert "1 attempt left" in messages[1]
    assert "locked" in messages[2]
    assert "15 more minutes" in messages[2]
    # The right password does not help while locked.
    with pytest.raises(AuthenticationError, match="locked"):
        strict.authenticate("alice", "alice-password-1")
    with pytest.raises(AuthenticationError, match="locked"):
        strict.authenticate("alice", "wrong-password")
    failures = failures_of(db, "alice")
    assert failures is not None and failures.locked_until is not None and failures.locked_until > utcnow()
    with Session(db) as session:
        locked = session.exec(select(AuditEvent).where(AuditEvent.action == "user.locked")).all()
    assert [e.actor for e in locked] == ["alice"]


def test_lockout_is_per_user(strict: UserService, bob: Actor) -> None:
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            strict.authenticate("alice", "wrong-password")
    assert strict.authenticate("bob", "bob-password-12").username == "bob"


def test_lockout_expires(strict: UserService, db: Engine) -> None:
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            strict.authenticate("alice", "wrong-password")
    with Session(db) as session:
        failures = session.get(SignInFailures, _failures_key("alice"))
        assert failures is not None
        failures.locked_until = utcnow() - timedelta(seconds=1)
        session.add(failures)
        session.commit()
    assert strict.authenticate("alice", "alice-password-1").username == "alice"
    assert failures_of(db, "alice") is None


def test_success_resets_the_failure_count(strict: UserService, db: Engine) -> None:
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            strict.authenticate("alice", "wrong-password")
    failures = failures_of(db, "alice")
    assert failures is not None and failures.failures == 2
    strict.authenticate("alice", "alice-password-1")
    assert failures_of(db, "alice") is None
    with pytest.raises(AuthenticationError) as excinfo:
        strict.authenticate("alice", "wrong-password")
    assert "2 attempts left" in str(excinfo.value)


def test_reset_password_clears_the_lockout(strict: UserService, admin: Actor, db: Engine) -> None:
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            strict.authenticate("alice", "wrong-password")
    strict.reset_password(admin, "alice", "brand-new-password")
    assert failures_of(db, "alice") is None
    assert strict.authenticate("alice", "brand-new-password").username == "alice"
    with pytest.raises(AuthenticationError, match="incorrect"):
        strict.authenticate("alice", "alice-password-1")
    assert "brand-new-password" not in database_text(db)


def test_reset_password_validates(users: UserService, admin: Actor, alice: Actor) -> None:
    with pytest.raises(ValidationError) as excinfo:
        users.reset_password(admin, "alice", "short")
    assert excinfo.value.field == "password"
    assert users.authenticate("alice", "alice-password-1").username == "alice"


def test_unknown_and_known_usernames_get_the_same_answers(strict: UserService, db: Engine) -> None:
    """No answer tells whether a username exists: the same countdown and the same lockout
    (issue 16), for a name no user has as for alice, and no user row for the unknown one."""

    def answers(username: str) -> list[str]:
        messages = []
        for _ in range(5):
            with pytest.raises(AuthenticationError) as excinfo:
                strict.authenticate(username, "whatever-password")
            messages.append(str(excinfo.value))
        return messages

    before = user_count(db)
    known, unknown = answers("alice"), answers("nobody")
    assert known == unknown
    assert known[:3] == [
        "Username or password is incorrect. 2 attempts left before a temporary lockout.",
        "Username or password is incorrect. 1 attempt left before a temporary lockout.",
        "Too many failed sign-ins. This account is locked for 15 more minutes.",
    ]
    assert known[3:] == [known[2]] * 2
    assert user_count(db) == before
    assert "nobody" not in database_text(db), "attempted names are stored as digests only"
    with Session(db) as session:
        locked = session.exec(select(AuditEvent).where(AuditEvent.action == "user.locked")).all()
    assert sorted(e.actor for e in locked) == sorted(["alice", UNKNOWN_ACTOR])


def test_usernames_are_normalised_like_the_login_form(strict: UserService, db: Engine) -> None:
    for name in ("Alice", " ALICE "):
        with pytest.raises(AuthenticationError, match="attempt"):
            strict.authenticate(name, "wrong-password")
    with pytest.raises(AuthenticationError, match="locked"):
        strict.authenticate("alice", "wrong-password")
    assert failures_of(db, "aLiCe") is not None


def test_an_unknown_name_costs_the_same_bcrypt_work(strict: UserService, monkeypatch: pytest.MonkeyPatch) -> None:
    """Equal timing, asserted without a clock: the same number of bcrypt checks, against
    hashes of the same cost, for a known and an unknown username, at every step."""
    import bcrypt

    checked: list[str] = []
    real_checkpw = bcrypt.checkpw

    def checkpw(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed.decode()[:7])  # "$2b$04$": the algorithm and its cost
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", checkpw)
    costs = {}
    for username in ("alice", "nobody"):
        checked.clear()
        for _ in range(5):  # three counted failures, then two while locked
            with pytest.raises(AuthenticationError):
                strict.authenticate(username, "wrong-password")
        costs[username] = list(checked)
    assert costs["alice"] == costs["nobody"] == [hash_password("x")[:7]] * 5


def test_stale_failures_are_forgotten_and_their_rows_deleted(strict: UserService, db: Engine) -> None:
    for name in ("alice", "nobody", "someone-else"):
        with pytest.raises(AuthenticationError):
            strict.authenticate(name, "wrong-password")
    with Session(db) as session:  # 16 minutes later (the lockout window is 15)
        for row in session.exec(select(SignInFailures)).all():
            row.last_failed_at = utcnow() - timedelta(minutes=16)
            session.add(row)
        session.commit()
    with pytest.raises(AuthenticationError) as excinfo:
        strict.authenticate("nobody", "wrong-password")
    assert "2 attempts left" in str(excinfo.value), "a stale count starts again"
    with Session(db) as session:
        assert len(session.exec(select(SignInFailures)).all()) == 1


def test_disabled_account_answers_like_any_other_to_a_wrong_password(
    strict: UserService, admin: Actor, db: Engine
) -> None:
    """Only the right password may learn that an account exists but is disabled."""
    strict.set_disabled(admin, "alice", True)
    for _ in range(2):
        with pytest.raises(AuthenticationError, match=r"incorrect.*attempt"):
            strict.authenticate("alice", "wrong-password")
    with pytest.raises(AuthenticationError, match="disabled"):
        strict.authenticate("alice", "alice-password-1")


def test_sign_out_ends_every_earlier_session(users: UserService, alice: Actor) -> None:
    before = utcnow() - timedelta(seconds=1)
    assert users.session_still_valid("alice", before)
    users.end_sessions("alice")
    assert not users.session_still_valid("alice", before), "a cookie from before sign-out must be refused"
    assert users.session_still_valid("alice", utcnow() + timedelta(seconds=1)), "a later sign-in works"
    assert not users.session_still_valid("nobody", utcnow())


# PostgreSQL only: on SQLite the session's BEGIN IMMEDIATE already serialises the two (here,
# in one thread, the other process's insert would wait for this one's lock forever).
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_first_admin_created_by_another_process_meanwhile_is_not_an_error(
    db: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The chart's portal and worker start together on a fresh database: both find no user,
    # and the other one inserts the admin while this one is hashing the password. The loser
    # used to crash on the unique username (a worker restart on the real node).
    other = UserService(db, settings)
    real_hash = hash_password
    calls: list[str] = []

    def hash_while_the_other_process_inserts(password: str) -> str:
        calls.append(password)
        if len(calls) == 1:
            assert other.ensure_first_admin() == "the ADMIN_PASSWORD setting"
        return real_hash(password)

    monkeypatch.setattr("provisioning.users.hash_password", hash_while_the_other_process_inserts)
    assert UserService(db, settings).ensure_first_admin() is None
    assert len(calls) == 2  # this process hashed, then the other one did, inside its hash
    assert user_count(db) == 1
    with Session(db) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "user.create")).all()
    assert [event.detail for event in events] == ["first admin admin"]
    assert UserService(db, settings).authenticate("admin", "first-admin-password").is_admin
