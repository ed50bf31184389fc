"""The layering rules of the brief, checked on the source: they cannot drift silently."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def files(folder: str) -> list[Path]:
    found = sorted((ROOT / folder).rglob("*.py"))
    assert found, f"no Python files under {folder}"
    return found


@pytest.mark.parametrize("path", files("provisioning"), ids=lambda p: str(p.relative_to(ROOT)))
def test_provisioning_never_imports_streamlit(path: Path) -> None:
    assert not {m for m in imported_modules(path) if m.split(".")[0] == "streamlit"}


@pytest.mark.parametrize("path", [*files("pages"), *files("portal"), ROOT / "app.py"], ids=lambda p: p.name)
def test_ui_never_imports_the_kubernetes_client(path: Path) -> None:
    assert not {m for m in imported_modules(path) if m.split(".")[0] in ("kubernetes", "urllib3")}


@pytest.mark.parametrize("path", files("provisioning/engines"), ids=lambda p: p.name)
def test_engines_are_pure(path: Path) -> None:
    """Engines build manifests; they never reach the cluster, the database or the clock."""
    forbidden = {"kubernetes", "sqlmodel", "sqlalchemy", "provisioning.kube", "provisioning.db", "datetime"}
    assert not {m for m in imported_modules(path) if m in forbidden or m.split(".")[0] in forbidden}
