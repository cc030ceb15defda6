"""Bid optimiser benchmarks: single-asset latency, fleet-size scaling, gap to the monolithic MILP.

Records (names are a contract, DESIGN §7):

- ``bid_1_asset_p99_ms``: p99 of `build_bids` end to end (solve, pool rules, ladders) for
  one asset, over many assets drawn from the mixed fleet (quick: fewer samples).
- ``bid_100_s``, ``bid_1000_s``, ``bid_10000_s``: `build_bids` (decomposed, its per-asset
  LPs fanned out over a local Dask cluster of one worker per CPU, as ``VPP_COMPUTE=local``
  runs the service; the cluster's start-up is not timed) for that many assets, 96
  intervals x 2 products (valley filling + peak cutting); median of 3 runs at 100 and
  1,000, one run at 10,000 (quick: 100 and 1,000, one run each, no 10,000). Pool caps
  bind in part of each product's window.
- ``bid_1000_no_price_rounds_s`` (information): ``bid_1000_s`` with ``price_rounds=0``,
  what the Dantzig-Wolfe price rounds cost in time (their gain is in the objective).
- ``bid_1000_uncapped_s`` (information): the same 1,000 assets when market demand never
  binds (no cap prices, no re-solve rounds), the common case of a pool smaller than demand.
- ``bid_gap_vs_monolithic``: (monolithic − decomposed) / monolithic objective at the
  largest size the monolithic MILP solves in reasonable time (full 300 assets, about 15 s;
  quick 60), with pool caps binding part of the day (the record names how many of the
  192 product-intervals have a cap below the fleet's power range, and how many the
  monolithic optimum fills to the cap) and every pool rule active. The decomposed run
  uses the same defaults as the timed sizes (price rounds included), so the gap is what
  the timings buy.

The fleet is a realistic mix of `vpp.domain` parameterisations mapped onto the
generalised battery: stationary batteries, curtailable loads (some with a daily
curtailment budget), shiftable processes with storage (electrolysers, boilers, kilns,
batch IT), EV depots (some V2G) and curtailable PV, each with random sizes and a daily
baseline or generation shape, Gansu-like time-of-use energy prices with a midday valley.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np

from bench.core import Benchmark, Context, Result, check, percentile
from vpp.domain import (
    INTERVALS_PER_DAY,
    BatteryParams,
    CurtailableLoadParams,
    Direction,
    EvFleetParams,
    GeneralisedBattery,
    ProcessType,
    PvParams,
    ShiftableProcessParams,
)
from vpp.domain.market import OfferLimits, Pricing
from vpp.domain.units import FloatArray
from vpp.forecast.flexibility import deviation_bounds, pv_curtailment_bounds
from vpp.kit.compute import open_compute
from vpp.optimize.bidding import (
    PRICE_ROUNDS,
    BidInputs,
    BidPlan,
    Method,
    ProductInput,
    build_bids,
    decomposition_gap,
)
from vpp.optimize.blocks import BlockMap
from vpp.optimize.fleet import Fleet
from vpp.optimize.master import contested_columns
from vpp.optimize.problem import SolverOptions

T = INTERVALS_PER_DAY
HOURS = np.arange(T) / 4.0
KINDS = ("battery", "curtailable", "process", "ev", "pv")
MIX = (0.3, 0.2, 0.15, 0.15, 0.2)


@dataclass(frozen=True)
class _Asset:
    battery: GeneralisedBattery
    lo_kw: FloatArray
    hi_kw: FloatArray
    activation_cny_per_mwh: float
    risk_cny_per_mwh: float


def _window(start_h: float, end_h: float) -> FloatArray:
    """1.0 inside [start, end) (wrapping midnight), else 0.0."""
    hour = HOURS
    if start_h <= end_h:
        return ((hour >= start_h) & (hour < end_h)).astype(np.float64)
    return ((hour >= start_h) | (hour < end_h)).astype(np.float64)


def _load_shape(rng: np.random.Generator) -> FloatArray:
    """A daily commercial/industrial load shape around 1.0 (day shift plus noise)."""
    day = 0.75 + 0.35 * _window(8.0 + rng.uniform(-1, 1), 18.0 + rng.uniform(-1, 2))
    return day * (1.0 + 0.05 * rng.standard_normal(T))


def _battery(rng: np.random.Generator) -> _Asset:
    capacity = float(rng.uniform(100, 2000))
    c_rate = float(rng.choice([0.25, 0.5, 1.0]))
    params = BatteryParams(
        capacity_kwh=capacity,
        charge_power_kw=capacity * c_rate,
        discharge_power_kw=capacity * c_rate,
        soc_min=float(rng.uniform(0.05, 0.15)),
        soc_max=float(rng.uniform(0.85, 0.95)),
        soc_initial=float(rng.uniform(0.3, 0.7)),
        round_trip_efficiency=float(rng.uniform(0.85, 0.95)),
        self_discharge_per_day=float(rng.uniform(0.0, 0.02)),
        ramp_kw_per_min=None if rng.random() < 0.7 else capacity * c_rate / 5,
    )
    battery = params.to_flexibility()
    lo, hi = deviation_bounds(battery)
    return _Asset(battery, lo, hi, float(rng.uniform(20, 80)), 0.0)


def _curtailable(rng: np.random.Generator) -> _Asset:
    nominal = float(rng.uniform(50, 2000))
    params = CurtailableLoadParams(
        nominal_kw=nominal,
        min_kw=nominal * float(rng.uniform(0.3, 0.8)),
        max_kw=nominal * float(rng.uniform(1.0, 1.2)),
        max_curtailment_kwh_per_day=None if rng.random() < 0.5 else nominal * rng.uniform(1, 4),
        ramp_kw_per_min=None,
    )
    battery = params.to_flexibility()
    lo, hi = deviation_bounds(battery, nominal * _load_shape(rng))
    return _Asset(battery, lo, hi, float(rng.uniform(50, 300)), float(rng.uniform(0, 20)))


def _process(rng: np.random.Generator) -> _Asset:
    rated = float(rng.uniform(200, 5000))
    process = ProcessType(str(rng.choice(list(ProcessType))))
    params = ShiftableProcessParams(
        process=process,
        rated_kw=rated,
        min_stable_kw=rated * float(rng.uniform(0.1, 0.5)),
        max_kw=rated * float(rng.uniform(1.0, 1.2)),
        storage_kwh=rated * float(rng.uniform(1, 6)),
        storage_initial_fraction=float(rng.uniform(0.3, 0.7)),
        storage_loss_per_day=float(rng.uniform(0.0, 0.05)),
        ramp_kw_per_min=None if process != ProcessType.KILN else rated / 30,
    )
    battery = params.to_flexibility()
    lo, hi = deviation_bounds(battery)
    return _Asset(battery, lo, hi, float(rng.uniform(30, 150)), float(rng.uniform(0, 10)))


def _ev(rng: np.random.Generator) -> _Asset:
    chargers = int(rng.integers(5, 50))
    power = float(rng.choice([7.0, 11.0, 22.0, 60.0]))
    hours = float(rng.uniform(8, 14))
    params = EvFleetParams(
        charger_count=chargers,
        charger_power_kw=power,
        daily_energy_kwh=chargers * power * hours * float(rng.uniform(0.3, 0.8)),
        plug_in_hours=hours,
        v2g=bool(rng.random() < 0.2),
    )
    battery = params.to_flexibility()
    start = 19.0 if rng.random() < 0.6 else 8.0
    plugged = _window(start, (start + hours) % 24)
    lo, hi = deviation_bounds(battery)
    return _Asset(battery, lo * plugged, hi * plugged, float(rng.uniform(20, 60)), 0.0)


def _pv(rng: np.random.Generator) -> _Asset:
    params = PvParams(peak_kw=float(rng.uniform(100, 5000)))
    sun = np.clip(np.sin((HOURS - 6.5) / 13.0 * np.pi), 0.0, None)
    generation = params.ac_capacity_kw * sun * float(rng.uniform(0.5, 0.9))
    lo, hi = pv_curtailment_bounds(generation, params.ac_capacity_kw)
    return _Asset(params.to_flexibility(), lo, hi, float(rng.uniform(30, 100)), 0.0)


_MAKERS = {"battery": _battery, "curtailable": _curtailable, "process": _process, "ev": _ev}


def synthetic_fleet(n_assets: int, seed: int = 0) -> tuple[Fleet, FloatArray]:
    """(fleet, risk cost (n, T) CNY/MWh) of ``n_assets`` random assets of the mixed fleet."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(KINDS, size=n_assets, p=MIX)
    assets = [(_MAKERS.get(str(kind), _pv))(rng) for kind in kinds]
    fleet = Fleet.from_batteries(
        [f"{kind}-{i:05d}" for i, kind in enumerate(kinds)],
        [a.battery for a in assets],
        lo_kw=np.stack([a.lo_kw for a in assets]),
        hi_kw=np.stack([a.hi_kw for a in assets]),
        activation_cost_cny_per_mwh=np.array([a.activation_cny_per_mwh for a in assets]),
        horizon=T,
    )
    risk = np.array([a.risk_cny_per_mwh for a in assets])[:, None] * np.ones(T)
    return fleet, risk


