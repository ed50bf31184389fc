"""Machine-readable (`--json`) or aligned human output, chosen once per run.

Commands hand over plain data and the human rendering; this module decides which one is
written, so every command gets `--json` the same way and scripts get stable keys.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any


def jsonable(value: Any) -> Any:
    """Datetimes as ISO 8601 strings (UTC), containers recursively, the rest as is."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def human(value: Any) -> str:
    """One cell of human output: short UTC times, '-' for nothing."""
    if value is None or value == "":
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """Rows as aligned columns; `columns` is (key, header) pairs. The last column is not
    padded, so long URLs or messages do not push trailing spaces."""
    cells = [[human(row.get(key)) for key, _ in columns] for row in rows]
    headers = [header for _, header in columns]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = []
    for line in [headers, *cells]:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(line[:-1])] + [line[-1]]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, Any]]) -> str:
    """`label: value` lines with the values aligned (one store, one user)."""
    width = max((len(label) for label, _ in pairs), default=0)
    return "\n".join(f"{(label + ':').ljust(width + 1)} {human(value)}" for label, value in pairs)


class Output:
    """Writes either the JSON document or the human text of a command's result."""

    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json

    def emit(self, data: Any, text: str) -> None:
        """Write `data` as one JSON document (with --json) or `text` (otherwise), to stdout."""
        if self.as_json:
            sys.stdout.write(json.dumps(jsonable(data), indent=2, sort_keys=True) + "\n")
        elif text:
            sys.stdout.write(text.rstrip("\n") + "\n")
        sys.stdout.flush()

    @staticmethod
    def error(message: str) -> None:
        """Errors go to stderr as one line, whatever the format, so stdout stays parseable."""
        sys.stderr.write(f"error: {message}\n")
        sys.stderr.flush()
