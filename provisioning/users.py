"""Users: bcrypt hashes, roles, disable, lockout, and the first admin.

The login widget (streamlit-authenticator) and the API's HTTP Basic sign-in both check
passwords here (`verify_password`); the lockout lives here too, in the database, so it
holds across sessions and replicas. A sign-in for a username that does not exist costs
the same bcrypt work and gets the same answers, lockout included, as one that does.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

import bcrypt
from sqlalchemy import delete
from sqlalchemy.engine import Engine as DbEngine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from provisioning import audit, credentials
from provisioning.actors import Actor
from provisioning.db import session_scope
from provisioning.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from provisioning.local_secrets import LocalSecrets
from provisioning.models import Role, SignInFailures, User, utcnow
from provisioning.names import validate_username
from provisioning.observability import metrics
from provisioning.settings import Settings

log = logging.getLogger(__name__)
MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


def check_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), password_hash.encode())
    except ValueError:
        return False


# -- sign-in answers that do not tell whether a username exists ----------------------------

FAILED_SIGN_IN = "Username or password is incorrect."
UNKNOWN_ACTOR = "(unknown username)"  # audit actor of a lock on a name no user has
_dummy_hashes: dict[bytes, str] = {}


def normalise_username(raw: str) -> str:
    """The name a sign-in is for, as the login widget normalises it (and the API too)."""
    return raw.strip().lower()


def _failures_key(username: str) -> str:
    return hashlib.sha256(normalise_username(username).encode()).hexdigest()


def _dummy_hash() -> str:
    """A hash no password matches, at the cost new hashes get: what an unknown name is
    checked against, so that it costs the same bcrypt work as a real account."""
    salt = bcrypt.gensalt()
    cost = salt.rsplit(b"$", 1)[0]
    if cost not in _dummy_hashes:
        _dummy_hashes[cost] = bcrypt.hashpw(secrets.token_hex(16).encode(), salt).decode()
    return _dummy_hashes[cost]


def _locked_message(locked_until: datetime) -> str:
    minutes = max(1, int((locked_until - utcnow()).total_seconds() // 60) + 1)
    return f"Too many failed sign-ins. This account is locked for {minutes} more minute{'s' if minutes != 1 else ''}."


def _validate_password(password: object) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"Passwords must be at least {MIN_PASSWORD_LENGTH} characters long.", field="password")
    if len(password.encode()) > 72:
        raise ValidationError("Passwords can be at most 72 bytes long.", field="password")
    return password


class UserService:
    def __init__(self, db: DbEngine, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        _dummy_hash()  # made now, so the first unknown name does not take longer than the rest

    def ensure_first_admin(self, *, local_secrets: LocalSecrets | None = None) -> str | None:
        """Create the first admin when there is no user at all.

        The password comes from ADMIN_PASSWORD or is generated once and written to the
        local secrets file (0600); the return value says where, for the console. Never
        logged, never stored in plain text. Safe to race (the portal and the worker start
        together on a fresh database): the process that loses returns None.
        """
        with session_scope(self.db) as session:
            if session.exec(select(User.id).limit(1)).first() is not None:
                return None
            password = self.settings.admin_password
            where = "the ADMIN_PASSWORD setting"
            if not password:
                if local_secrets is None:
                    raise ValidationError("ADMIN_PASSWORD is not set and no local secrets file is configured.")
                password = local_secrets.get_or_create("ADMIN_PASSWORD", lambda: credentials.password(20))
                where = str(local_secrets.path)
            username = validate_username(self.settings.admin_username)
            session.add(
                User(
                    username=username,
                    display_name="Administrator",
                    password_hash=hash_password(password),
                    role=Role.ADMIN,
                )
            )
            audit.record(session, actor="system", action="user.create", detail=f"first admin {username}")
            try:
                session.flush()
            except IntegrityError:
                # Both saw no user and the other inserted first (bcrypt makes the window wide).
                session.rollback()
                return None
        log.warning("Created the first admin %r; its password is in %s", username, where)
        return where

    def create_user(
        self,
        actor: Actor,
        username: object,
        password: object,
        *,
        role: str = Role.USER,
        display_name: str = "",
        email: str = "",
    ) -> User:
        self._require_admin(actor)
        username = validate_username(username)
        password = _validate_password(password)
        if role not in (Role.USER, Role.ADMIN):
            raise ValidationError(f"Unknown role {role!r}.", field="role")
        with session_scope(self.db) as session:
            if session.exec(select(User.id).where(User.username == username)).first() is not None:
                raise ValidationError(f"The username {username!r} is taken.", field="username")
            user = User(
                username=username,
                display_name=display_name.strip()[:100],
                email=email.strip()[:254],
                password_hash=hash_password(password),
                role=role,
            )
            session.add(user)
            audit.record(session, actor=actor.username, action="user.create", detail=f"{username} ({role})")
            try:
                session.flush()
            except IntegrityError:
                raise ValidationError(f"The username {username!r} is taken.", field="username") from None
        return user

    def set_disabled(self, actor: Actor, username: str, disabled: bool) -> None:
        self._require_admin(actor)
        if username == actor.username and disabled:
            raise PermissionDeniedError("You cannot disable your own account.")
        with session_scope(self.db) as session:
            user = self._get(session, username)
            user.disabled = disabled
            session.add(user)
            audit.record(
                session, actor=actor.username, action="user.disable" if disabled else "user.enable", detail=username
            )

    def reset_password(self, actor: Actor, username: str, new_password: object) -> None:
        self._require_admin(actor)
        password = _validate_password(new_password)
        with session_scope(self.db) as session:
            user = self._get(session, username)
            user.password_hash = hash_password(password)
            session.add(user)
            failures = session.get(SignInFailures, _failures_key(user.username))
            if failures is not None:
                session.delete(failures)
            audit.record(session, actor=actor.username, action="user.reset_password", detail=username)

    def list_users(self, actor: Actor) -> list[User]:
        self._require_admin(actor)
        with Session(self.db) as session:
            return list(session.exec(select(User).order_by(col(User.username))).all())

    def get_actor(self, username: str) -> Actor:
        """The Actor for a signed-in username, re-checked on every page run."""
        with Session(self.db) as session:
            user = session.exec(select(User).where(User.username == username)).first()
            if user is None or user.disabled:
                raise AuthenticationError("Your account is disabled. Contact an administrator.")
            return Actor.of(user)

    # -- sign-in --------------------------------------------------------------------------

    def login_credentials(self) -> dict[str, Any]:
        """The dict streamlit-authenticator expects, built from the users table."""
        with Session(self.db) as session:
            users = session.exec(select(User).where(col(User.disabled).is_(False))).all()
        return {
            "usernames": {
                u.username: {
                    "email": u.email,
                    "first_name": u.display_name or u.username,
                    "last_name": "",
                    "password": u.password_hash,
                    "roles": [u.role],
                    "failed_login_attempts": 0,
                    "logged_in": False,
                }
                for u in users
            }
        }

    def verify_password(self, username: str, password: str) -> bool:
        """The bcrypt check of a sign-in, costing the same whether or not `username` exists.

        An unknown name is checked against a dummy hash of the same cost, so the response
        time does not tell which usernames exist. Lockout and disabled accounts are left
        to `record_failed_login` and `check_lockout`.
        """
        username = normalise_username(username)
        with Session(self.db) as session:
            user = session.exec(select(User).where(User.username == username)).first()
        matches = check_password(password, user.password_hash if user is not None else _dummy_hash())
        return matches and user is not None

    def check_lockout(self, username: str) -> None:
        """Raise if the account may not sign in now (after a successful password check);
        else record the sign-in (audited; the failure count starts again)."""
        username = normalise_username(username)
        with session_scope(self.db) as session:
            refusal = self._refusal(session, username)
            if refusal:
                raise AuthenticationError(refusal)
            failures = session.get(SignInFailures, _failures_key(username))
            if failures is not None:
                session.delete(failures)
            audit.record(session, actor=username, action="user.login")

    def refusal(self, username: str) -> str | None:
        """Why `username` may not sign in now even with the right password (locked,
        disabled, no such user), or None; changes nothing."""
        with Session(self.db) as session:
            return self._refusal(session, normalise_username(username))

    @staticmethod
    def _refusal(session: Session, username: str) -> str | None:
        failures = session.get(SignInFailures, _failures_key(username))
        if failures is not None and failures.locked_until and failures.locked_until > utcnow():
            return _locked_message(failures.locked_until)
        user = session.exec(select(User).where(User.username == username)).first()
        if user is None or user.disabled:
            return "Your account is disabled. Contact an administrator."
        return None

    def record_failed_login(self, username: str) -> str:
        """Count a failure; returns the message to show (mentions the lockout when reached).

        Counted per normalised name whether or not such a user exists, with the same
        messages, so that the answers cannot tell which usernames exist. Counts older than
        the lockout window are forgotten (and their rows deleted: the table stays small).
        """
        username = normalise_username(username)
        for attempt in range(2):
            try:
                return self._record_failed_login(username)
            except IntegrityError:  # a concurrent first failure of the same name inserted the row
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _record_failed_login(self, username: str) -> str:
        now = utcnow()
        window = timedelta(minutes=self.settings.lockout_minutes)
        key = _failures_key(username)
        with session_scope(self.db) as session:
            session.execute(delete(SignInFailures).where(col(SignInFailures.last_failed_at) < now - window))
            failures = session.get(SignInFailures, key, with_for_update=True)
            if failures is not None and failures.locked_until and failures.locked_until > now:
                metrics.LOGIN_FAILURES.inc()
                return _locked_message(failures.locked_until)
            if failures is None:
                failures = SignInFailures(key=key, failures=0, last_failed_at=now)
            failures.failures += 1
            failures.last_failed_at = now
            session.add(failures)
            if failures.failures >= self.settings.max_failed_logins:
                failures.failures = 0
                failures.locked_until = now + window
                exists = session.exec(select(User.id).where(User.username == username)).first() is not None
                audit.record(
                    session,
                    actor=username if exists else UNKNOWN_ACTOR,
                    action="user.locked",
                    detail="too many failed sign-ins" + ("" if exists else " with a username that does not exist"),
                )
                session.flush()  # a concurrent first failure fails here, before counting
                metrics.LOGIN_FAILURES.inc()
                metrics.LOGIN_LOCKOUTS.inc()
                return _locked_message(failures.locked_until)
            session.flush()
            metrics.LOGIN_FAILURES.inc()
            left = self.settings.max_failed_logins - failures.failures
            return f"{FAILED_SIGN_IN} {left} attempt{'s' if left != 1 else ''} left before a temporary lockout."

    def authenticate(self, username: str, password: str) -> Actor:
        """Password check with lockout, for callers that do not use the login widget."""
        username = normalise_username(username)
        if not self.verify_password(username, password):
            raise AuthenticationError(self.record_failed_login(username))
        self.check_lockout(username)
        return self.get_actor(username)

    def end_sessions(self, username: str) -> None:
        """Sign-out: every sign-in cookie issued until now stops working, in every browser."""
        with session_scope(self.db) as session:
            user = session.exec(select(User).where(User.username == username)).first()
            if user is None:
                return
            user.sessions_valid_after = utcnow()
            session.add(user)
            audit.record(session, actor=username, action="user.logout")

    def session_still_valid(self, username: str, issued_at: datetime) -> bool:
        """Whether a sign-in cookie issued at `issued_at` may still sign `username` in."""
        with Session(self.db) as session:
            user = session.exec(select(User).where(User.username == username)).first()
        if user is None or user.disabled:
            return False
        return user.sessions_valid_after is None or issued_at > user.sessions_valid_after

    @staticmethod
    def _get(session: Session, username: str) -> User:
        user = session.exec(select(User).where(User.username == username)).first()
        if user is None:
            raise NotFoundError(f"No user named {username!r}.")
        return user

    @staticmethod
    def _require_admin(actor: Actor) -> None:
        if not actor.is_admin:
            raise PermissionDeniedError("Only administrators can manage users.")
