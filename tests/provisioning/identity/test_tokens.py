"""Personal API tokens in the service layer: shown once, stored as a digest, revocable,
expiring, refused for disabled users, audited, and never a bcrypt check."""

from __future__ import annotations

from datetime import timedelta

import bcrypt
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from provisioning.actors import Actor
from provisioning.errors import (
    AuthenticationError,
    LimitExceededError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from provisioning.identity import TOKEN_PREFIX, TokenService, hash_token
from provisioning.identity import tokens as tokens_module
from provisioning.models import ApiToken, AuditEvent, utcnow
from provisioning.settings import Settings
from provisioning.users import UserService


@pytest.fixture
def tokens(db: Engine, settings: Settings) -> TokenService:
    return TokenService(db, settings)


def audit_rows(db: Engine, action: str) -> list[AuditEvent]:
    with Session(db) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id))))


def stored(db: Engine, token_id: int) -> ApiToken:
    with Session(db) as session:
        row = session.get(ApiToken, token_id)
        assert row is not None
        return row


def test_the_token_is_shown_once_and_only_its_digest_is_stored(tokens: TokenService, db: Engine, alice: Actor) -> None:
    new = tokens.create_token(alice, "ci-deploy")
    assert new.token.startswith(TOKEN_PREFIX) and len(new.token) >= 40
    assert new.info.name == "ci-deploy" and new.info.owner == "alice" and new.info.active
    assert new.info.hint == new.token[: len(new.info.hint)] and len(new.info.hint) < 12
    row = stored(db, new.info.id)
    assert row.token_hash == hash_token(new.token) != new.token
    with db.connect() as connection:
        dump = " ".join(str(v) for r in connection.execute(text("SELECT * FROM api_tokens")) for v in r)
    assert new.token not in dump
    listed = tokens.list_tokens(alice)
    assert [t.id for t in listed] == [new.info.id]
    assert not any(new.token in str(value) for value in vars(listed[0]).values())
    assert tokens.authenticate(new.token) == alice


def test_bad_names_and_expiries_are_refused(tokens: TokenService, alice: Actor) -> None:
    with pytest.raises(ValidationError, match="name"):
        tokens.create_token(alice, "   ")
    with pytest.raises(ValidationError, match="at most"):
        tokens.create_token(alice, "x" * 65)
    with pytest.raises(ValidationError, match="future") as error:
        tokens.create_token(alice, "late", expires_at=utcnow() - timedelta(minutes=1))
    assert error.value.field == "expires_at"
    tokens.create_token(alice, "ci")
    with pytest.raises(ValidationError, match="already have"):
        tokens.create_token(alice, "ci")


def test_the_number_of_active_tokens_is_limited(
    tokens: TokenService, alice: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens_module, "MAX_ACTIVE_TOKENS", 2)
    first = tokens.create_token(alice, "one")
    tokens.create_token(alice, "two")
    with pytest.raises(LimitExceededError):
        tokens.create_token(alice, "three")
    tokens.revoke_token(alice, first.info.id)
    tokens.create_token(alice, "three")


def test_unknown_and_malformed_tokens_are_refused(tokens: TokenService, alice: Actor) -> None:
    new = tokens.create_token(alice, "ci")
    for token in ("", "spt_", "not-a-token", new.token[:-1] + ("A" if new.token[-1] != "A" else "B"), new.token + "x"):
        with pytest.raises(AuthenticationError, match="not valid"):
            tokens.authenticate(token)


def test_a_revoked_token_is_refused_at_once_and_revoking_is_audited(
    tokens: TokenService, db: Engine, alice: Actor, bob: Actor
) -> None:
    new = tokens.create_token(alice, "laptop")
    assert tokens.authenticate(new.token) == alice
    with pytest.raises(NotFoundError):  # not bob's: the same answer as a token that does not exist
        tokens.revoke_token(bob, new.info.id)
    assert tokens.authenticate(new.token) == alice
    revoked = tokens.revoke_token(alice, new.info.id)
    assert revoked.state() == "revoked"
    with pytest.raises(AuthenticationError, match="revoked"):
        tokens.authenticate(new.token)
    tokens.revoke_token(alice, new.info.id)  # again: nothing changes, nothing more audited
    with pytest.raises(NotFoundError):
        tokens.revoke_token(alice, 999_999)
    created, revokes = audit_rows(db, "token.create"), audit_rows(db, "token.revoke")
    assert [(e.actor, e.detail.split(" ")[0]) for e in created] == [("alice", "laptop")]
    assert [(e.actor, e.detail.split(" ")[0]) for e in revokes] == [("alice", "laptop")]
    assert new.token not in " ".join(e.detail for e in created + revokes)


