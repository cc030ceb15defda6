"""Run the benchmarks: ``python -m bench [--only NAME] [--quick] [--client wrk|python]``.

Prints a table and merges the results into ``bench/results.json`` (records of other
names are kept, same names replaced; a ``--quick`` run leaves it alone unless
``--write``). Exits 1 if a benchmark failed its own checks or
crashed (its metrics are then not written), 0 otherwise, targets met or not.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Literal, cast

import bench
from bench.core import (
    PG_ENV,
    RESULTS_PATH,
    Benchmark,
    BenchmarkError,
    Context,
    Result,
    busy_warning,
    machine_description,
    merge_results,
    render_table,
    select,
    utc_now_iso,
)


def discover() -> tuple[list[Benchmark], dict[str, str]]:
    """Every ``BENCHMARKS`` list of the package's modules, in module-name order, and the
    modules that could not be imported (name -> error), which must not stop the others."""
    found: list[Benchmark] = []
    broken: dict[str, str] = {}
    for module_info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"bench.{module_info.name}")
        except Exception as exc:
            broken[module_info.name] = f"{type(exc).__name__}: {exc}"
            continue
        found.extend(getattr(module, "BENCHMARKS", []))
    keys = [b.key for b in found]
    duplicates = {k for k in keys if keys.count(k) > 1}
    if duplicates:
        raise SystemExit(f"duplicate benchmark keys: {sorted(duplicates)}")
    return found, broken


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        metavar="NAME",
        action="append",
        help="run only the benchmark whose key or metric name is NAME, or if none is, "
        "those whose key, metric names or tags contain NAME (repeatable)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes and shorter runs")
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="HTTP load generator for the read benchmarks (auto: wrk if available)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS_PATH,
        help=f"results file to merge into (default {RESULTS_PATH})",
    )
    writing = parser.add_mutually_exclusive_group()
    writing.add_argument("--no-write", action="store_true", help="do not write the results file")
    writing.add_argument(
        "--write", action="store_true", help="write the results file even with --quick"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    benchmarks, broken = discover()
    for name, error in broken.items():
        print(f"-- bench.{name}: cannot be imported, its benchmarks are not run ({error})")
    if args.list:
        for b in benchmarks:
            pg = " (PostgreSQL)" if b.needs_postgres else ""
            print(f"{b.key:<22} {b.description}{pg}: {', '.join(b.metrics)}")
        return 0
    if args.only:
        benchmarks = select(benchmarks, args.only)
        if not benchmarks:
            print(f"no benchmark matches {args.only}", file=sys.stderr)
            return 2

    pg_admin_url = os.environ.get(PG_ENV) or None
    machine = machine_description()
    print(f"machine: {machine}")
    results: list[Result] = []
    # A module that cannot be imported fails a full run; with --only it is only reported.
    failed: list[str] = [] if args.only else [f"bench.{name} (import)" for name in broken]
    skipped: list[str] = []
    busy: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vpp-bench-") as workdir:
        ctx = Context(
            quick=args.quick,
            workdir=Path(workdir),
            pg_admin_url=pg_admin_url,
            client=cast(Literal["auto", "wrk", "python"], args.client),
        )
        for b in benchmarks:
            if b.needs_postgres and pg_admin_url is None:
                print(f"-- {b.key}: skipped ({PG_ENV} unset; `make bench` starts PostgreSQL)")
                skipped.append(b.key)
                continue
            print(f"-- {b.key}: {b.description}", flush=True)
            warning = busy_warning()
            if warning:
                print(f"   {warning}", flush=True)
                busy.append(b.key)
            t0 = time.perf_counter()
            try:
                produced = b.run(ctx)
            except BenchmarkError as exc:
                print(f"   check failed: {exc}", flush=True)
                print(f"-- {b.key}: FAILED, its metrics are not reported", flush=True)
                failed.append(b.key)
                continue
            except Exception:
                traceback.print_exc()
                print(f"-- {b.key}: FAILED, its metrics are not reported", flush=True)
                failed.append(b.key)
                continue
            unexpected = {r.name for r in produced} - set(b.metrics)
            if unexpected:
                print(f"-- {b.key}: FAILED, undeclared metrics {sorted(unexpected)}")
                failed.append(b.key)
                continue
            results.extend(produced)
            summary = ", ".join(f"{r.name}={r.value:,.2f}" for r in produced)
            print(f"   done in {time.perf_counter() - t0:.1f} s: {summary}", flush=True)

    print()
    if results:
        print(render_table(results))
        met = sum(r.ok for r in results)
        print(f"\n{met} of {len(results)} metrics meet their target")
    print(
        f"total {time.perf_counter() - started:.0f} s" + (" (--quick sizes)" if args.quick else "")
    )
    if skipped:
        print(f"skipped: {', '.join(skipped)}")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    if busy:
        print(f"measured on a busy machine (see the warnings): {', '.join(busy)}")
    if results and args.quick and not args.write:
        print(f"--quick: {args.results} left as it was (pass --write to record quick numbers)")
    elif results and not args.no_write:
        merge_results(args.results, results, utc_now_iso(), machine)
        print(f"wrote {args.results}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
