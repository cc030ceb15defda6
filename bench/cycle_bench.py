"""The whole market day at scale: day-ahead (forecast, bid, awards, plan) and intraday cycles.

For 1,000 / 10,000 / 100,000 assets (quick: 200 / 1,000) on PostgreSQL, each size in a
fresh database: a fleet drawn by `vpp.fleet` (``vpp fleet generate``), `HISTORY_DAYS` of
15-minute telemetry for at most `HISTORY_ASSETS` assets (bulk binary COPY; the others
have no history and are forecast at their nominal baseline, confidence NONE, as a newly
enrolled asset is), then the service's own functions, stage by stage:

- ``forecast``: every asset's day-ahead outlook and pooled bands (`pool_assets`);
- ``bid``: drafts of valley filling and peak cutting from those forecasts
  (`create_drafts`), committed; market demand is a third of the fleet's rated
  flexibility in each product's window, so the pool caps bind;
- ``awards``: the market awards 80 % of each bid's ladder (`record_clearing`);
- ``plan``: per-asset setpoints from the awards and firm schedules (`plan_day`, on the
  forecasts kept when the bids were drafted, as the scheduler's job does), commands
  queued;
- intraday at 10:00 Beijing, every asset having reported a minute ago (5 % of them
  off their setpoint): ``replan`` after an instruction raising the peak cut by 20 %
  (`apply_targets`) and ``correction`` of the interval under way (`correct`).

The fan-out is ``VPP_COMPUTE`` (default here ``local:<cpus>``, a Dask cluster of one
single-threaded worker per CPU). Printed per stage: seconds and peak RSS (GiB) of this
process plus its Dask workers, sampled every 50 ms. Records: ``cycle_<n>_s`` (forecast +
bid + awards + plan), ``cycle_<n>_peak_rss_gib``, ``intraday_<n>_s`` and per-stage
``cycle_<n>_<stage>_s``. Targets: ``cycle_10000_s`` <= 30, ``cycle_100000_peak_rss_gib``
<= 8. A progress bar goes to stderr. ``VPP_BENCH_CYCLE_SIZES=10000`` runs chosen sizes only.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import psutil  # type: ignore[import-untyped]
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.core import Benchmark, Context, Result, check
from bench.databases import fresh_database
from vpp.bidding.registry import load_packs
from vpp.bidding.service import create_drafts, pool_assets, record_clearing
from vpp.dispatch.intraday import MAX_TARGET_KW, apply_targets, correct
from vpp.dispatch.planning import plan_day
from vpp.domain.market import Award, Clearing, MarketOutlook, Pricing
from vpp.domain.time import INTERVALS_PER_DAY, day_bounds_utc, interval_starts_utc
from vpp.fleet.mix import draw_fleet
from vpp.fleet.repository import write_fleet
from vpp.kit import pgcopy
from vpp.kit.compute import open_compute
from vpp.kit.db import create_db_engine, make_sessionmaker
from vpp.models import Asset, PlannedSetpointRow, PoolTarget
from vpp.optimize.blocks import BlockMap
from vpp.ports import MarketPack

DAY = date(2026, 7, 15)
"""The market day planned (a Wednesday)."""
HISTORY_DAYS = 15
"""Days of telemetry before DAY: the load model's 14 complete days for confidence OK."""
HISTORY_ASSETS = 10_000
"""Assets with history at most (100,000 x 15 days would be 144 million readings)."""
VALLEY = "peak_shaving.valley_fill"
PEAK = "peak_shaving.peak_cut"
WINDOWS = {VALLEY: range(44, 60), PEAK: range(72, 88)}
"""11:00-15:00 valley filling, 18:00-22:00 peak cutting (Beijing)."""
INTRADAY_INTERVAL = 40
"""10:00 Beijing: the re-plan and correction happen then."""
AWARD_SHARE = 0.8
LAGGING_SHARE = 0.05
STAGES = ("forecast", "bid", "awards", "plan", "replan", "correction")
GIB = 1024.0**3


class Progress:
    """A one-line progress bar on stderr: ``[####------] 3/12 size 1000: bid``."""

    def __init__(self, total: int, width: int = 30) -> None:
        self.total, self.width, self.done = total, width, 0

    def step(self, label: str) -> None:
        filled = int(self.width * self.done / max(self.total, 1))
        bar = "#" * filled + "-" * (self.width - filled)
        sys.stderr.write(f"\r[{bar}] {self.done}/{self.total} {label:<40}")
        sys.stderr.flush()

    def advance(self, label: str) -> None:
        self.done += 1
        self.step(label)
        if self.done >= self.total:
            sys.stderr.write("\n")


