"""`make bench` / `python -m bench`: every benchmark in one run; prints a table, writes JSON.

    python -m bench                  # full: 1, 20, 100 stores; steady 10, 100, 1,000; UI 1,000 / 10,000
    python -m bench --quick          # tiny sizes, about a minute (what the smoke test runs)
    python -m bench --sizes 1,20 --steady-sizes 10 --phases provision
    python -m bench --phases api     # the REST API alone (token vs Basic), no cluster needed
    python -m bench --phases pickup  # order to first apply, one store at a time (pickup_p50_ms)

Each cluster phase starts its own control plane (tests/harness, built by `make test` /
`make control-plane`), so no phase inherits another's namespaces, pods or controller work.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from bench import report
from bench.cluster import BenchError, fresh_clusters, node_spec_for, say
from bench.run import PHASES, Config
from bench.run import run as run_all
from tests.harness.binaries import find_binaries


def _ints(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive")
    return values


def _phases(text: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = set(chosen) - set(PHASES)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"phases are {', '.join(PHASES)}")
    return chosen


def parse(argv: list[str] | None = None) -> tuple[argparse.Namespace, Config]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (1 store, steady 1 and 2, UI 50/200)")
    parser.add_argument("--sizes", type=_ints, help="stores ordered at once per provisioning run (default 1,20,100)")
    parser.add_argument("--steady-sizes", type=_ints, help="ready stores for the steady state (default 10,100,1000)")
    parser.add_argument("--steady-seconds", type=float, help="steady-state window per size (default 60)")
    parser.add_argument("--apply-stores", type=int, help="stores per method in the apply comparison (default 20)")
    parser.add_argument("--pickup-orders", type=int, help="stores ordered one by one for pickup_p50_ms (default 20)")
    parser.add_argument("--ui-rows", type=_ints, help="MY_STORES,ADMIN rows for the UI renders (default 1000,10000)")
    parser.add_argument("--ui-runs", type=int, help="renders per page, median reported (default 5)")
    parser.add_argument("--api-seconds", type=float, help="API load per credential kind (default 20)")
    parser.add_argument("--api-clients", type=int, help="concurrent API clients (default 16)")
    parser.add_argument("--api-keepalive", action="store_true", help="API clients keep one connection each")
    parser.add_argument("--interval", type=float, help="RECONCILE_INTERVAL_SECONDS (default: the product default)")
    parser.add_argument("--concurrency", type=int, help="MAX_CONCURRENT_PROVISIONING (default: the largest size)")
    parser.add_argument(
        "--floor-rounds", type=int, choices=(1, 2), help="2: ours, floor, floor, ours (default); 1: ours, floor"
    )
    parser.add_argument("--phases", type=_phases, help=f"subset of {','.join(PHASES)} (default all)")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile reports")
    parser.add_argument("--output", type=Path, help="JSON path (default bench/results/latest.json, quick.json)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    config = Config.quick_config() if args.quick else Config()
    for name, attr in (
        ("sizes", "sizes"),
        ("steady_sizes", "steady_sizes"),
        ("steady_seconds", "steady_seconds"),
        ("apply_stores", "apply_stores"),
        ("pickup_orders", "pickup_orders"),
        ("ui_runs", "ui_runs"),
        ("api_seconds", "api_seconds"),
        ("api_clients", "api_clients"),
        ("interval", "interval"),
        ("concurrency", "concurrency"),
        ("floor_rounds", "floor_rounds"),
        ("phases", "phases"),
    ):
        value = getattr(args, name)
        if value is not None:
            setattr(config, attr, value)
    if args.ui_rows is not None:
        if len(args.ui_rows) != 2:
            parser.error("--ui-rows takes two numbers: MY_STORES,ADMIN")
        config.my_stores_rows, config.admin_rows = args.ui_rows
    config.api_keepalive = config.api_keepalive or args.api_keepalive
    config.profile = not args.no_profile
    if args.output is None:
        args.output = report.RESULTS_DIR / ("quick.json" if config.quick else "latest.json")
    return args, config


def main(argv: list[str] | None = None) -> int:
    args, config = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    bin_dir = find_binaries()
    if bin_dir is None and set(config.phases) & {"apply", "provision", "pickup"}:
        print(
            "bench: the Kubernetes control plane binaries are not built.\n"
            "       Run `make control-plane` (or `make test`, which builds them) first,\n"
            "       or `python -m bench --phases ui,api` for the UI and API benchmarks alone.",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="store-platform-bench-") as tmp:
        try:
            result = run_all(
                config,
                fresh_clusters(bin_dir, node_spec=node_spec_for(config.largest_cluster)) if bin_dir else _no_cluster,
                Path(tmp),
                profile_dir=args.output.parent,
            )
        except BenchError as error:
            print(f"bench: {error}", file=sys.stderr)
            return 1
    result["command"] = " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)])
    path = report.write(result, args.output)
    print()
    print(report.table(result))
    print()
    say(f"wrote {path} (profiles next to it)" if config.profile else f"wrote {path}")
    missed = [row["metric"] for row in result["targets"] if row["met"] is False]
    if missed:
        say(f"targets missed: {', '.join(missed)}")
    return 1 if args.strict and missed else 0


def _no_cluster(phase: str):  # type: ignore[no-untyped-def]
    raise BenchError(f"phase {phase!r} needs the control plane binaries")


if __name__ == "__main__":
    sys.exit(main())
