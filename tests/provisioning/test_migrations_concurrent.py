"""Several processes migrating an empty PostgreSQL at once (a first install with replicas)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import text

from provisioning.db import make_engine
from tests.shared.portal import ROOT

pytestmark = pytest.mark.postgres

MIGRATE = (
    "import sys; from provisioning.db import make_engine, migrate; "
    "engine = make_engine(sys.argv[1]); sys.stdin.readline(); migrate(engine); print('migrated')"
)


@pytest.mark.parametrize("processes", [4])
def test_processes_starting_together_migrate_once_and_all_start(postgres_url: str, processes: int) -> None:
    # Each process imports and connects first, then all are released at once (stdin), so
    # the upgrades really overlap instead of being serialised by interpreter start-up.
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, postgres_url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    results = [worker.communicate(timeout=120) for worker in workers]
    failures = [
        next((line for line in reversed(err.splitlines()) if "Error" in line), err[-300:])
        for (_, err), worker in zip(results, workers, strict=True)
        if worker.returncode
    ]
    assert not failures, f"{len(failures)} of {processes} processes failed to migrate: {failures}"
    engine = make_engine(postgres_url)
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    engine.dispose()
    assert len(versions) == 1, versions
