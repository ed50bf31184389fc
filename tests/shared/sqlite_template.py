"""Test SQLite databases that start at the newest schema: a copy of one migrated per process.

Why: Alembic's run of every migration costs about 0.3 s of CPU on SQLite (its batch mode
rebuilds tables), and several hundred tests each build a fresh database. Copying a file
migrated once is about a millisecond; `migrate()` then still runs on the copy and finds
it at head, so the product's start-up path is exercised all the same. Tests of the
migrations themselves make their own empty files and do not use this.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
from contextlib import closing
from functools import cache
from pathlib import Path

from provisioning.db import make_engine, migrate


@cache
def _template() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="store-platform-schema-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "schema.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    with closing(sqlite3.connect(path)) as connection:  # everything into the one file
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def migrated_sqlite_url(path: Path) -> str:
    """The URL of a SQLite file at `path` that holds the schema at head and no rows.

    An existing file is left as it is (a test may reopen its own database)."""
    if not path.exists():
        shutil.copyfile(_template(), path)
    return f"sqlite:///{path}"
