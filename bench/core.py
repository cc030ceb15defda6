"""What a benchmark is, what it reports, and the helpers every benchmark shares."""

from __future__ import annotations

import gc
import json
import math
import os
import platform
import statistics
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

PG_ENV = "VPP_TEST_POSTGRES_URL"
RESULTS_PATH = Path(__file__).with_name("results.json")
MIN_REPEATS = 3

Direction = Literal[">=", "<="]


class BenchmarkError(RuntimeError):
    """A benchmark's own check failed: its numbers must not be reported."""


def check(condition: bool, message: str) -> None:
    """Like ``assert``, but kept under ``python -O`` and reported as a benchmark error."""
    if not condition:
        raise BenchmarkError(message)


@dataclass(frozen=True)
class Result:
    """One measured metric. ``target`` None: reported for information, always ok."""

    name: str
    value: float
    unit: str
    target: float | None = None
    direction: Direction = ">="
    note: str = ""

    @property
    def ok(self) -> bool:
        if self.target is None:
            return True
        if self.direction == ">=":
            return self.value >= self.target
        return self.value <= self.target

    def target_text(self) -> str:
        return "-" if self.target is None else f"{self.direction} {format_number(self.target)}"

    def record(self, measured_at: str, machine: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": round(self.value, 3),
            "unit": self.unit,
            "target": self.target,
            "ok": self.ok,
            "measured_at": measured_at,
            "machine": machine,
        }


@dataclass
class Context:
    """What the runner hands each benchmark."""

    quick: bool
    workdir: Path
    pg_admin_url: str | None
    client: Literal["auto", "wrk", "python"] = "auto"
    log: Callable[[str], None] = print

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full


@dataclass(frozen=True)
class Benchmark:
    """A unit the runner can select (``--only`` matches ``key`` or any metric name)."""

    key: str
    metrics: tuple[str, ...]
    run: Callable[[Context], list[Result]]
    needs_postgres: bool = False
    description: str = ""
    tags: tuple[str, ...] = field(default=())

    def matches(self, pattern: str) -> bool:
        return any(pattern in name for name in (self.key, *self.metrics, *self.tags))

    def named(self, name: str) -> bool:
        return name == self.key or name in self.metrics


def select(benchmarks: Sequence[Benchmark], patterns: Sequence[str]) -> list[Benchmark]:
    """The benchmarks ``--only`` asks for: for each pattern, the benchmark it names exactly
    (key or metric), else every one it is part of a name or tag of. ``--only bid`` is the
    bid benchmark, not also the cycle whose metrics include ``cycle_1000_bid_s``."""
    chosen: set[int] = set()
    for pattern in patterns:
        exact = [i for i, b in enumerate(benchmarks) if b.named(pattern)]
        chosen.update(exact or (i for i, b in enumerate(benchmarks) if b.matches(pattern)))
    return [b for i, b in enumerate(benchmarks) if i in chosen]


@contextmanager
def service_gc() -> Iterator[None]:
    """The garbage-collector settings of a service process (`vpp.app.tune_garbage_collector`:
    what is alive now frozen out of collection, fewer collections) for a timed section run
    in the benchmark's own process; restored afterwards."""
    from vpp.app import tune_garbage_collector

    thresholds = gc.get_threshold()
    gc.collect()
    tune_garbage_collector()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def median(values: Sequence[float]) -> float:
    check(len(values) >= 1, "no measurements")
    return float(statistics.median(values))


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    check(len(sorted_values) > 0, "no samples for a percentile")
    rank = max(1, min(len(sorted_values), math.ceil(pct / 100 * len(sorted_values))))
    return float(sorted_values[rank - 1])


def format_number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.4g}"


def load_average() -> float:
    """The 1-minute load average (0.0 where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def busy_warning() -> str | None:
    """A warning when other processes already use much of the machine's CPUs."""
    cpus = os.cpu_count() or 1
    load = load_average()
    if load > 0.5 * cpus:
        return (
            f"WARNING: load average {load:.1f} on {cpus} cpus before this benchmark: "
            "other processes compete for the CPUs, the numbers are lower than the machine's"
        )
    return None


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.release()} {platform.machine()}, {cpu}, "
        f"{os.cpu_count()} cpus, Python {platform.python_version()}, "
        f"load average {load_average():.1f} at start"
    )


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def merge_results(
    path: Path, results: Sequence[Result], measured_at: str, machine: str
) -> list[dict[str, Any]]:
    """Replace the records of these names in ``path`` (keeping the others) and write it."""
    existing: list[dict[str, Any]] = []
    if path.exists():
        try:
            loaded = json.loads(path.read_text())
        except json.JSONDecodeError:
            loaded = []
        if isinstance(loaded, list):
            existing = [r for r in loaded if isinstance(r, dict) and "name" in r]
    new = {r.name: r.record(measured_at, machine) for r in results}
    merged = [new.pop(r["name"], r) for r in existing]
    merged.extend(new.values())
    path.write_text(json.dumps(merged, indent=2) + "\n")
    return merged


def render_table(results: Sequence[Result]) -> str:
    headers = ("name", "value", "unit", "target", "ok")
    rows = [
        (r.name, format_number(r.value), r.unit, r.target_text(), "yes" if r.ok else "NO")
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    align = ("<", ">", "<", "<", "<")

    def line(cells: Sequence[str]) -> str:
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths, strict=True))

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(row) for row in rows)
    notes = [f"  {r.name}: {r.note}" for r in results if r.note]
    if notes:
        out.append("notes:")
        out.extend(notes)
    return "\n".join(out)
