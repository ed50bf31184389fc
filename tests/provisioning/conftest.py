"""Fixtures shared by the provisioning tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from provisioning.db import make_engine


@pytest.fixture
def engine(unmigrated_database_url: str) -> Iterator[Engine]:
    """A database without the schema, for the migration tests (they migrate it step by step)."""
    engine = make_engine(unmigrated_database_url)
    yield engine
    engine.dispose()
