"""`users ...`: the service's checks and audit, passwords never on the command line."""

from __future__ import annotations

from typing import Any

import pytest

from provisioning.cli.main import NOT_FOUND, OK, REFUSED
from provisioning.errors import AuthenticationError
from provisioning.platform import Platform
from tests.provisioning.cli.conftest import audit_rows


def test_list_as_text_and_json(cli: Any) -> None:
    text = cli("--as", "admin", "users", "list")
    assert text.code == OK
    lines = text.out.splitlines()
    assert lines[0].split()[:3] == ["USERNAME", "ROLE", "DISABLED"]
    assert [line.split()[0] for line in lines[1:]] == ["admin", "alice", "bob"]
    data = cli("--as", "admin", "--json", "users", "list").json()
    assert data["count"] == 3
    assert all("password_hash" not in user for user in data["users"])


def test_create_generates_a_password_shown_once_that_signs_in(cli: Any, platform: Platform) -> None:
    result = cli("--as", "admin", "--json", "users", "create", "carol", "--role", "admin")
    assert result.code == OK
    data = result.json()
    assert data["user"]["role"] == "admin"
    password = data["password"]
    assert len(password) >= 20 and password.isalnum()
    assert platform.users.authenticate("carol", password).is_admin
    assert [(e.actor, e.detail) for e in audit_rows(platform, "user.create")][-1] == ("admin", "carol (admin)")
    listed = cli("--as", "admin", "--json", "users", "list")
    assert password not in listed.out  # shown once: nothing else ever prints it


def test_create_in_text_prints_the_password_on_one_line(cli: Any, platform: Platform) -> None:
    result = cli("--as", "admin", "users", "create", "dave")
    assert result.code == OK
    password = result.out.strip().splitlines()[-1].rsplit(" ", 1)[-1]
    assert platform.users.authenticate("dave", password).username == "dave"


def test_create_with_password_stdin(cli: Any, platform: Platform) -> None:
    result = cli("--as", "admin", "--json", "users", "create", "erin", "--password-stdin", stdin="erin-password-1\n")
    assert result.code == OK
    assert "password" not in result.json()
    assert "erin-password-1" not in result.out
    assert platform.users.authenticate("erin", "erin-password-1").username == "erin"


def test_short_password_and_taken_name_are_refused(cli: Any) -> None:
    short = cli("--as", "admin", "users", "create", "frank", "--password-stdin", stdin="short\n")
    assert short.code == REFUSED and "at least 10 characters" in short.err
    taken = cli("--as", "admin", "users", "create", "alice")
    assert taken.code == REFUSED and "taken" in taken.err
    assert "Traceback" not in short.err + taken.err


def test_a_password_argument_does_not_exist(cli: Any) -> None:
    result = cli("--as", "admin", "users", "create", "gina", "--password", "gina-password-1")
    assert result.code == 2 and "unrecognized arguments: --password" in result.err


def test_disable_and_enable(cli: Any, platform: Platform) -> None:
    disabled = cli("--as", "admin", "--json", "users", "disable", "alice")
    assert disabled.code == OK and disabled.json()["user"]["disabled"] is True
    with pytest.raises(AuthenticationError):
        platform.users.authenticate("alice", "alice-password-1")
    enabled = cli("--as", "admin", "users", "enable", "alice")
    assert enabled.code == OK and "Enabled 'alice'" in enabled.out
    assert platform.users.authenticate("alice", "alice-password-1").username == "alice"
    assert [e.actor for e in audit_rows(platform, "user.disable")] == ["admin"]
    assert [e.actor for e in audit_rows(platform, "user.enable")] == ["admin"]


def test_disabling_yourself_is_refused_and_unknown_users_are_not_found(cli: Any) -> None:
    own = cli("--as", "admin", "users", "disable", "admin")
    assert own.code == REFUSED and "your own account" in own.err
    assert cli("--as", "admin", "users", "disable", "nobody").code == NOT_FOUND
    assert cli("--as", "admin", "users", "reset-password", "nobody").code == NOT_FOUND


def test_reset_password_from_stdin_and_generated(cli: Any, platform: Platform) -> None:
    piped = cli("--as", "admin", "users", "reset-password", "bob", "--password-stdin", stdin="bob-new-password\n")
    assert piped.code == OK and "bob-new-password" not in piped.out
    assert platform.users.authenticate("bob", "bob-new-password").username == "bob"
    generated = cli("--as", "admin", "--json", "users", "reset-password", "bob")
    assert generated.code == OK
    assert platform.users.authenticate("bob", generated.json()["password"]).username == "bob"
    assert [e.actor for e in audit_rows(platform, "user.reset_password")] == ["admin", "admin"]
