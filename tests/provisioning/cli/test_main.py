"""Actor checks, exit codes, global options and a real `python -m provisioning` process."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from provisioning.cli import main as cli_main
from provisioning.cli.main import ACTOR_ENV, INTERNAL, NOT_ADMIN, OK, REFUSED, USAGE
from provisioning.platform import Platform
from tests.shared.portal import ROOT, create_users, portal_env


def test_no_actor_is_refused_with_code_4(cli: Any) -> None:
    result = cli("users", "list")
    assert result.code == NOT_ADMIN
    assert "--as NAME" in result.err and ACTOR_ENV in result.err
    assert result.out == ""


@pytest.mark.parametrize("name", ["alice", "nobody"])
def test_a_non_admin_or_unknown_actor_is_refused_with_code_4(cli: Any, name: str) -> None:
    result = cli("--as", name, "users", "list")
    assert result.code == NOT_ADMIN
    assert repr(name) in result.err and "Traceback" not in result.err


def test_a_disabled_admin_is_refused(cli: Any, platform: Platform) -> None:
    create_users(platform.users, "root2", role="admin")
    assert cli("--as", "admin", "users", "disable", "root2").code == OK
    assert cli("--as", "root2", "users", "list").code == NOT_ADMIN


def test_the_actor_comes_from_the_environment(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ACTOR_ENV, "Admin ")  # normalised as the sign-in form does
    assert cli("users", "list").code == OK


def test_global_options_work_after_the_command_too(cli: Any) -> None:
    result = cli("users", "list", "--as", "admin", "--json")
    assert result.code == OK
    assert {u["username"] for u in result.json()["users"]} == {"admin", "alice", "bob"}


@pytest.mark.parametrize(
    "argv",
    [[], ["users"], ["bogus"], ["--as", "admin", "stores", "list", "--status", "nope"], ["users", "create"]],
)
def test_usage_errors_exit_2(cli: Any, argv: list[str]) -> None:
    assert cli(*argv).code == USAGE


def test_help_documents_the_exit_codes(cli: Any) -> None:
    result = cli("--help")
    assert result.code == OK
    assert "Exit codes:" in result.out and "manage.py" in result.out


def test_bad_settings_are_a_refusal(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_STORES_PER_USER", "zero")
    result = cli("--as", "admin", "users", "list")
    assert result.code == REFUSED
    assert "MAX_STORES_PER_USER" in result.err


def test_unexpected_errors_are_one_line_unless_debug(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli_main, "resolve_actor", broken)
    quiet = cli("--as", "admin", "users", "list")
    assert (quiet.code, quiet.err) == (INTERNAL, "error: internal error: see --debug\n")
    loud = cli("--debug", "--as", "admin", "users", "list")
    assert loud.code == INTERNAL and "Traceback" in loud.err and "RuntimeError: boom" in loud.err


def run_process(env: dict[str, str], *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provisioning", *argv],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.process
def test_python_dash_m_provisioning_as_a_real_process(tmp_path: Any) -> None:
    """The documented entry point, with settings and the actor from the environment only."""
    env = portal_env(tmp_path, inherit=True, **{ACTOR_ENV: "admin"})
    created = run_process(env, "--json", "users", "create", "carol", "--password-stdin", stdin="carol-password-1\n")
    assert created.returncode == OK, created.stderr
    assert json.loads(created.stdout)["user"]["username"] == "carol"
    assert "password" not in json.loads(created.stdout)

    listed = run_process(env, "--json", "users", "list")
    assert listed.returncode == OK, listed.stderr
    assert [u["username"] for u in json.loads(listed.stdout)["users"]] == ["admin", "carol"]

    refused = run_process({**env, ACTOR_ENV: "carol"}, "--json", "users", "list")
    assert (refused.returncode, refused.stdout) == (NOT_ADMIN, "")
    assert "not an admin" in refused.stderr and "Traceback" not in refused.stderr

    missing = run_process(env, "stores", "show", "no-such-store")
    assert missing.returncode == 3 and "no-such-store" in missing.stderr
