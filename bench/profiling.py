"""cProfile helpers: where does the time go, grouped into a few categories a person can act on.

cProfile only sees the thread that enabled it, so two helpers move the work into a profiled
thread: `InlineExecutor` runs the reconciler's per-store steps in the calling thread, and
`profile_script_runs` enables a profiler inside the thread AppTest runs each page in.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import pstats
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

# First matching rule wins: (category, substrings of "file:function").
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("benchmark instrumentation (bench/)", ("/bench/",)),
    ("waiting for the API server (socket read)", ("_ssl._SSLSocket", "socket' objects", "select.", "selectors.py")),
    ("waiting on locks/threads", ("_thread.lock", "threading.py")),
    ("HTTP client (urllib3, http.client, ssl)", ("urllib3", "http/client.py", "/ssl.py", "email/")),
    ("kubernetes client (serialization)", ("kubernetes/client",)),
    ("JSON encode/decode", ("json/", "_json")),
    ("tz-aware timestamps from the DB (models.UTCDateTime)", ("datetime.datetime", "process_result_value")),
    ("database (SQLAlchemy + SQLite)", ("sqlalchemy", "sqlite3", "sqlmodel", "alembic")),
    (
        "manifest rendering + secret generation",
        ("provisioning/engines", "provisioning/credentials", "secrets.py", "random.py", "urandom"),
    ),
    ("platform code (provisioning/, portal/, pages/)", ("provisioning/", "portal/", "pages/", "app.py")),
    ("charts (Altair + JSON-schema validation)", ("altair", "jsonschema", "referencing", "narwhals")),
    ("pandas / pyarrow / numpy", ("pandas", "pyarrow", "numpy")),
    ("Streamlit (script run, elements, protobuf)", ("streamlit", "google/protobuf", "protobuf")),
    ("Python compile (AppTest recompiles scripts)", ("ast.py", "builtins.compile", "tokenize")),
]


def category_of(key: tuple[str, int, str]) -> str:
    filename, _line, function = key
    text = f"{filename}:{function}"
    for name, needles in CATEGORIES:
        if any(needle in text for needle in needles):
            return name
    return "other"


def by_category(stats: pstats.Stats) -> dict[str, float]:
    """Own time (tottime) per category, in ms, largest first."""
    totals: dict[str, float] = {}
    for key, (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        category = category_of(key)
        totals[category] = totals.get(category, 0.0) + tottime
    return {k: round(v * 1000, 1) for k, v in sorted(totals.items(), key=lambda kv: -kv[1]) if v > 0.0005}


def write_report(stats: pstats.Stats, path: Path, *, title: str, per: int = 1, top: int = 35) -> dict[str, float]:
    """Write the category table and the top functions by cumulative time; return the categories.

    `per` divides the totals (e.g. the number of renders profiled) so numbers are per run.
    """
    categories = by_category(stats)
    total = sum(categories.values())
    lines = [f"# {title}", "", f"Own time by category (ms, per run, {per} run(s) profiled):", ""]
    for name, ms in categories.items():
        lines.append(f"  {ms / per:9.1f} ms  {100 * ms / total if total else 0:5.1f}%  {name}")
    lines.append(f"  {total / per:9.1f} ms  total")
    lines += ["", "Largest own-time functions per category (ms per run):"]
    for name in categories:
        heaviest = sorted(
            (
                (tottime, key)
                for key, (_cc, _nc, tottime, _ct, _callers) in stats.stats.items()  # type: ignore[attr-defined]
                if category_of(key) == name
            ),
            reverse=True,
        )[:4]
        listed = ", ".join(f"{pstats.func_std_string(key)} {1000 * tottime / per:.1f}" for tottime, key in heaviest)
        lines.append(f"  {name}: {listed}")
    buffer = io.StringIO()
    stats.stream = buffer  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(top)
    buffer.write("\n")
    stats.sort_stats("tottime").print_stats(top)
    lines += ["", "Top functions (cumulative, then own time), totals over all profiled runs:", buffer.getvalue()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return {name: round(ms / per, 1) for name, ms in categories.items()}


class InlineExecutor:
    """A stand-in for the reconciler's ThreadPoolExecutor that runs each task at once, here."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # re-raised by future.result(), as the pool would
            future.set_exception(error)
        return future

    def shutdown(self, wait: bool = True) -> None:
        return None


@contextlib.contextmanager
def profile_script_runs(profiler: cProfile.Profile) -> Iterator[None]:
    """Profile every AppTest script run started inside the block (they run in their own thread)."""
    from streamlit.testing.v1.local_script_runner import LocalScriptRunner

    original = LocalScriptRunner._run_script_thread

    def profiled(self: Any) -> None:
        profiler.enable()
        try:
            original(self)
        finally:
            profiler.disable()

    LocalScriptRunner._run_script_thread = profiled  # type: ignore[method-assign]
    try:
        yield
    finally:
        LocalScriptRunner._run_script_thread = original  # type: ignore[method-assign]