class PeakRss:
    """Peak resident memory (bytes) of this process and its children (Dask workers),
    sampled every 50 ms in a thread between `reset` calls."""

    def __init__(self) -> None:
        self._me = psutil.Process()
        self._peak = 0
        self._generation = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> int:
        total = self._me.memory_info().rss
        for child in self._me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                continue
        return int(total)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            generation = self._generation
            sample = self.now()  # takes a while: a reset may come in between
            with self._lock:
                if generation == self._generation:
                    self._peak = max(self._peak, sample)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def reset(self) -> None:
        """Start a new stage: a sample of the previous one taken meanwhile is dropped."""
        with self._lock:
            self._generation += 1
            self._peak = self.now()

    @property
    def peak(self) -> int:
        return max(self._peak, self.now())


@dataclass(frozen=True)
class Stage:
    name: str
    seconds: float
    peak_rss_gib: float


def _write_history(
    session: Session, ids: Sequence[Any], baselines: np.ndarray, pv: np.ndarray
) -> int:
    """`HISTORY_DAYS` of 15-minute readings per asset, one binary COPY per 500 assets.

    Loads: the nominal baseline times a day-shift shape (Beijing 08:00-18:00 at 1.2, else
    0.8) with 5 % noise; PV: minus 70 % of the nominal generation's daylight bell."""
    start, _ = day_bounds_utc(DAY - timedelta(days=HISTORY_DAYS))
    steps = HISTORY_DAYS * INTERVALS_PER_DAY
    start_us = pgcopy.timestamp_us(start)
    ts_us = start_us + np.arange(steps, dtype=np.int64) * 15 * 60 * 1_000_000
    local_hour = ((np.arange(steps) % INTERVALS_PER_DAY) / 4.0) % 24  # Beijing day starts 0
    day_shift = np.where((local_hour >= 8) & (local_hour < 18), 1.2, 0.8)
    sun = np.clip(np.sin((local_hour - 6.0) / 12.0 * np.pi), 0.0, None)
    rng = np.random.default_rng(0)
    written = 0
    for first in range(0, len(ids), 500):
        block = slice(first, first + 500)
        base = baselines[block][:, None]
        noise = 1.0 + 0.05 * rng.standard_normal((base.shape[0], steps))
        power = (
            np.where(pv[block][:, None], -0.7 * np.abs(base) * sun * 4, base * day_shift) * noise
        )
        pgcopy.copy_into(
            session,
            "telemetry",
            {
                "asset_id": ("uuid", np.repeat(pgcopy.uuid_array(ids[block]), steps)),
                "ts": ("timestamptz", np.tile(ts_us, base.shape[0])),
                "power_kw": ("float8", power.ravel()),
            },
        )
        written += power.size
    return written


def _write_latest(session: Session, ts: datetime) -> None:
    """A reading at ``ts`` of every asset: its planned setpoint, 5 % of them at baseline
    (lagging), so the intraday stages see a live pool."""
    rows = session.execute(
        select(
            PlannedSetpointRow.asset_id,
            PlannedSetpointRow.baseline_kw,
            PlannedSetpointRow.setpoint_kw,
        ).where(PlannedSetpointRow.day == DAY, PlannedSetpointRow.interval == INTRADAY_INTERVAL)
    ).all()
    lagging = np.random.default_rng(1).random(len(rows)) < LAGGING_SHARE
    pgcopy.copy_into(
        session,
        "telemetry",
        {
            "asset_id": ("uuid", pgcopy.uuid_array([r[0] for r in rows])),
            "ts": ("timestamptz", np.full(len(rows), pgcopy.timestamp_us(ts), dtype=np.int64)),
            "power_kw": ("float8", np.where(lagging, [r[1] for r in rows], [r[2] for r in rows])),
        },
    )


def _outlooks(session: Session, packs: dict[str, MarketPack]) -> dict[str, MarketOutlook]:
    """Demand: a third of the fleet's rated flexibility in each product's window; expected
    price 60 % of the product's price cap."""
    up, down = session.execute(select(func.sum(Asset.up_kw), func.sum(Asset.down_kw))).one()
    out = {}
    for product, rated in ((VALLEY, float(up)), (PEAK, float(down))):
        limits = packs[product].limits()
        demand = np.zeros(INTERVALS_PER_DAY)
        demand[list(WINDOWS[product])] = rated / 3
        price = 0.6 * limits.price_cap_cny_per_mwh
        out[product] = MarketOutlook(
            product, DAY, packs[product].gate_closure(DAY), tuple(demand.tolist()),
            tuple([price] * INTERVALS_PER_DAY),
        )  # fmt: skip
    return out


