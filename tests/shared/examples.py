"""How many examples a property test runs: the full count, or a tenth of it (at least 10)
in the edit-test loop (`make test-fast`, which sets STORE_PLATFORM_FAST=1)."""

from __future__ import annotations

import os


def fast() -> bool:
    return os.environ.get("STORE_PLATFORM_FAST") == "1"


def examples(full: int) -> int:
    return max(10, full // 10) if fast() else full