def _limits(side: Direction, cap: float, pool_rules: bool) -> OfferLimits:
    return OfferLimits(
        side=side,
        intervals_per_day=T,
        price_floor_cny_per_mwh=0.0,
        price_cap_cny_per_mwh=cap,
        min_quantity_kw=1000.0 if pool_rules else 0.0,
        quantity_step_kw=100.0 if pool_rules else 10.0,
        min_duration_intervals=4 if pool_rules else 1,
        max_steps=5,
        pricing=Pricing.UNIFORM,
        penalty_threshold=0.5,
        penalty_factor=0.5,
    )


def bid_inputs(
    fleet: Fleet,
    risk: FloatArray,
    seed: int = 0,
    demand_kw_per_asset: float = 400.0,
    pool_rules: bool = True,
) -> BidInputs:
    """Valley filling and peak cutting for ``fleet`` on a Gansu-like time-of-use day.

    Energy: 220 CNY/MWh in the midday solar valley (10-16 h), 300 at night, 750 at the
    evening peak (18-22 h), 450 otherwise. Valley filling (UP, cap 300) is wanted at midday,
    peak cutting (DOWN, cap 3500) in the morning and evening peaks. The pool caps (market
    demand) are ``demand_kw_per_asset`` x n on average, random per interval; at the default
    they bind in part of each window, lower values make them bind almost everywhere.
    Pool rules (``pool_rules``): 1 MW minimum, 100 kW step, 1 h runs, 5 steps; without
    them (a single asset's own offer) a 10 kW step only.
    """
    rng = np.random.default_rng(seed + 1)
    energy = np.full(T, 450.0)
    energy[_window(10, 16) > 0] = 220.0
    energy[_window(0, 7) > 0] = 300.0
    energy[_window(18, 22) > 0] = 750.0
    n = fleet.n_assets
    midday = _window(10, 16)
    valley_price = (260.0 + 40.0 * rng.random(T)) * midday
    valley_cap = np.where(midday > 0, n * demand_kw_per_asset * rng.uniform(0.3, 1.7, T), 0.0)
    peak = _window(17, 22) + _window(8, 10)
    peak_price = np.where(_window(17, 22) > 0, 1500.0 + 1500.0 * rng.random(T), 800.0) * peak
    peak_cap = np.where(peak > 0, n * demand_kw_per_asset * rng.uniform(0.5, 2.5, T), 0.0)
    products = (
        ProductInput(
            "peak_shaving.valley_fill",
            _limits(Direction.UP, 300.0, pool_rules),
            valley_price,
            valley_cap,
        ),
        ProductInput(
            "peak_shaving.peak_cut",
            _limits(Direction.DOWN, 3500.0, pool_rules),
            peak_price,
            peak_cap,
        ),
    )
    return BidInputs(fleet, products, energy, risk_cost_cny_per_mwh=risk, reserve_margin=0.1)