def _clearing(product: str, ladder: list[dict[str, Any]]) -> Clearing:
    """The market awards `AWARD_SHARE` of the ladder's quantity in every interval."""
    awards = []
    price = np.full(INTERVALS_PER_DAY, np.nan)
    for entry in ladder:
        quantity = sum(float(s["quantity_kw"]) for s in entry["steps"])
        if quantity > 0:
            t = int(entry["interval"])
            price[t] = float(entry["steps"][0]["price_cny_per_mwh"])
            awards.append(Award(product, DAY, "vpp", t, AWARD_SHARE * quantity, price[t]))
    cleared = np.zeros(INTERVALS_PER_DAY)
    for a in awards:
        cleared[a.interval] += a.quantity_kw
    return Clearing(
        product, DAY, Pricing.UNIFORM, tuple(price.tolist()), tuple(cleared.tolist()),
        tuple(cleared.tolist()), tuple(awards),
    )  # fmt: skip


def run_cycle(
    url: str,
    assets: int,
    blocks: BlockMap,
    meter: PeakRss,
    progress: Progress | None = None,
    log: Callable[[str], None] = print,
) -> list[Stage]:
    """Seed a fleet of ``assets`` into the migrated database ``url`` and time every stage."""
    engine = create_db_engine(url)
    factory: sessionmaker[Session] = make_sessionmaker(engine)
    packs = dict(load_packs(None))
    try:
        seeded = time.perf_counter()
        with factory() as session:
            write_fleet(session, draw_fleet(assets, seed=assets), datetime.now(UTC))
            rows = session.execute(select(Asset.id, Asset.baseline_kw, Asset.kind)).all()[
                :HISTORY_ASSETS
            ]
            readings = _write_history(
                session,
                [r[0] for r in rows],
                np.array([r[1] for r in rows]),
                np.array([r[2] == "pv" for r in rows]),
            )
            session.commit()
        log(
            f"   {assets} assets, {readings:,} readings of history seeded in "
            f"{time.perf_counter() - seeded:.1f} s"
        )
        stages: list[Stage] = []

        @contextmanager
        def stage(name: str) -> Iterator[None]:
            if progress is not None:
                progress.step(f"{assets} assets: {name}")
            meter.reset()
            started = time.perf_counter()
            yield
            done = Stage(name, time.perf_counter() - started, meter.peak / GIB)
            stages.append(done)
            if progress is not None:  # with its numbers, so a run failing later keeps them
                progress.advance(
                    f"{assets} assets: {name} done in {done.seconds:.1f} s, "
                    f"peak {done.peak_rss_gib:.2f} GiB"
                )

        drafting = packs[PEAK].gate_closure(DAY) - timedelta(hours=2)
        with factory() as session:
            with stage("forecast"):
                pool = pool_assets(session, DAY, 0.1, blocks=blocks)
            check(len(pool) == assets, f"forecast {len(pool)} of {assets} assets")
            outlooks = _outlooks(session, packs)
            with stage("bid"):
                bids = create_drafts(
                    session, packs, outlooks, DAY, 0.1, drafting, None, blocks=blocks, assets=pool
                )
                session.commit()
            del pool
            check(len(bids) == 2, "a draft per product")
            check(any(b.offered_kwh > 0 for b in bids), "the pool offers nothing")
            with stage("awards"):
                for bid in bids:
                    record_clearing(session, bid.id, _clearing(bid.product, bid.ladder), drafting)
                session.commit()
        day_start, _ = day_bounds_utc(DAY)
        with factory() as session, stage("plan"):
            summary = plan_day(session, packs, DAY, drafting)
            session.commit()
        check(summary.assets == assets and summary.commands > 0, "the plan commands nothing")
        log(
            f"   plan: disaggregation {summary.solve_status}, awarded {summary.awarded_kwh:,.0f} "
            f"kWh, shortfall {summary.shortfall_kwh:,.0f} kWh"
        )
        now = interval_starts_utc(DAY)[INTRADAY_INTERVAL].to_pydatetime() + timedelta(minutes=2)
        with factory() as session:
            _write_latest(session, now - timedelta(minutes=1))
            session.commit()
        with factory() as session:
            # 20 % more, within what an instruction may ask (100,000 synthetic assets
            # are awarded more than a province's peak)
            raised = {
                t: min(1.2 * kw, MAX_TARGET_KW)
                for t, kw in _peak_targets(session).items()
                if t >= INTRADAY_INTERVAL and kw > 0
            }
        with factory() as session, stage("replan"):
            apply_targets(session, packs, DAY, PEAK, raised, now)
            session.commit()
        with factory() as session, stage("correction"):
            correct(session, packs, now)
            session.commit()
        check(day_start < now, "intraday happens during the day")
        return stages
    finally:
        engine.dispose()


