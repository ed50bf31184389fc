"""Sign-in answers do not tell which usernames exist (issue 16): the login form and the
API's HTTP Basic sign-in answer a username that does not exist exactly as one that does,
with a wrong password: the same messages at every step, the lockout included, and the same
bcrypt work (counted, not timed: a timed assertion would flake on a busy machine)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from sqlalchemy import func
from sqlmodel import Session, select
from starlette.requests import Request
from streamlit.testing.v1 import AppTest

from portal.api import StoreApi
from provisioning.models import AuditEvent, User
from provisioning.platform import Platform
from provisioning.users import UNKNOWN_ACTOR
from tests.reliability.support import ROOT
from tests.security.conftest import PASSWORDS
from tests.shared.apptest import submit_sign_in
from tests.shared.portal import build_platform, portal_env
from tests.shared.servers import api_request, run_portal

KNOWN, UNKNOWN = "alice", "nobody"


class BcryptChecks:
    """Every bcrypt password check made in this process, as the cost prefix of the hash it
    was checked against ("$2b$04$"): equal lists mean equal bcrypt work."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.costs: list[str] = []
        real = bcrypt.checkpw

        def checkpw(password: bytes, hashed: bytes) -> bool:
            self.costs.append(hashed.decode()[:7])
            return real(password, hashed)

        monkeypatch.setattr(bcrypt, "checkpw", checkpw)

    def take(self) -> list[str]:
        costs, self.costs = self.costs, []
        return costs


def user_count(platform: Platform) -> int:
    with Session(platform.db) as session:
        return int(session.exec(select(func.count()).select_from(User)).one())


# -- the login form ---------------------------------------------------------------------------


def signed_in(at: AppTest) -> object:
    return at.session_state["actor"] if "actor" in at.session_state else None  # noqa: SIM401 (not a dict)


def form_answers(username: str, attempts: int) -> list[str]:
    """The error messages of ``attempts`` sign-ins with a wrong password, one session."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    answers = []
    for i in range(attempts):
        submit_sign_in(at, username, f"wrong-password-{i}")
        assert not at.exception, at.exception
        assert signed_in(at) is None
        answers.append(" | ".join(e.value for e in at.error))
    return answers


def test_the_form_answers_an_unknown_username_like_a_known_one(
    portal: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks = BcryptChecks(monkeypatch)
    attempts = portal.settings.max_failed_logins + 2  # counted down, locked, then still locked
    users_before = user_count(portal)
    known, known_checks = form_answers(KNOWN, attempts), checks.take()
    unknown, unknown_checks = form_answers(UNKNOWN, attempts), checks.take()
    assert known == unknown, (known, unknown)
    limit, minutes = portal.settings.max_failed_logins, portal.settings.lockout_minutes
    assert known[0] == f"Username or password is incorrect. {limit - 1} attempts left before a temporary lockout."
    locked = f"Too many failed sign-ins. This account is locked for {minutes} more minutes."
    assert known[limit - 1 :] == [locked] * 3, known
    # The same bcrypt work, against hashes of the same cost, at every step.
    assert known_checks == unknown_checks == [known_checks[0]] * attempts, (known_checks, unknown_checks)
    # No user row for the unknown name; both locks audited, the unknown one without its name.
    assert user_count(portal) == users_before
    with Session(portal.db) as session:
        locks = session.exec(select(AuditEvent).where(AuditEvent.action == "user.locked")).all()
    assert sorted(e.actor for e in locks) == sorted([KNOWN, UNKNOWN_ACTOR])
    assert not [e for e in locks if UNKNOWN in e.actor + e.detail]


def test_the_form_treats_case_and_spaces_as_the_same_username(portal: Platform) -> None:
    limit = portal.settings.max_failed_logins
    mixed = form_answers(" Nobody ", limit - 1)
    assert "1 attempt left" in mixed[-1], mixed
    assert "locked" in form_answers("NOBODY", 1)[0]


def test_a_disabled_account_says_so_only_to_the_right_password(portal: Platform) -> None:
    portal.users.set_disabled(portal.users.get_actor("admin"), KNOWN, True)
    assert form_answers(KNOWN, 2) == form_answers(UNKNOWN, 2)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    submit_sign_in(at, KNOWN, PASSWORDS[KNOWN])
    assert [e.value for e in at.error] == ["Your account is disabled. Contact an administrator."]
    assert signed_in(at) is None


def test_a_password_typed_as_a_username_is_not_stored(portal: Platform) -> None:
    form_answers("Zz9!my-secret-typed-here", 1)
    with Session(portal.db) as session:
        stored = session.exec(select(User.username)).all()
        rows = session.connection().exec_driver_sql("SELECT * FROM sign_in_failures").all()
        audit = session.exec(select(AuditEvent)).all()
    assert rows and not [r for r in rows if "secret" in str(r)]
    assert not [u for u in stored if "secret" in u] and not [e for e in audit if "secret" in e.detail + e.actor]


# -- the API ------------------------------------------------------------------------------------


def basic_request(username: str, password: str) -> Request:
    token = base64.b64encode(f"{username}:{password}".encode())
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/stores",
        "query_string": b"",
        "headers": [(b"authorization", b"Basic " + token)],
    }
    return Request(scope)


def test_the_api_costs_the_same_bcrypt_work_for_an_unknown_username(
    portal: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process (the server test below cannot count inside the server): the API's own
    HTTP Basic path, with the same lockout, for a known and an unknown username."""
    api = StoreApi(lambda: portal)
    checks = BcryptChecks(monkeypatch)
    answers = {}
    costs = {}
    for username in (KNOWN, UNKNOWN):
        replies = [
            api._call(api.list_stores, basic_request(username, "wrong-password"), None)
            for _ in range(portal.settings.max_failed_logins + 1)
        ]
        answers[username] = [(r.status_code, bytes(r.body), r.headers.get("www-authenticate")) for r in replies]
        costs[username] = checks.take()
    assert answers[KNOWN] == answers[UNKNOWN]
    assert costs[KNOWN] == costs[UNKNOWN] == [costs[KNOWN][0]] * (portal.settings.max_failed_logins + 1)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("probing")
    env = portal_env(workdir, reconciler=None, inherit=True, MAX_FAILED_LOGINS="3", LOCKOUT_MINUTES="15")
    build_platform(env, users=("alice", "bob")).db.dispose()
    with run_portal(env, workdir / "portal.log") as url:
        yield url


def api_answers(url: str, username: str, attempts: int) -> list[tuple[int, Any]]:
    return [api_request(url, "GET", "/api/stores", user=username, password="wrong-password") for _ in range(attempts)]


@pytest.mark.process
def test_the_api_answers_an_unknown_username_like_a_known_one(api: str, tmp_path: Path) -> None:
    known, unknown = api_answers(api, KNOWN, 5), api_answers(api, UNKNOWN, 5)
    assert known == unknown, (known, unknown)
    assert [status for status, _ in known] == [401] * 5
    assert [body["error"] for _, body in known] == [
        "Username or password is incorrect. 2 attempts left before a temporary lockout.",
        "Username or password is incorrect. 1 attempt left before a temporary lockout.",
    ] + ["Too many failed sign-ins. This account is locked for 15 more minutes."] * 3
    # The lock holds against the right password too; another account is not affected.
    status, body = api_request(api, "GET", "/api/stores", user=KNOWN)
    assert status == 401 and "locked" in body["error"]
    assert api_request(api, "GET", "/api/stores", user="bob")[0] == 200
