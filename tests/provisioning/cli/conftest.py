"""The CLI's tests run `main(argv)` in-process against a fresh SQLite database, built the
portal's way (`portal_env`, `build_platform`: the first admin, alice and bob)."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from provisioning.cli.main import ACTOR_ENV, main
from provisioning.models import AuditEvent
from provisioning.platform import Platform
from tests.shared.portal import build_platform, portal_env, set_env


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The CLI's environment (also this process's): the portal's, acting as nobody yet."""
    values = portal_env(tmp_path)
    set_env(monkeypatch, values)
    monkeypatch.delenv(ACTOR_ENV, raising=False)
    return values


@pytest.fixture
def platform(env: dict[str, str]) -> Iterator[Platform]:
    """The test's own view of the same database, with alice and bob (and the admin)."""
    built = build_platform(env)
    yield built
    built.db.dispose()


@pytest.fixture
def cli(platform: Platform, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """`cli(*argv, stdin=...)` runs one command and returns its code, stdout and stderr."""

    def run(*argv: str, stdin: str = "") -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def audit_rows(platform: Platform, action: str) -> list[AuditEvent]:
    with Session(platform.db) as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id))
        return list(session.exec(query).all())