def _timed(
    inputs: BidInputs,
    options: SolverOptions,
    method: Method = "decomposed",
    blocks: BlockMap | None = None,
    price_rounds: int = PRICE_ROUNDS,
) -> tuple[float, BidPlan]:
    started = time.perf_counter()
    plan = build_bids(inputs, options, method=method, blocks=blocks, price_rounds=price_rounds)
    return time.perf_counter() - started, plan


def _check_plan(plan: BidPlan, inputs: BidInputs) -> None:
    check(np.isfinite(plan.objective_cny), "objective is not finite")
    check(plan.objective_cny > 0, "the plan earns nothing")
    caps = inputs.pool_caps_kw
    check(bool((plan.pool_offer_kw <= caps + 1e-3).all()), "a pool cap is exceeded")
    for ladder, product in zip(plan.ladders, inputs.products, strict=True):
        check(
            np.allclose(
                ladder.quantity_kw,
                plan.pool_offer_kw[plan.products.index(ladder.product)],
                atol=1e-3,
            ),
            f"{product.name}: ladder and offers disagree",
        )
        check(
            all(len(o.steps) <= product.limits.max_steps for o in ladder.offers),
            f"{product.name}: too many steps",
        )


def _fleet_sizes(ctx: Context, options: SolverOptions, blocks: BlockMap) -> list[Result]:
    """``bid_<n>_s`` and the 1,000-asset variants, fanned out over ``blocks``."""
    results: list[Result] = []
    sizes = (100, 1000) if ctx.quick else (100, 1000, 10_000)
    for n in sizes:
        fleet, risk = synthetic_fleet(n, seed=n)
        inputs = bid_inputs(fleet, risk, seed=n)
        repeats = 1 if ctx.quick or n >= 10_000 else 3
        runs = [_timed(inputs, options, blocks=blocks) for _ in range(repeats)]
        seconds = statistics.median(r[0] for r in runs)
        plan = runs[-1][1]
        _check_plan(plan, inputs)
        target = {100: None, 1000: 2.0, 10_000: 10.0}[n]
        results.append(
            Result(
                f"bid_{n}_s",
                seconds,
                "s",
                target,
                "<=",
                f"{n} assets x 96 x 2 products, {plan.rounds} re-solve rounds, "
                f"objective {plan.objective_cny:,.0f} CNY",
            )
        )

    fleet, risk = synthetic_fleet(1000, seed=1000)
    capped = bid_inputs(fleet, risk, seed=1000)
    seconds, plan = _timed(capped, options, blocks=blocks, price_rounds=0)
    _check_plan(plan, capped)
    results.append(
        Result(
            "bid_1000_no_price_rounds_s",
            seconds,
            "s",
            None,
            "<=",
            f"bid_1000_s without the cap-price rounds (plans at the sampled prices, caps "
            f"shared in proportion): objective {plan.objective_cny:,.0f} CNY",
        )
    )

    uncapped = bid_inputs(fleet, risk, seed=1000, demand_kw_per_asset=1e6)
    seconds, plan = _timed(uncapped, options, blocks=blocks)
    check(plan.rounds == 0, "uncapped run needed re-solve rounds")
    results.append(
        Result(
            "bid_1000_uncapped_s",
            seconds,
            "s",
            None,
            "<=",
            f"1000 assets, demand never binding, objective {plan.objective_cny:,.0f} CNY",
        )
    )

    return results


