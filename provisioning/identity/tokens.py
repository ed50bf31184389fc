"""Personal API tokens: `Authorization: Bearer spt_...` on the REST API.

A token is a long random secret (256 bits) shown once, at creation; the database keeps
only its SHA-256 digest. Authenticating a call is one indexed lookup by digest: a token
cannot be guessed, so it needs no bcrypt (which exists to slow down guessing of short,
human-chosen passwords) and no lockout. The prefix `spt_` lets secret scanners find a
leaked token. Revoking or expiring a token, or disabling its owner, refuses the next call:
nothing about a token's validity is cached. The last-used time is written at most once a
minute per token, so a busy client does not write the database on every call.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, or_, update
from sqlalchemy.engine import Engine as DbEngine
from sqlmodel import Session, col, select

from provisioning import audit
from provisioning.actors import Actor
from provisioning.db import session_scope
from provisioning.errors import (
    AuthenticationError,
    LimitExceededError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from provisioning.models import ApiToken, User, utcnow
from provisioning.settings import Settings

TOKEN_PREFIX = "spt_"
_SECRET_BYTES = 32  # token_urlsafe(32): 43 characters
TOKEN_LENGTH = len(TOKEN_PREFIX) + 43
HINT_LENGTH = len(TOKEN_PREFIX) + 4  # what the pages show of a token: "spt_AbCd…"
MAX_NAME_LENGTH = 64
MAX_ACTIVE_TOKENS = 50  # per user: the table stays small, a leak has a bounded blast radius
LAST_USED_RESOLUTION = timedelta(minutes=1)

INVALID_TOKEN = "This API token is not valid. Create a new one on the portal's API tokens page."
REVOKED_TOKEN = "This API token was revoked. Create a new one on the portal's API tokens page."
EXPIRED_TOKEN = "This API token has expired. Create a new one on the portal's API tokens page."
DISABLED_ACCOUNT = "Your account is disabled. Contact an administrator."


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256 digest (hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(value: str) -> bool:
    return value.startswith(TOKEN_PREFIX) and len(value) == TOKEN_LENGTH


@dataclass(frozen=True)
class TokenInfo:
    """What a page may show about a token (never the token)."""

    id: int
    name: str
    hint: str
    owner: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime | None = None) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or utcnow()):
            return "expired"
        return "active"

    @property
    def active(self) -> bool:
        return self.state() == "active"


@dataclass(frozen=True)
class NewToken:
    """A token just created: `token` is its only appearance in plain text."""

    token: str
    info: TokenInfo


def _info(row: ApiToken, owner: str) -> TokenInfo:
    assert row.id is not None
    return TokenInfo(
        id=row.id,
        name=row.name,
        hint=row.hint,
        owner=owner,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _validate_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("Give the token a name that says where it is used, e.g. 'ci-deploy'.", field="name")
    name = " ".join(name.split())
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(f"Token names can be at most {MAX_NAME_LENGTH} characters long.", field="name")
    return name


def _active(now: datetime) -> tuple[Any, ...]:
    """WHERE clauses of the tokens that authenticate at `now`."""
    return (
        col(ApiToken.revoked_at).is_(None),
        or_(col(ApiToken.expires_at).is_(None), col(ApiToken.expires_at) > now),
    )


_BY_DIGEST = (
    select(
        col(ApiToken.id),
        col(ApiToken.revoked_at),
        col(ApiToken.expires_at),
        col(ApiToken.last_used_at),
        col(User.id).label("user_id"),
        col(User.username),
        col(User.role),
        col(User.disabled),
    )
    .join(User, col(User.id) == col(ApiToken.user_id))
    .where(col(ApiToken.token_hash) == bindparam("digest"))
)


class TokenService:
    def __init__(self, db: DbEngine, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        # token id -> monotonic time of this process's last write of last_used_at
        self._touched: dict[int, float] = {}
        self._touched_lock = threading.Lock()

    # -- managing tokens (the API tokens page) -------------------------------------------

    def create_token(self, actor: Actor, name: object, *, expires_at: datetime | None = None) -> NewToken:
        """A new token for `actor`; the returned token is the only time it is seen."""
        name = _validate_name(name)
        now = utcnow()
        if expires_at is not None and expires_at <= now:
            raise ValidationError("The expiry date must be in the future.", field="expires_at")
        token = TOKEN_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)
        with session_scope(self.db) as session:
            user = session.get(User, actor.id)
            if user is None or user.disabled:
                raise AuthenticationError(DISABLED_ACCOUNT)
            active = select(ApiToken.name).where(col(ApiToken.user_id) == actor.id, *_active(now))
            names = list(session.exec(active).all())
            if len(names) >= MAX_ACTIVE_TOKENS:
                raise LimitExceededError(
                    f"You have {MAX_ACTIVE_TOKENS} active tokens, the most allowed; revoke one you no longer use."
                )
            if name in names:
                raise ValidationError(f"You already have an active token named {name!r}.", field="name")
            row = ApiToken(
                user_id=actor.id,
                name=name,
                token_hash=hash_token(token),
                hint=token[:HINT_LENGTH],
                created_at=now,
                expires_at=expires_at,
            )
            session.add(row)
            expiry = f"expires {expires_at.isoformat(timespec='minutes')}" if expires_at else "no expiry"
            audit.record(session, actor=actor.username, action="token.create", detail=f"{name} ({row.hint}…), {expiry}")
            session.flush()
            return NewToken(token=token, info=_info(row, actor.username))

    def list_tokens(self, actor: Actor, *, include_inactive: bool = True) -> list[TokenInfo]:
        """The actor's own tokens, newest first."""
        return self._list(actor, owner_id=actor.id, include_inactive=include_inactive)

    def list_all_tokens(self, actor: Actor, *, include_inactive: bool = True) -> list[TokenInfo]:
        """Every user's tokens, newest first (administrators only)."""
        if not actor.is_admin:
            raise PermissionDeniedError("Only administrators can see other users' tokens.")
        return self._list(actor, owner_id=None, include_inactive=include_inactive)

    def revoke_token(self, actor: Actor, token_id: int) -> TokenInfo:
        """Revoke one of the actor's tokens (any user's, for an administrator).

        A token the actor may not revoke gets the same answer as one that does not exist.
        Revoking a revoked token changes nothing.
        """
        with session_scope(self.db) as session:
            row = session.get(ApiToken, token_id, with_for_update=True)
            if row is None or (row.user_id != actor.id and not actor.is_admin):
                raise NotFoundError("That token does not exist or is not yours.")
            owner = session.get(User, row.user_id)
            owner_name = owner.username if owner is not None else "?"
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                session.add(row)
                whose = "" if row.user_id == actor.id else f" of {owner_name}"
                audit.record(
                    session, actor=actor.username, action="token.revoke", detail=f"{row.name} ({row.hint}…){whose}"
                )
            session.flush()
            return _info(row, owner_name)

    # -- authenticating an API call ----------------------------------------------------

    def authenticate(self, token: str) -> Actor:
        """The Actor a bearer token acts as, or AuthenticationError (401).

        One indexed read by digest; a write only when the stored last-used time is more
        than LAST_USED_RESOLUTION old (and not already written by this process meanwhile).
        """
        if not looks_like_token(token):
            raise AuthenticationError(INVALID_TOKEN)
        # Core, not ORM, and one prebuilt statement: this runs on every API call.
        with self.db.connect() as connection:
            row = connection.execute(_BY_DIGEST, {"digest": hash_token(token)}).first()
        if row is None:
            raise AuthenticationError(INVALID_TOKEN)
        now = utcnow()
        if row.revoked_at is not None:
            raise AuthenticationError(REVOKED_TOKEN)
        if row.expires_at is not None and row.expires_at <= now:
            raise AuthenticationError(EXPIRED_TOKEN)
        if row.disabled:
            raise AuthenticationError(DISABLED_ACCOUNT)
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            self._touch(row.id, now)
        return Actor(id=row.user_id, username=row.username, role=row.role)

    def _touch(self, token_id: int, now: datetime) -> None:
        """Record a use, at most once per LAST_USED_RESOLUTION per token, across threads
        (this process's memo) and replicas (the conditional UPDATE)."""
        resolution = LAST_USED_RESOLUTION.total_seconds()
        with self._touched_lock:
            last = self._touched.get(token_id)
            if last is not None and time.monotonic() - last < resolution:
                return
            self._touched[token_id] = time.monotonic()
            if len(self._touched) > 10_000:  # forget the oldest half; the UPDATE still guards
                for key in sorted(self._touched, key=self._touched.__getitem__)[:5_000]:
                    del self._touched[key]
        with session_scope(self.db) as session:
            session.execute(
                update(ApiToken)
                .where(col(ApiToken.id) == token_id)
                .where(
                    or_(
                        col(ApiToken.last_used_at).is_(None),
                        col(ApiToken.last_used_at) <= now - LAST_USED_RESOLUTION,
                    )
                )
                .values(last_used_at=now)
            )

    # -- helpers -------------------------------------------------------------------------

    def _list(self, actor: Actor, *, owner_id: int | None, include_inactive: bool) -> list[TokenInfo]:
        now = utcnow()
        with Session(self.db) as session:
            query = select(ApiToken, User.username).join(User, col(User.id) == col(ApiToken.user_id))
            if owner_id is not None:
                query = query.where(col(ApiToken.user_id) == owner_id)
            if not include_inactive:
                query = query.where(*_active(now))
            rows = session.exec(query.order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())).all()
        return [_info(row, username) for row, username in rows]