def test_an_expired_token_is_refused(tokens: TokenService, db: Engine, alice: Actor) -> None:
    new = tokens.create_token(alice, "short", expires_at=utcnow() + timedelta(hours=1))
    assert tokens.authenticate(new.token) == alice
    with Session(db) as session:
        row = session.get(ApiToken, new.info.id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
        session.commit()
    with pytest.raises(AuthenticationError, match="expired"):
        tokens.authenticate(new.token)
    assert tokens.list_tokens(alice)[0].state() == "expired"
    assert tokens.list_tokens(alice, include_inactive=False) == []


def test_a_disabled_users_tokens_are_refused(
    tokens: TokenService, users: UserService, admin: Actor, alice: Actor
) -> None:
    new = tokens.create_token(alice, "ci")
    users.set_disabled(admin, "alice", True)
    with pytest.raises(AuthenticationError, match="disabled"):
        tokens.authenticate(new.token)
    with pytest.raises(AuthenticationError, match="disabled"):
        tokens.create_token(alice, "another")
    users.set_disabled(admin, "alice", False)
    assert tokens.authenticate(new.token) == alice


def test_admins_see_and_revoke_everyones_tokens_users_only_their_own(
    tokens: TokenService, db: Engine, admin: Actor, alice: Actor, bob: Actor
) -> None:
    alices = tokens.create_token(alice, "alices")
    bobs = tokens.create_token(bob, "bobs")
    assert [t.name for t in tokens.list_tokens(alice)] == ["alices"]
    with pytest.raises(PermissionDeniedError):
        tokens.list_all_tokens(alice)
    assert {(t.owner, t.name) for t in tokens.list_all_tokens(admin)} == {("alice", "alices"), ("bob", "bobs")}
    tokens.revoke_token(admin, bobs.info.id)
    with pytest.raises(AuthenticationError, match="revoked"):
        tokens.authenticate(bobs.token)
    assert tokens.authenticate(alices.token) == alice
    (event,) = audit_rows(db, "token.revoke")
    assert event.actor == "admin" and event.detail.endswith("of bob")


def test_a_token_call_costs_no_bcrypt(tokens: TokenService, alice: Actor, monkeypatch: pytest.MonkeyPatch) -> None:
    new = tokens.create_token(alice, "ci")

    def no_bcrypt(*_args: object) -> bool:
        raise AssertionError("bcrypt on the token path")

    monkeypatch.setattr(bcrypt, "checkpw", no_bcrypt)
    monkeypatch.setattr(bcrypt, "hashpw", no_bcrypt)
    for _ in range(3):
        assert tokens.authenticate(new.token) == alice


def test_last_used_is_written_at_most_once_a_minute(
    tokens: TokenService, db: Engine, alice: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = tokens.create_token(alice, "busy")
    assert stored(db, new.info.id).last_used_at is None
    writes: list[int] = []
    touch = tokens._touch
    monkeypatch.setattr(tokens, "_touch", lambda token_id, now: (writes.append(token_id), touch(token_id, now)))
    for _ in range(20):
        tokens.authenticate(new.token)
    first = stored(db, new.info.id).last_used_at
    assert first is not None and len(writes) == 1
    assert tokens.list_tokens(alice)[0].last_used_at == first

    # A minute later (as the database sees it) the next call records the use again, once.
    with Session(db) as session:
        row = session.get(ApiToken, new.info.id)
        assert row is not None
        row.last_used_at = first - timedelta(minutes=2)
        session.add(row)
        session.commit()
    tokens._touched.clear()
    for _ in range(5):
        tokens.authenticate(new.token)
    assert len(writes) == 2 and stored(db, new.info.id).last_used_at > first