def run(ctx: Context) -> list[Result]:
    """Run the bid benchmarks (module docstring)."""
    options = SolverOptions(time_limit_s=60.0)
    results: list[Result] = []

    samples = ctx.size(300, 40)
    pool, pool_risk = synthetic_fleet(samples, seed=7)
    _timed(bid_inputs(pool.take([0]), pool_risk[[0]], pool_rules=False), options)
    single: list[float] = []
    for i in range(samples):
        inputs = bid_inputs(pool.take([i]), pool_risk[[i]], seed=i, pool_rules=False)
        seconds, _ = _timed(inputs, options)
        single.append(seconds * 1000.0)
    results.append(
        Result(
            "bid_1_asset_p99_ms",
            percentile(sorted(single), 99),
            "ms",
            15.0,
            "<=",
            f"{samples} single-asset build_bids (10 kW step, no pool minimum), "
            f"median {statistics.median(single):.1f} ms",
        )
    )

    compute = open_compute("local")
    try:
        results.extend(_fleet_sizes(ctx, options, compute.blocks))
    finally:
        compute.close()

    n_gap = ctx.size(300, 60)
    fleet, risk = synthetic_fleet(n_gap, seed=11)
    inputs = bid_inputs(fleet, risk, seed=11)
    mono_options = SolverOptions(time_limit_s=600.0, mip_rel_gap=1e-5)
    mono_s, mono = _timed(inputs, mono_options, method="monolithic")
    check(mono.status.has_solution, f"monolithic: {mono.status}")
    dec_s, dec = _timed(inputs, options)
    _check_plan(dec, inputs)
    gap = decomposition_gap(mono, dec)
    caps = inputs.pool_caps_kw
    contested = contested_columns(fleet.lo_kw, fleet.hi_kw, caps)
    binding = contested & (mono.pool_offer_kw >= caps - inputs.limits[0].quantity_step_kw)
    results.append(
        Result(
            "bid_gap_vs_monolithic",
            gap,
            "fraction",
            0.001,
            "<=",
            f"{n_gap} assets, {int(contested.sum())} capped product-intervals "
            f"({int(binding.sum())} at the cap in the monolithic optimum): monolithic "
            f"{mono.objective_cny:,.2f} CNY in {mono_s:.1f} s (MIP gap {mono.mip_gap}), "
            f"decomposed {dec.objective_cny:,.2f} CNY in {dec_s:.2f} s, {dec.rounds} rounds",
        )
    )
    return results


BENCHMARKS = [
    Benchmark(
        "bid",
        (
            "bid_1_asset_p99_ms",
            "bid_100_s",
            "bid_1000_s",
            "bid_10000_s",
            "bid_1000_no_price_rounds_s",
            "bid_1000_uncapped_s",
            "bid_gap_vs_monolithic",
        ),
        run,
        description="bid optimiser: latency, scaling to 10,000 assets, gap to monolithic",
    )
]