def _peak_targets(session: Session) -> dict[int, float]:
    """The peak cut's target per interval (kW): the awards after planning."""
    return {
        row.interval: row.target_kw
        for row in session.scalars(
            select(PoolTarget).where(PoolTarget.day == DAY, PoolTarget.product == PEAK)
        )
    }


def _results(assets: int, stages: Sequence[Stage]) -> list[Result]:
    by = {s.name: s for s in stages}
    day_ahead = sum(by[n].seconds for n in ("forecast", "bid", "awards", "plan"))
    peak = max(s.peak_rss_gib for s in stages)
    detail = ", ".join(f"{s.name} {s.seconds:.1f} s / {s.peak_rss_gib:.2f} GiB" for s in stages)
    out = [
        Result(
            f"cycle_{assets}_s", day_ahead, "s", 30.0 if assets == 10_000 else None, "<=",
            f"forecast + bid + awards + plan of {assets} assets; {detail}",
        ),
        Result(
            f"cycle_{assets}_peak_rss_gib", peak, "GiB", 8.0 if assets == 100_000 else None, "<=",
            "peak RSS of the benchmark process and its Dask workers over every stage",
        ),
        Result(
            f"intraday_{assets}_s", by["replan"].seconds + by["correction"].seconds, "s", None,
            "<=", "re-plan after an instruction plus one interval's correction",
        ),
    ]  # fmt: skip
    out.extend(
        Result(
            f"cycle_{assets}_{s.name}_s",
            s.seconds,
            "s",
            None,
            "<=",
            f"peak {s.peak_rss_gib:.2f} GiB",
        )
        for s in stages
    )
    return out


SIZES_VARIABLE = "VPP_BENCH_CYCLE_SIZES"
"""Environment variable naming the fleet sizes to run, comma-separated (e.g. ``10000``);
unset: 200 and 1,000 with ``--quick``, else 1,000, 10,000 and 100,000."""


def sizes(ctx: Context) -> tuple[int, ...]:
    """The fleet sizes of this run (`SIZES_VARIABLE`)."""
    chosen = os.environ.get(SIZES_VARIABLE, "").strip()
    if chosen:
        try:
            picked = tuple(int(part) for part in chosen.split(","))
        except ValueError:
            raise SystemExit(f"{SIZES_VARIABLE} must list fleet sizes, got {chosen!r}") from None
        if not picked or min(picked) < 1:
            raise SystemExit(f"{SIZES_VARIABLE} must list positive fleet sizes, got {chosen!r}")
        return picked
    return (200, 1000) if ctx.quick else (1000, 10_000, 100_000)


def compute_spec() -> str:
    """``VPP_COMPUTE`` if set (empty: in process), else a local Dask worker per CPU."""
    return os.environ.get("VPP_COMPUTE", f"local:{os.cpu_count() or 1}")


def run(ctx: Context) -> list[Result]:
    """Run the cycle at every size (module docstring)."""
    results: list[Result] = []
    chosen = sizes(ctx)
    progress = Progress(len(chosen) * len(STAGES))
    with open_compute(compute_spec()) as compute, PeakRss() as meter:
        ctx.log(f"   fan-out: {compute.description}")
        for n in chosen:
            with fresh_database(ctx, f"cycle_{n}", "postgresql") as url:
                stages = run_cycle(url, n, compute.blocks, meter, progress, ctx.log)
            results.extend(_results(n, stages))
            ctx.log("   " + ", ".join(f"{s.name} {s.seconds:.2f} s" for s in stages))
    return results


def metric_names(assets: int) -> tuple[str, ...]:
    """The records of one size."""
    return (
        f"cycle_{assets}_s",
        f"cycle_{assets}_peak_rss_gib",
        f"intraday_{assets}_s",
        *(f"cycle_{assets}_{s}_s" for s in STAGES),
    )


def _metrics() -> tuple[str, ...]:
    return tuple(name for n in (200, 1000, 10_000, 100_000) for name in metric_names(n))


BENCHMARKS = [
    Benchmark(
        key="cycle",
        metrics=_metrics(),
        run=run,
        needs_postgres=True,
        description="day-ahead and intraday cycle at 1k/10k/100k assets (PostgreSQL, Dask)",
        tags=("scale",),
    )
]
