"""values.yaml hygiene that needs no binary: every knob is read by a template."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[2] / "helm" / "store-platform"


def _leaf_paths(node: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaf_paths(value, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix


def _used(path: str, templates: str) -> bool:
    parts = path.split(".")
    # Read directly: .Values.a.b.c
    if re.search(re.escape(".Values." + path) + r"(?![\w])", templates):
        return True
    # An ancestor passed whole (toYaml .Values.portal.resources, with .Values.stores.quota).
    for n in range(1, len(parts)):
        ancestor = ".Values." + ".".join(parts[:n])
        if re.search(re.escape(ancestor) + r"(?![\w.])", templates):
            # ...and for a `with` block, the leaf is read as .field inside it.
            if re.search(r"with\s+" + re.escape(ancestor) + r"(?![\w.])", templates):
                return bool(re.search(r"\." + re.escape(parts[n]) + r"(?![\w])", templates))
            return True
    return False


def test_every_value_is_read_by_a_template() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    templates = "\n".join(p.read_text() for p in (CHART / "templates").rglob("*") if p.is_file())
    unused = [path for path in _leaf_paths(values) if not _used(path, templates)]
    assert not unused, f"values.yaml keys no template reads: {unused}"


def test_local_and_prod_only_override_known_keys() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    known = set(_leaf_paths(values))
    for name in ("values-local.yaml", "values-prod.yaml"):
        override = yaml.safe_load((CHART / name).read_text())
        for path in _leaf_paths(override):
            assert path in known or any(path.startswith(k + ".") for k in known), f"{name}: unknown key {path}"
