"""Intraday dispatch: re-planning the rest of the day and one interval's correction.

The synthetic mixed fleet of the bid benchmark (`bench.bid_bench.synthetic_fleet`) holds a
day-ahead plan (peak cut 09:00-12:00, valley fill 12:00-15:00 Beijing, each at a third of
the fleet's power range, split in proportion to headroom); at 10:00 a grid instruction
raises the peak cut by 20 % and 5 % of the assets are offline. Timed: the re-plan of the
remaining 56 intervals (`vpp.optimize.redispatch.replan_fleet`) and one interval's
correction (`rebalance_interval`) with 5 % of the assets lagging — the numerical cores;
the database reads and writes around them are not included.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from bench.bid_bench import synthetic_fleet
from bench.core import Benchmark, Context, Result, check
from vpp.domain.units import FloatArray
from vpp.optimize.fleet import Fleet
from vpp.optimize.redispatch import DOWN, UP, rebalance_interval, replan_fleet

NOW_INTERVAL = 40
"""10:00 Beijing."""


def _scenario(n: int) -> tuple[Fleet, FloatArray, FloatArray, np.ndarray]:
    """(fleet, planned deviation (n, 96), target (2, 96), online (n,))."""
    fleet, _ = synthetic_fleet(n, seed=n)
    horizon = fleet.horizon
    target = np.zeros((2, horizon))
    down_room = np.maximum(-fleet.lo_kw, 0.0)
    up_room = np.maximum(fleet.hi_kw, 0.0)
    target[DOWN, 36:48] = down_room.sum(axis=0)[36:48] / 3
    target[UP, 48:60] = up_room.sum(axis=0)[48:60] / 3
    planned = np.zeros((n, horizon))
    planned[:, 36:48] = -down_room[:, 36:48] / 3
    planned[:, 48:60] = up_room[:, 48:60] / 3
    target[DOWN, NOW_INTERVAL:48] *= 1.2
    online = np.random.default_rng(n).random(n) >= 0.05
    return fleet, planned, target, online


def _replan_seconds(n: int, repeats: int) -> tuple[float, float]:
    fleet, planned, target, online = _scenario(n)
    t0 = NOW_INTERVAL
    rest = Fleet(
        fleet.asset_ids,
        fleet.lo_kw[:, t0:],
        fleet.hi_kw[:, t0:],
        fleet.e_min_kwh,
        fleet.e_max_kwh,
        fleet.e_initial_kwh,
        fleet.retention,
        fleet.efficiency,
        fleet.ramp_kw,
        fleet.activation_cost_cny_per_mwh,
    )
    firm = np.zeros_like(planned[:, t0:])
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = replan_fleet(
            rest, firm, planned[:, t0:], target[:, t0:], online, planned[:, t0 - 1]
        )
        timings.append(time.perf_counter() - start)
    check(result.deviation_kw.shape == (n, 96 - t0), "re-plan shape")
    check(bool((result.deviation_kw[~online] == 0).all()), "offline assets took effort")
    met = 1.0 - result.shortfall_kw.sum() / target[:, t0:].sum()
    return statistics.median(timings), met


def _correction_seconds(n: int, repeats: int) -> float:
    fleet, planned, target, online = _scenario(n)
    t = NOW_INTERVAL
    deviation = planned[:, t]
    lagging = np.random.default_rng(n + 1).random(n) < 0.05
    expected = np.where(lagging, 0.0, deviation)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        step = rebalance_interval(
            deviation, np.zeros(n), fleet.lo_kw[:, t], fleet.hi_kw[:, t], target[:, t],
            online & ~lagging, expected,
        )  # fmt: skip
        timings.append(time.perf_counter() - start)
    check(float(step.shortfall_kw.sum()) <= 1e-6 * float(target[:, t].sum()), "correction short")
    return statistics.median(timings)


def run(ctx: Context) -> list[Result]:
    """Run the intraday dispatch benchmarks (module docstring)."""
    results: list[Result] = []
    repeats = 3 if ctx.quick else 5
    for n in (1000, 10_000):
        seconds, met = _replan_seconds(n, repeats)
        results.append(
            Result(
                f"plan_{n}_s",
                seconds,
                "s",
                5.0 if n == 10_000 else None,
                "<=",
                f"re-plan of {n} assets x {96 - NOW_INTERVAL} intervals, 5 % offline; "
                f"{met:.1%} of the remaining target met",
            )
        )
    results.append(
        Result(
            "correction_10000_s",
            _correction_seconds(10_000, repeats),
            "s",
            1.0,
            "<=",
            "one interval's re-dispatch over 10,000 assets, 5 % offline, 5 % lagging",
        )
    )
    return results


BENCHMARKS = [
    Benchmark(
        key="plan",
        metrics=("plan_1000_s", "plan_10000_s", "correction_10000_s"),
        run=run,
        description="intraday re-plan and per-minute correction (numerical cores)",
        tags=("dispatch", "intraday"),
    )
]
