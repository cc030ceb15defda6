"""Bid value benchmark: realised profit of the bid optimiser against a perfect-foresight oracle.

Records (names are a contract, DESIGN §7):

- ``bid_profit_vs_oracle`` (fraction, target >= 0.90): the optimiser's realised profit
  after penalties over the benchmark days divided by the oracle's.
- ``bid_naive_vs_oracle`` (fraction, no target): the same ratio for the naive strategy.
- ``bid_value_margin_vs_naive_cny`` (CNY, target >= 0): the optimiser's realised profit
  minus the naive strategy's, summed over the benchmark days.
- Where the gap comes from (fractions of the oracle, no target):
  ``bid_profit_vs_oracle_bold``, the service at the operator's bold risk setting 0.5 (P50
  bounds); ``bid_profit_vs_oracle_no_reserve``, the planner's inputs without the reserve
  margin; ``bid_perfect_info_vs_oracle``, the optimiser's robust model given the oracle's
  information (true bounds, no reserve, offers at the floor): what is left is the robust
  box's structure and the price knowledge; ``bid_unmeasured_response_share``, the share of
  the optimiser's delivered response that its own firm schedule cancels (see below).
  The printed table adds the oracle's candidates and the optimiser variants of
  `SENSITIVITY`, among them a "recommended" one that measures proposed optimiser changes.

The park. 40 assets built from `vpp.domain` parameters: stationary batteries, curtailable
loads (each with a daily curtailment budget), shiftable processes with a buffer, EV depots
(some V2G), curtailable PV; tens to hundreds of kW each, declared activation costs. It can
cut about 5 MW at the evening peak, a tenth to a fifth of the simulated market's demand:
near, not quite, a price-taker. Each market day every asset has a P50 baseline forecast
(load shape; PV from the province's solar clearness of that day) and a TRUE baseline
= P50 x (1 + e), e a daily level error plus an AR(1) wobble (rho 0.95 per 15 min), relative
sd 6-14 % for loads and EV charging, 10-20 % for PV generation, none for batteries and
processes (their baseline is their own plan); 80 % of the PV error variance is common to
all PV (one sky), 30 % of the loads' and EV depots' (weather, calendar). P10 / P90 = P50
x (1 -/+ 1.2816 sd): the bands are calibrated. Bounds follow `vpp.forecast.flexibility`
as the service computes them at its default risk setting 0.1: `robust_bounds` over
P10-P90, PV `pv_curtailment_bounds` of its P10 generation (EV depots: only while plugged
in); the TRUE bounds come from the true baseline (a load below its floor cannot shed).

The market. `market.simulator.operator.SimulatedMarket` with the installed peak-shaving
packs (valley filling, peak cutting) and their default rules, one seed: demand from its
curtailment forecast, ten competitors from `market.simulator.competitors`. 20 days (quick
5) spread over a year, so sunny, windy and calm days, summer and winter evenings occur.
Each strategy submits before the gate to its own operator of the same seed, which clears
after the gate: each meets the same demand and competitors on its own.

The strategies.

1. *optimiser*: the service's own path, `vpp.bidding.planner.plan_bids`: price-taker at
   the outlook's reference price, pool cap = published demand, time-of-use energy price,
   its reserve margin, declared activation costs, P10-P90 robust bounds; the ladders are
   submitted as they are.
2. *naive*: the P50 guaranteed box (`envelope`) of each asset over the intervals where
   its direction has demand, summed, rounded down to the pack's step, minimum and
   duration, offered at the price cap in every interval with demand; no firm schedule.
3. *oracle*: perfect foresight. It knows the true bounds and the clearing prices, offers
   at the floor (so everything it offers clears, up to the demand) and plans ONE
   deterministic path per asset, firm schedule plus awards (`oracle_problem`, an LP over
   the true fleet: power, energy, ramp, the optimiser's end-of-day energy rule for the firm
   schedule, awards <= demand, paid only for the response the meter sees), re-solved at
   its totals rounded to the pool rules: unlike the robust box it knows its
   valley-filling energy will be there for peak cutting. Its prices: the competitors'
   clearing alone (the outlook), then the clearing its own first bid produced; the
   optimiser's robust model with perfect information is a third candidate. It takes
   whichever realises most: an upper reference, not a strategy anyone could run.

Realisation, the same for all: each product is cleared by its pack (competitors + the
strategy's bid); the awards are delivered with `plan_setpoints` on the TRUE fleet on top
of the strategy's firm schedule (clipped to the true power bounds), any asset helping (the
intraday correction at its best, no reserve held back); what the truth does not allow is
shortfall. The response is what the meter sees against the TRUE baseline (DESIGN §3: what
the assets would have drawn without the VPP), pool-wide: firm schedule plus deliveries
(`pool_response`). A firm schedule that raises load in the peak-cutting window only to
cut it again is therefore not paid for the cut; measured against baseline + firm schedule
instead it would be, and the table's "unmeasured" column shows how much of that there
is. `pack.score(awarded, response, award price)` gives payments and penalties. Costs as
`vpp.optimize.bidding.unit_values` counts them: activation of the delivered flexibility
and the time-of-use energy cost of every deviation from baseline (firm schedule and
deliveries; peak cutting saves the peak energy it does not draw). Realised profit =
payments - penalties - activation - energy cost, against following the baselines;
energy left in storage at the end of the day is worth nothing to anyone. The firm
schedules' own activation (e.g. a load shifted by the firm schedule) is printed but, like
`unit_values`, not charged."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, timedelta

import numpy as np
import scipy.sparse as sp

from bench.core import Benchmark, BenchmarkError, Context, Result, check
from market.simulator.curtailment import Province, solar_capacity_factor
from market.simulator.operator import SimulatedMarket
from vpp.bidding.planner import (
    RESERVE_BY_RISK,
    SOLVER,
    PoolAsset,
    participant_pays,
    plan_bids,
    response_windows,
    without_counter_positions,
)
from vpp.bidding.registry import load_packs
from vpp.bidding.service import ERROR_CORRELATION
from vpp.domain import (
    INTERVAL_HOURS,
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
from vpp.domain.assets import AssetParams, activation_cost_of
from vpp.domain.market import Bid, BidStep, Clearing, IntervalOffer, MarketOutlook, OfferLimits
from vpp.domain.tariff import TimeOfUseTariff
from vpp.domain.units import KWH_PER_MWH, FloatArray
from vpp.forecast.flexibility import (
    deviation_bounds,
    envelope,
    pooled_bands,
    pv_curtailment_bounds,
    robust_bounds,
)
from vpp.optimize.bidding import BidInputs, ProductInput, build_bids
from vpp.optimize.disaggregation import plan_setpoints
from vpp.optimize.fleet import Fleet
from vpp.optimize.problem import Problem, SolverOptions, Variables, solve
from vpp.ports import ManualClock, MarketPack

T = INTERVALS_PER_DAY
HOURS = np.arange(T) * INTERVAL_HOURS
PER_KW = INTERVAL_HOURS / KWH_PER_MWH
"""CNY per (kW-interval x CNY/MWh)."""
PRODUCTS = ("peak_shaving.valley_fill", "peak_shaving.peak_cut")
PARTICIPANT = "park-aggregator"
MARKET_SEED = 2026
PARK_SEED = 17
FIRST_DAY = date(2026, 1, 9)
DAY_SPACING = 18
"""Days between benchmark days: 20 days cover a year."""
FULL_DAYS, QUICK_DAYS = 20, 5
PARK_ASSETS = 40
Z90 = 1.2815515655446004
"""Standard-normal 90 % quantile: P90 = P50 x (1 + Z90 x sd)."""
ERROR_RHO = 0.95
COMMON_ERROR_SHARE = {"pv": 0.8, "load": 0.3, "ev": 0.3}
"""Share of a kind's forecast-error variance common to all its assets (weather, calendar)."""
RISK_QUANTILE = 0.1
"""The service's default risk setting: offers deliverable for any baseline in P10-P90."""
STRATEGIES = ("optimiser", "naive", "oracle")
ORACLE_OPTIONS = SolverOptions(time_limit_s=60.0)
DISPATCH_OPTIONS = SolverOptions(time_limit_s=60.0)
TOLERANCE_KW = 1e-4
AWARD_TOLERANCE_KW = 1e-9
"""Awards at most this small are none (the packs' scoring ignores them too)."""
ORACLE_ROUNDS = 4
"""Most LP solves of the oracle's rounding loop (`oracle_plan`)."""


# --- the park ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Park:
    """The assets, their models and what their baselines and forecasts look like."""

    asset_ids: tuple[str, ...]
    kinds: tuple[str, ...]
    params: tuple[AssetParams, ...]
    batteries: tuple[GeneralisedBattery, ...]
    shape_kw: FloatArray
    """(n, T) expected baseline net load (kW) for non-PV assets; PV: 0 (from the day)."""
    movable: FloatArray
    """(n, T) 1 where the asset can deviate (EV: plugged in), else 0."""
    error_sd: FloatArray
    """(n,) relative sd of the baseline (PV: generation) forecast error."""

    @property
    def n_assets(self) -> int:
        return len(self.asset_ids)

    @property
    def activation_cny_per_mwh(self) -> FloatArray:
        return np.array([activation_cost_of(p) for p in self.params], np.float64)

    def fleet(self, lo_kw: FloatArray, hi_kw: FloatArray) -> Fleet:
        """The optimisers' fleet view with these deviation bounds (kW)."""
        return Fleet.from_batteries(
            self.asset_ids,
            self.batteries,
            lo_kw=lo_kw,
            hi_kw=hi_kw,
            activation_cost_cny_per_mwh=self.activation_cny_per_mwh,
        )


@dataclass(frozen=True)
class ParkDay:
    """One market day of the park: forecast bands and the truth (all (n, T) kW)."""

    day: date
    baseline_p50_kw: FloatArray
    robust_lo_kw: FloatArray
    """Deviation bounds deliverable for any baseline in each asset's share of the pool's
    P10-P90 band (risk 0.1, as the service builds them)."""
    robust_hi_kw: FloatArray
    median_lo_kw: FloatArray
    """Deviation bounds around the P50 baseline."""
    median_hi_kw: FloatArray
    true_lo_kw: FloatArray
    true_hi_kw: FloatArray


def _window(start_h: float, end_h: float) -> FloatArray:
    """1.0 inside [start, end) hours of the day (wrapping midnight), else 0.0."""
    after, before = np.greater_equal(HOURS, start_h), np.less(HOURS, end_h)
    inside = after & before if start_h <= end_h else after | before
    return np.asarray(inside, np.float64)


def _smooth(values: FloatArray, width: int = 4) -> FloatArray:
    kernel = np.ones(width) / width
    padded = np.concatenate([values[-width:], values, values[:width]])
    return np.asarray(np.convolve(padded, kernel, mode="same")[width:-width], np.float64)


def build_park(n_assets: int = PARK_ASSETS, seed: int = PARK_SEED) -> Park:
    """A mixed park: 20 % batteries, 25 % curtailable loads, 15 % processes, 15 % EV depots,
    25 % PV; tens to hundreds of kW each, about 5 MW of evening peak cutting in all."""
    rng = np.random.default_rng(seed)
    counts = np.floor(np.array([0.2, 0.25, 0.15, 0.15, 0.25]) * n_assets).astype(int)
    counts[1] += n_assets - counts.sum()
    kinds = np.repeat(["battery", "load", "process", "ev", "pv"], counts).tolist()
    params: list[AssetParams] = []
    shapes: list[FloatArray] = []
    movable: list[FloatArray] = []
    sds: list[float] = []
    for kind in kinds:
        always = np.ones(T)
        if kind == "battery":
            capacity = float(rng.uniform(50, 400))
            c_rate = float(rng.choice([0.25, 0.5]))
            params.append(
                BatteryParams(
                    capacity_kwh=capacity,
                    charge_power_kw=capacity * c_rate,
                    discharge_power_kw=capacity * c_rate,
                    soc_initial=0.5,
                    round_trip_efficiency=float(rng.uniform(0.88, 0.94)),
                    self_discharge_per_day=float(rng.uniform(0.0, 0.02)),
                    activation_cost_cny_per_mwh=float(rng.uniform(20, 50)),
                )
            )
            shapes.append(np.zeros(T))
            movable.append(always)
            sds.append(0.0)
        elif kind == "load":
            nominal = float(rng.uniform(30, 300))
            open_h, close_h = float(rng.uniform(7, 9)), float(rng.uniform(17, 23))
            shape = 0.7 + 0.3 * _smooth(_window(open_h, close_h), 6)
            params.append(
                CurtailableLoadParams(
                    nominal_kw=nominal,
                    min_kw=nominal * float(rng.uniform(0.3, 0.45)),
                    max_kw=nominal * float(rng.uniform(1.25, 1.4)),
                    max_curtailment_kwh_per_day=nominal * float(rng.uniform(1.5, 4.0)),
                    activation_cost_cny_per_mwh=float(rng.uniform(80, 250)),
                )
            )
            shapes.append(nominal * shape)
            movable.append(always)
            sds.append(float(rng.uniform(0.06, 0.14)))
        elif kind == "process":
            rated = float(rng.uniform(50, 500))
            process = ProcessType(str(rng.choice(list(ProcessType))))
            params.append(
                ShiftableProcessParams(
                    process=process,
                    rated_kw=rated,
                    min_stable_kw=rated * float(rng.uniform(0.2, 0.5)),
                    max_kw=rated * float(rng.uniform(1.1, 1.3)),
                    storage_kwh=rated * float(rng.uniform(2, 6)),
                    storage_initial_fraction=0.5,
                    storage_loss_per_day=float(rng.uniform(0.0, 0.03)),
                    ramp_kw_per_min=None if process != ProcessType.KILN else rated / 30,
                    activation_cost_cny_per_mwh=float(rng.uniform(40, 120)),
                )
            )
            shapes.append(np.full(T, rated))
            movable.append(always)
            sds.append(0.0)
        elif kind == "ev":
            chargers = int(rng.integers(4, 16))
            power = float(rng.choice([7.0, 11.0, 22.0]))
            hours = float(rng.uniform(10, 13))
            start = 19.0 if rng.random() < 0.7 else 8.0
            plugged = _window(start, (start + hours) % 24)
            ev = EvFleetParams(
                charger_count=chargers,
                charger_power_kw=power,
                daily_energy_kwh=chargers * power * hours * float(rng.uniform(0.3, 0.6)),
                plug_in_hours=hours,
                v2g=bool(rng.random() < 0.3),
                activation_cost_cny_per_mwh=float(rng.uniform(15, 40)),
            )
            params.append(ev)
            shapes.append(plugged * ev.daily_energy_kwh / hours)
            movable.append(plugged)
            sds.append(float(rng.uniform(0.06, 0.12)))
        else:
            peak = float(rng.uniform(50, 800))
            params.append(
                PvParams(
                    peak_kw=peak,
                    inverter_kw=peak * 0.9,
                    activation_cost_cny_per_mwh=float(rng.uniform(0, 20)),
                )
            )
            shapes.append(np.zeros(T))
            movable.append(always)
            sds.append(float(rng.uniform(0.10, 0.20)))
    return Park(
        asset_ids=tuple(str(uuid.UUID(int=seed * 1_000_003 + i)) for i in range(len(kinds))),
        kinds=tuple(kinds),
        params=tuple(params),
        batteries=tuple(p.to_flexibility() for p in params),
        shape_kw=np.stack(shapes),
        movable=np.stack(movable),
        error_sd=np.array(sds),
    )


def _unit_errors(rng: np.random.Generator, count: int) -> FloatArray:
    """(count, T) standard-normal error paths: a daily level plus an AR(1) wobble
    (``ERROR_RHO`` per interval), half the variance each."""
    level = rng.standard_normal(count)
    wobble = np.empty((count, T))
    wobble[:, 0] = rng.standard_normal(count)
    shocks = rng.standard_normal((count, T))
    scale = math.sqrt(1.0 - ERROR_RHO**2)
    for t in range(1, T):
        wobble[:, t] = ERROR_RHO * wobble[:, t - 1] + scale * shocks[:, t]
    return np.asarray((level[:, None] + wobble) / math.sqrt(2.0), np.float64)


def forecast_error(rng: np.random.Generator, park: Park) -> FloatArray:
    """(n, T) relative forecast errors with sd ``park.error_sd``; a kind's assets share
    `COMMON_ERROR_SHARE` of the variance (one sky over the park's PV)."""
    own = _unit_errors(rng, park.n_assets)
    common = dict(zip(COMMON_ERROR_SHARE, _unit_errors(rng, len(COMMON_ERROR_SHARE)), strict=True))
    share = np.array([COMMON_ERROR_SHARE.get(kind, 0.0) for kind in park.kinds])
    shared = np.stack([common.get(kind, np.zeros(T)) for kind in park.kinds])
    z = np.sqrt(share)[:, None] * shared + np.sqrt(1.0 - share)[:, None] * own
    return np.asarray(np.clip(park.error_sd[:, None] * z, -0.6, 0.6), np.float64)


def park_day(park: Park, day: date, clearness: float, seed: int = PARK_SEED) -> ParkDay:
    """Forecast bands and truth of ``day``; ``clearness`` is the province's solar forecast."""
    rng = np.random.default_rng([seed, day.toordinal()])
    error = forecast_error(rng, park)
    sun = solar_capacity_factor(day, clearness, Province())
    n = park.n_assets
    p50, p10, p90, truth = (np.zeros((n, T)) for _ in range(4))
    bounds: dict[str, list[FloatArray]] = {
        k: [] for k in ("rlo", "rhi", "mlo", "mhi", "tlo", "thi")
    }
    for i, (kind, params, battery) in enumerate(
        zip(park.kinds, park.params, park.batteries, strict=True)
    ):
        sd = park.error_sd[i]
        if isinstance(params, PvParams):
            gen50 = params.ac_capacity_kw * sun
            gen = {
                "p50": gen50,
                "p10": gen50 * max(0.0, 1.0 - Z90 * sd),
                "true": np.clip(gen50 * (1.0 + error[i]), 0.0, params.ac_capacity_kw),
            }
            p50[i] = -gen["p50"]
            p10[i], p90[i] = -gen50 * min(2.0, 1.0 + Z90 * sd), -gen["p10"]
            parts = {
                "r": pv_curtailment_bounds(gen["p10"], params.ac_capacity_kw),
                "m": pv_curtailment_bounds(gen["p50"], params.ac_capacity_kw),
                "t": pv_curtailment_bounds(gen["true"], params.ac_capacity_kw),
            }
        else:
            base = park.shape_kw[i]
            if kind in {"battery", "process"}:
                base = np.full(T, battery.baseline_kw)
            p50[i] = base
            p10[i], p90[i] = base * (1.0 - Z90 * sd), base * (1.0 + Z90 * sd)
            truth[i] = base * (1.0 + error[i])
            mask = park.movable[i]
            t_lo, t_hi = deviation_bounds(battery, truth[i])
            parts = {
                "r": _masked(robust_bounds(battery, p10[i], p90[i]), mask),
                "m": _masked(deviation_bounds(battery, p50[i]), mask),
                # a load below its floor cannot shed, above its maximum cannot be raised
                "t": _masked((np.minimum(t_lo, 0.0), np.maximum(t_hi, 0.0)), mask),
            }
        for key, (lo, hi) in parts.items():
            bounds[f"{key}lo"].append(np.asarray(lo, np.float64))
            bounds[f"{key}hi"].append(np.asarray(hi, np.float64))
    # The service bids each asset's share of the POOL's P10-P90 band (`pooled_bands`).
    low, high = pooled_bands(p50, p10, p90, ERROR_CORRELATION)
    for i, (params, battery) in enumerate(zip(park.params, park.batteries, strict=True)):
        if isinstance(params, PvParams):
            lo, hi = pv_curtailment_bounds(np.clip(-high[i], 0.0, None), params.ac_capacity_kw)
        else:
            band = robust_bounds(battery, low[i], high[i])
            lo, hi = _masked((np.minimum(band[0], 0.0), np.maximum(band[1], 0.0)), park.movable[i])
        bounds["rlo"][i], bounds["rhi"][i] = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    out = ParkDay(
        day,
        p50,
        *(np.stack(bounds[k]) for k in ("rlo", "rhi", "mlo", "mhi", "tlo", "thi")),
    )
    for lo, hi in ((out.robust_lo_kw, out.robust_hi_kw), (out.median_lo_kw, out.median_hi_kw)):
        check(bool((lo <= 1e-9).all() and (hi >= -1e-9).all()), "forecast bounds exclude 0")
    return out


def _masked(
    bounds: tuple[FloatArray, FloatArray], mask: FloatArray
) -> tuple[FloatArray, FloatArray]:
    return np.asarray(bounds[0] * mask, np.float64), np.asarray(bounds[1] * mask, np.float64)


# --- strategies ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StrategyPlan:
    """What a strategy commits to for a day: firm schedule (n, T) kW and one bid per product."""

    firm_kw: FloatArray
    bids: Mapping[str, Bid]


def rule_abiding(total_kw: FloatArray, limits: OfferLimits) -> FloatArray:
    """Pool quantities (T,) rounded DOWN to the step; below the minimum and runs shorter
    than the minimum duration dropped (kW). Only ever offers less."""
    step = limits.quantity_step_kw
    out = np.floor(total_kw / step + 1e-6) * step if step > 0 else np.maximum(total_kw, 0.0)
    minimum = limits.min_quantity_kw
    if step > 0:
        minimum = max(step, math.ceil(minimum / step - 1e-9) * step)
    out = np.where(out + 1e-9 >= minimum, out, 0.0)
    on = out > 0
    edges = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        if end - start < limits.min_duration_intervals:
            out[start:end] = 0.0
    return np.asarray(out, np.float64)


def single_step_bid(
    product: str, day: date, limits: OfferLimits, quantity_kw: FloatArray, price: float
) -> Bid:
    """One step per interval at ``price`` (CNY/MWh); intervals of 0 kW are left empty."""
    offers = tuple(
        IntervalOffer(k, (BidStep(price, float(q)),) if q > 0 else ())
        for k, q in enumerate(np.asarray(quantity_kw, np.float64).tolist())
    )
    return Bid(product, day, PARTICIPANT, limits.side, offers)


def _bounds_at(today: ParkDay, risk_quantile: float) -> tuple[FloatArray, FloatArray]:
    """The service's deviation bounds at a risk setting: 0.1 = P10-P90, 0.5 = P50."""
    if risk_quantile < 0.5:
        return today.robust_lo_kw, today.robust_hi_kw
    return today.median_lo_kw, today.median_hi_kw


def optimiser_plan(
    park: Park,
    today: ParkDay,
    packs: Mapping[str, MarketPack],
    outlooks: Mapping[str, MarketOutlook],
    risk_quantile: float = RISK_QUANTILE,
) -> StrategyPlan:
    """The service's own path, `vpp.bidding.planner.plan_bids`, at ``risk_quantile``."""
    lo, hi = _bounds_at(today, risk_quantile)
    account = uuid.UUID(int=1)
    assets = [
        PoolAsset(
            asset_id=uuid.UUID(park.asset_ids[i]),
            account_id=account,
            params=park.params[i],
            battery=park.batteries[i],
            lo_kw=lo[i],
            hi_kw=hi[i],
            baseline_kw=today.baseline_p50_kw[i],
        )
        for i in range(park.n_assets)
    ]
    plan = plan_bids(assets, packs, outlooks, risk_quantile=RISK_QUANTILE)
    bids = {
        b.product: Bid(b.product, today.day, PARTICIPANT, packs[b.product].limits().side, b.ladder)
        for b in plan.bids
        if any(o.steps for o in b.ladder)
    }
    return StrategyPlan(np.asarray(plan.firm_kw, np.float64), bids)


def planner_inputs(
    park: Park,
    today: ParkDay,
    packs: Mapping[str, MarketPack],
    outlooks: Mapping[str, MarketOutlook],
    *,
    risk_quantile: float = RISK_QUANTILE,
    reserve_margin: float = RESERVE_BY_RISK[RISK_QUANTILE],
    bounds_kw: tuple[FloatArray, FloatArray] | None = None,
) -> BidInputs:
    """The `BidInputs` `plan_bids` builds (price-taker at the reference price, pool cap =
    demand, time-of-use energy price, declared activation costs), with another reserve
    margin or other deviation bounds (n, T) kW: for the sensitivity runs only, the
    benchmark's optimiser is `plan_bids` itself."""
    lo, hi = _bounds_at(today, risk_quantile) if bounds_kw is None else bounds_kw
    lo, hi = without_counter_positions(lo, hi, *response_windows(packs, outlooks))
    products = tuple(
        ProductInput(
            name=p,
            limits=packs[p].limits(),
            expected_price_cny_per_mwh=np.asarray(o.reference_price_cny_per_mwh),
            pool_cap_kw=np.asarray(o.demand_kw),
            paid_to_pool=not participant_pays(packs[p]),
            energy_at_tariff=p.startswith("peak_shaving."),
        )
        for p, o in outlooks.items()
    )
    return BidInputs(
        fleet=park.fleet(lo, hi),
        products=products,
        energy_price_cny_per_mwh=TimeOfUseTariff().price_cny_per_mwh(),
        reserve_margin=reserve_margin,
    )


def pooled_bounds(park: Park, today: ParkDay) -> tuple[FloatArray, FloatArray]:
    """P10-P90 robust bounds of the POOL, shared out: every asset's band shrunk by the
    pool's diversification factor f[t] = sd(Σ errors) / Σ sd(errors) (kW, (n, T)).

    The service sums per-asset P10-P90 boxes, which is far wider than the pool's own
    P10-P90 when errors are partly independent (`COMMON_ERROR_SHARE`, here known; the
    service would estimate it from its forecast residuals).
    """
    width = park.error_sd[:, None] * np.abs(today.baseline_p50_kw)  # (n, T) kW sd
    variance = np.sum(width**2, axis=0)
    for kind, share in COMMON_ERROR_SHARE.items():
        mine = width[np.array([k == kind for k in park.kinds], bool)]
        # correlation `share` between any two assets of the kind
        variance += share * (mine.sum(axis=0) ** 2 - np.sum(mine**2, axis=0))
    factor = np.sqrt(variance) / np.maximum(width.sum(axis=0), 1e-9)
    lo, hi = today.robust_lo_kw.copy(), today.robust_hi_kw.copy()
    for i, (params, battery) in enumerate(zip(park.params, park.batteries, strict=True)):
        if park.error_sd[i] == 0:
            continue
        sd = park.error_sd[i] * factor
        p50 = today.baseline_p50_kw[i]
        if isinstance(params, PvParams):
            generation = -p50 * np.clip(1.0 - Z90 * sd, 0.0, None)
            lo[i], hi[i] = pv_curtailment_bounds(generation, params.ac_capacity_kw)
        else:
            band = robust_bounds(battery, p50 * (1.0 - Z90 * sd), p50 * (1.0 + Z90 * sd))
            lo[i], hi[i] = _masked(band, park.movable[i])
    return lo, hi


def variant_plan(inputs: BidInputs, day: date) -> StrategyPlan:
    """`build_bids` on ``inputs``, its ladders submitted as they are."""
    plan = build_bids(inputs, SOLVER)
    bids = {
        p.name: Bid(p.name, day, PARTICIPANT, p.limits.side, plan.ladder(p.name).offers)
        for p in inputs.products
        if plan.ladder(p.name).quantity_kw.any()
    }
    return StrategyPlan(np.asarray(plan.firm_kw, np.float64), bids)


def naive_plan(
    park: Park,
    today: ParkDay,
    packs: Mapping[str, MarketPack],
    outlooks: Mapping[str, MarketOutlook],
) -> StrategyPlan:
    """The P50 guaranteed box over the demand hours, summed, at the cap (module docstring)."""
    wanted = {p: np.asarray(outlooks[p].demand_kw) > 0 for p in outlooks}
    up_hours = np.zeros(T, bool)
    down_hours = np.zeros(T, bool)
    for product, mask in wanted.items():
        if packs[product].limits().side == Direction.UP:
            up_hours |= mask
        else:
            down_hours |= mask
    up = np.zeros(T)
    down = np.zeros(T)
    for i, battery in enumerate(park.batteries):
        lo = np.where(down_hours, today.median_lo_kw[i], 0.0)
        hi = np.where(up_hours, today.median_hi_kw[i], 0.0)
        box = envelope(battery, (lo, hi))
        up += box.up_kw
        down += box.down_kw
    bids = {}
    for product, mask in wanted.items():
        limits = packs[product].limits()
        total = up if limits.side == Direction.UP else down
        quantity = rule_abiding(np.where(mask, total, 0.0), limits)
        if quantity.any():
            bids[product] = single_step_bid(
                product, today.day, limits, quantity, limits.price_cap_cny_per_mwh
            )
    return StrategyPlan(np.zeros((park.n_assets, T)), bids)


def _sparse_sum(weights: FloatArray, n: int) -> sp.csr_array:
    """(n·T, n·K·T): Σ_k weights[k]·y[i, k, t] for every (asset, interval)."""
    per_asset = sp.kron(sp.csr_array(weights[None, :]), sp.eye_array(T))
    return sp.csr_array(sp.kron(sp.eye_array(n), per_asset, format="csr"))


def oracle_problem(
    fleet: Fleet,
    payment_cny_per_kw: FloatArray,
    award_cost_cny_per_kw: FloatArray,
    firm_cost_cny_per_kw: FloatArray,
    signs: FloatArray,
    caps_kw: FloatArray,
) -> tuple[Problem, Variables, Variables]:
    """The deterministic perfect-foresight LP: one path per asset, firm schedule + awards.

    Over firm (n, T), awards y (n, K, T) >= 0 and paid response r (K, T) >= 0:
    min Σ firm_cost·firm + Σ award_cost·y − Σ payment·r with p = firm + Σ_k sign_k·y_k:
    lo <= firm, p <= hi; the energy path of p within [e_min, e_max]; the firm path keeps
    the idle end state (the optimiser's `keep_energy` rule); |p[t] − p[t−1]| <= ramp;
    Σ_i y[i, k, t] <= caps[k, t]; r_k <= Σ_i y_k and, where product k is open (cap > 0),
    r_k <= sign_k·Σ_i p: only the pool's response against the true baseline is paid
    (`pool_response`). With r >= 0 that also keeps the pool from moving against an open
    product, which only a gaming strategy would want. Units: CNY per kW-interval, kW.
    Returns (problem, firm, awards).
    """
    n, k = fleet.n_assets, signs.size
    problem = Problem()
    firm = problem.add_variables(
        "firm_kw",
        (n, T),
        lower=fleet.lo_kw,
        upper=fleet.hi_kw,
        cost=np.broadcast_to(firm_cost_cny_per_kw, (n, T)),
    )
    award = problem.add_variables(
        "award_kw",
        (n, k, T),
        upper=np.broadcast_to(np.where(caps_kw > 0, np.inf, 0.0)[None], (n, k, T)),
        cost=award_cost_cny_per_kw,
    )
    paid = problem.add_variables("paid_kw", (k, T), upper=caps_kw, cost=-payment_cny_per_kw)
    eye = sp.eye_array(n * T, format="csr")
    net = _sparse_sum(signs, n)
    problem.add_constraints(
        "path_power",
        [(firm, eye), (award, net)],
        lower=fleet.lo_kw.ravel(),
        upper=fleet.hi_kw.ravel(),
    )
    _add_path_energy(problem, fleet, firm, award, net)
    ramped = np.flatnonzero(fleet.ramp_limited)
    if ramped.size:
        now = (ramped[:, None] * T + np.arange(1, T)[None, :]).ravel()
        limit = np.repeat(fleet.ramp_kw[ramped], T - 1)
        problem.add_constraints(
            "path_ramp",
            [(firm, eye[now] - eye[now - 1]), (award, net[now] - net[now - 1])],
            lower=-limit,
            upper=limit,
        )
    finite = np.isfinite(caps_kw.ravel())
    pool = sp.csr_array(sp.kron(sp.csr_array(np.ones((1, n))), sp.eye_array(k * T), format="csr"))
    problem.add_constraints("pool_cap", [(award, pool[finite])], upper=caps_kw.ravel()[finite])
    problem.add_constraints(
        "paid_awarded", [(paid, sp.eye_array(k * T, format="csr")), (award, -pool)], upper=0.0
    )
    across = sp.kron(sp.csr_array(np.ones((1, n))), sp.eye_array(T), format="csr")
    firm_response = sp.kron(sp.csr_array(signs[:, None]), across, format="csr")
    award_response = sp.kron(sp.csr_array(np.outer(signs, signs)), across) @ _interleave(n, k)
    # Only where the product is open: paid >= 0 makes each row also ask sign_k·Σ p >= 0.
    open_ = np.flatnonzero(caps_kw.ravel() > 0)
    problem.add_constraints(
        "paid_measured",
        [
            (paid, sp.eye_array(k * T, format="csr")[open_]),
            (firm, -firm_response[open_]),
            (award, -sp.csr_array(award_response)[open_]),
        ],
        upper=0.0,
    )
    return problem, firm, award


def _interleave(n: int, k: int) -> sp.csr_array:
    """(K·n·T, n·K·T) permutation from award order (i, k, t) to (k, i, t)."""
    i, j, t = np.meshgrid(np.arange(n), np.arange(k), np.arange(T), indexing="ij")
    source = (i * k * T + j * T + t).ravel()
    target = (j * n * T + i * T + t).ravel()
    return sp.csr_array((np.ones(source.size), (target, source)), shape=(n * k * T, n * k * T))


def _add_path_energy(
    problem: Problem, fleet: Fleet, firm: Variables, award: Variables, net: sp.csr_array
) -> None:
    """Energy path of p = firm + net awards within the bounds; the firm path keeps energy."""
    limited = np.flatnonzero(fleet.energy_limited)
    if limited.size == 0:
        return
    n, s = fleet.n_assets, limited.size
    a = fleet.retention[limited]
    scale = fleet.efficiency[limited] * fleet.interval_hours
    energy = problem.add_variables(
        "energy_kwh",
        (s, T),
        lower=np.broadcast_to(fleet.e_min_kwh[limited, None], (s, T)),
        upper=np.broadcast_to(fleet.e_max_kwh[limited, None], (s, T)),
    )
    idx = np.arange(s * T).reshape(s, T)
    recursion = sp.csr_array(
        (
            np.concatenate([np.ones(s * T), -np.repeat(a, T - 1)]),
            (
                np.concatenate([idx.ravel(), idx[:, 1:].ravel()]),
                np.concatenate([idx.ravel(), idx[:, :-1].ravel()]),
            ),
        ),
        shape=(s * T, s * T),
    )
    pick = (limited[:, None] * T + np.arange(T)[None, :]).ravel()
    eye = sp.eye_array(n * T, format="csr")
    gain = sp.diags_array(np.repeat(scale, T))
    rhs = np.zeros((s, T))
    rhs[:, 0] = a * fleet.e_initial_kwh[limited]
    problem.add_constraints(
        "path_energy",
        [(energy, recursion), (firm, -gain @ eye[pick]), (award, -gain @ net[pick])],
        lower=rhs.ravel(),
        upper=rhs.ravel(),
    )
    powers = a[:, None] ** np.arange(T - 1, -1, -1)[None, :] * scale[:, None]
    terminal = sp.csr_array((powers.ravel(), (np.repeat(np.arange(s), T), pick)), shape=(s, n * T))
    problem.add_constraints("firm_keeps_energy", [(firm, terminal)], lower=0.0)


def oracle_plan(
    park: Park,
    today: ParkDay,
    packs: Mapping[str, MarketPack],
    demand_kw: Mapping[str, FloatArray],
    prices: Mapping[str, FloatArray],
) -> StrategyPlan:
    """The deterministic perfect-foresight plan at ``prices`` (CNY/MWh), offered at the floor."""
    fleet = park.fleet(today.true_lo_kw, today.true_hi_kw)
    energy = TimeOfUseTariff().price_cny_per_mwh()
    names = list(demand_kw)
    limits = [packs[p].limits() for p in names]
    signs = np.array([1.0 if lim.side == Direction.UP else -1.0 for lim in limits])
    check(not any(participant_pays(packs[p]) for p in names), "the oracle sells services only")
    payment = PER_KW * np.stack(
        [
            np.clip(prices[p], lim.price_floor_cny_per_mwh, lim.price_cap_cny_per_mwh)
            for p, lim in zip(names, limits, strict=True)
        ]
    )
    award_cost = PER_KW * (
        signs[None, :, None] * energy[None, None, :]
        + fleet.activation_cost_cny_per_mwh[:, None, None]
    )
    caps = np.stack([demand_kw[p] for p in names])
    # The pool rules (step, minimum, duration) are not in the LP: round its totals down,
    # cap the next solve at them and re-solve, so the path never relies on an award (e.g.
    # valley-filling energy for later peak cutting) that rounding then drops.
    for _ in range(ORACLE_ROUNDS):
        problem, firm_var, award_var = oracle_problem(
            fleet, payment, award_cost, energy * PER_KW, signs, caps
        )
        solution = solve(problem, ORACLE_OPTIONS)
        check(solution.status.has_solution, f"oracle LP: {solution.status}")
        firm = solution.value(firm_var.name)
        totals = np.clip(solution.value(award_var.name), 0.0, None).sum(axis=0)
        target = np.stack([rule_abiding(totals[k], lim) for k, lim in enumerate(limits)])
        if (totals - target <= TOLERANCE_KW).all():
            break
        caps = np.minimum(caps, target)
    bids = {}
    for k, (product, lim) in enumerate(zip(names, limits, strict=True)):
        if target[k].any():
            bids[product] = single_step_bid(
                product, today.day, lim, target[k], lim.price_floor_cny_per_mwh
            )
    return StrategyPlan(firm, bids)


def perfect_info_plan(
    park: Park,
    today: ParkDay,
    packs: Mapping[str, MarketPack],
    demand_kw: Mapping[str, FloatArray],
    prices: Mapping[str, FloatArray],
) -> StrategyPlan:
    """The optimiser's robust model (`build_bids`) with the oracle's knowledge: true bounds,
    known prices, no reserve margin; its pooled offers bid at the floor."""
    fleet = park.fleet(today.true_lo_kw, today.true_hi_kw)
    products = tuple(
        ProductInput(
            name=p,
            limits=packs[p].limits(),
            expected_price_cny_per_mwh=prices[p],
            pool_cap_kw=demand_kw[p],
        )
        for p in demand_kw
    )
    inputs = BidInputs(fleet, products, TimeOfUseTariff().price_cny_per_mwh())
    plan = build_bids(inputs, ORACLE_OPTIONS)
    bids = {}
    for k, product in enumerate(products):
        quantity = rule_abiding(plan.pool_offer_kw[k], product.limits)
        if quantity.any():
            bids[product.name] = single_step_bid(
                product.name,
                today.day,
                product.limits,
                quantity,
                product.limits.price_floor_cny_per_mwh,
            )
    return StrategyPlan(np.asarray(plan.firm_kw, np.float64), bids)


# --- realisation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """A strategy's realised day, or a sum of days (CNY unless named otherwise)."""

    payment_cny: float = 0.0
    penalty_cny: float = 0.0
    activation_cny: float = 0.0
    """Activation cost of the delivered flexibility at the declared rates."""
    energy_cny: float = 0.0
    """Time-of-use cost of the deviations from baseline (firm + delivered; < 0 = saving)."""
    firm_activation_cny: float = 0.0
    """Activation the firm schedule's deviations would cost at declared rates (not charged,
    as `unit_values` does not charge it)."""
    up_awarded_kwh: float = 0.0
    down_awarded_kwh: float = 0.0
    shortfall_kwh: float = 0.0
    """Award the true fleet could not deliver on top of the firm schedule."""
    unmeasured_kwh: float = 0.0
    """Delivery on top of the firm schedule that is no response against the true baseline:
    the firm schedule moved against the award in the same interval (e.g. a battery charging
    in the firm schedule during the peak-cutting window), so it is not paid."""
    firm_relative_payment_cny: float = 0.0
    """What the payment would be if the response were measured against baseline + firm
    schedule instead of the baseline (not part of the profit)."""

    @property
    def profit_cny(self) -> float:
        return self.payment_cny - self.penalty_cny - self.activation_cny - self.energy_cny

    @property
    def awarded_kwh(self) -> float:
        return self.up_awarded_kwh + self.down_awarded_kwh

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


@dataclass(frozen=True)
class Delivery:
    """How a strategy's awards were delivered on the true fleet, and what it earned."""

    firm_kw: FloatArray
    """(n, T) the firm schedule as executed (clipped to the true power bounds)."""
    award_kw: FloatArray
    """(K, T) awards per product (kW)."""
    award_price_cny_per_mwh: FloatArray
    """(K, T) quantity-weighted price of the awards (CNY/MWh, 0 where none)."""
    delivery_kw: FloatArray
    """(n, K, T) each asset's delivered share of the awards (kW)."""
    outcome: Outcome


def awards_of(clearing: Clearing) -> tuple[FloatArray, FloatArray]:
    """The participant's award (T,) kW and its quantity-weighted price (T,) CNY/MWh."""
    award = np.zeros(T)
    money = np.zeros(T)
    for a in clearing.awards_of(PARTICIPANT):
        award[a.interval] += a.quantity_kw
        money[a.interval] += a.quantity_kw * a.price_cny_per_mwh
    price = np.divide(money, award, out=np.zeros(T), where=award > 0)
    return award, price


def deliver(
    park: Park,
    today: ParkDay,
    plan: StrategyPlan,
    clearings: Mapping[str, Clearing],
    packs: Mapping[str, MarketPack],
) -> Delivery:
    """Deliver the awards on the TRUE fleet on top of the firm schedule; score and cost them.

    `plan_setpoints` splits the awards among all assets within their true limits (the
    intraday correction at its best) and reports what they cannot do as shortfall;
    `pack.score` pays the response the meter sees (`pool_response`) at the award's price
    and applies the penalty.
    """
    fleet = park.fleet(today.true_lo_kw, today.true_hi_kw)
    firm = np.clip(plan.firm_kw, fleet.lo_kw, fleet.hi_kw)
    names = list(clearings)
    awarded = [awards_of(clearings[p]) for p in names]
    award = np.stack([a for a, _ in awarded])
    price = np.stack([p for _, p in awarded])
    sides = [packs[p].limits().side for p in names]
    tariff = TimeOfUseTariff().price_cny_per_mwh()
    activation = fleet.activation_cost_cny_per_mwh
    firm_activation = float(np.sum(activation[:, None] * np.abs(firm)) * PER_KW)
    delivery = np.zeros((park.n_assets, len(names), T))
    setpoint = firm
    if award.any():
        dispatch = plan_setpoints(fleet, firm, award, sides, DISPATCH_OPTIONS)
        check(dispatch.status.has_solution, f"dispatch: {dispatch.status}")
        delivery = np.clip(dispatch.delivery_kw, 0.0, None)
        setpoint = dispatch.setpoint_kw
    delivered = delivery.sum(axis=0)
    response = pool_response(setpoint, award, sides)
    payment = penalty = relative = 0.0
    for k, product in enumerate(names):
        scores = packs[product].score(award[k].tolist(), response[k].tolist(), price[k].tolist())
        payment += sum(s.payment_cny for s in scores)
        penalty += sum(s.penalty_cny for s in scores)
        scores = packs[product].score(award[k].tolist(), delivered[k].tolist(), price[k].tolist())
        relative += sum(s.payment_cny for s in scores)
    up = np.array([side == Direction.UP for side in sides])
    outcome = Outcome(
        payment_cny=payment,
        penalty_cny=penalty,
        activation_cny=float(np.sum(activation[:, None, None] * delivery) * PER_KW),
        energy_cny=float(np.sum(tariff * setpoint.sum(axis=0)) * PER_KW),
        firm_activation_cny=firm_activation,
        up_awarded_kwh=float(award[up].sum() * INTERVAL_HOURS),
        down_awarded_kwh=float(award[~up].sum() * INTERVAL_HOURS),
        shortfall_kwh=float(np.clip(award - delivered, 0.0, None).sum() * INTERVAL_HOURS),
        unmeasured_kwh=float(np.clip(delivered - response, 0.0, None).sum() * INTERVAL_HOURS),
        firm_relative_payment_cny=relative,
    )
    return Delivery(firm, award, price, delivery, outcome)


def pool_response(
    setpoint_kw: FloatArray, award_kw: FloatArray, sides: Sequence[Direction]
) -> FloatArray:
    """(K, T) the pool's response in each awarded product's direction (kW, >= 0).

    Measured against the TRUE baseline (DESIGN §3: what the assets would have drawn without
    the VPP), from the pool's total deviation ``setpoint_kw`` (n, T): firm schedule plus
    deliveries. A firm schedule that moves against an award in its interval (raising load
    in order to cut it) lowers the response; one that moves with it adds to it. Intervals
    with awards in both directions cannot be told apart and are refused.
    """
    sign = np.array([1.0 if side == Direction.UP else -1.0 for side in sides])
    active = award_kw > AWARD_TOLERANCE_KW
    both = (active & (sign[:, None] > 0)).any(axis=0) & (active & (sign[:, None] < 0)).any(axis=0)
    check(not both.any(), "awards in both directions in one interval")
    pool = setpoint_kw.sum(axis=0)
    return np.where(active, np.clip(sign[:, None] * pool[None, :], 0.0, None), 0.0)


def realise(
    park: Park,
    today: ParkDay,
    plan: StrategyPlan,
    clearings: Mapping[str, Clearing],
    packs: Mapping[str, MarketPack],
) -> Outcome:
    """The realised outcome of ``plan`` given the day's clearings (`deliver`)."""
    return deliver(park, today, plan, clearings, packs).outcome


# --- one market day ---------------------------------------------------------------------------


ORACLE_CANDIDATES = ("path@outlook", "path@realised", "robust@outlook")
"""The oracle's plans: its deterministic path at the competitors' prices and at the prices
its first bid realised, and the optimiser's robust model with perfect information."""
SENSITIVITY = ("risk 0.5", "reserve 0", "risk 0.5, reserve 0", "recommended")
"""The optimiser at the operator's bold risk setting (P50 bounds, `plan_bids`); with the
planner's inputs otherwise unchanged, without the reserve margin (`build_bids`); and
"recommended": pool-level P10-P90 (`pooled_bounds`), no reserve margin (firm
counter-positions are excluded by the planner itself, `without_counter_positions`)."""


@dataclass(frozen=True)
class DayResult:
    """The realised outcome of every strategy (and oracle candidate) on one market day."""

    day: date
    outcomes: dict[str, Outcome]
    """By strategy (`STRATEGIES`)."""
    candidates: dict[str, Outcome]
    """By oracle candidate (`ORACLE_CANDIDATES`)."""
    oracle_choice: str
    sensitivity: dict[str, Outcome]
    """By optimiser variant (`SENSITIVITY`); empty unless asked for."""
    seconds: float

    def outcome(self, name: str) -> Outcome:
        """The outcome of a strategy, an oracle candidate or an optimiser variant."""
        for table in (self.outcomes, self.candidates, self.sensitivity):
            if name in table:
                return table[name]
        raise KeyError(name)


@dataclass
class MarketDay:
    """The operator's view of one day of the peak-shaving products."""

    day: date
    packs: dict[str, MarketPack]
    outlooks: dict[str, MarketOutlook]
    competitors: dict[str, tuple[Bid, ...]]
    clearness: float
    market: SimulatedMarket = field(repr=False)

    @property
    def demand_kw(self) -> dict[str, FloatArray]:
        return {p: np.asarray(o.demand_kw, np.float64) for p, o in self.outlooks.items()}

    @property
    def reference_price(self) -> dict[str, FloatArray]:
        """The outlook's indicative prices: the competitors' clearing alone (CNY/MWh)."""
        return {
            p: np.asarray(o.reference_price_cny_per_mwh, np.float64)
            for p, o in self.outlooks.items()
        }

    def clear_with(self, bids: Mapping[str, Bid]) -> dict[str, Clearing]:
        """Every product cleared as the operator clears it: competitors, then our bid."""
        return {
            p: self.packs[p].clear(
                self.market.demand(p, self.day),
                [*self.competitors[p], *([bids[p]] if p in bids else [])],
            )
            for p in self.packs
        }


def submission_clock(packs: Mapping[str, MarketPack], day: date) -> ManualClock:
    """A clock one hour before the earliest gate closure of ``day``."""
    gate = min(pack.gate_closure(day) for pack in packs.values())
    return ManualClock(gate - timedelta(hours=1))


async def market_day(packs: dict[str, MarketPack], day: date, seed: int) -> MarketDay:
    """Outlooks, competitors and the province's solar clearness of ``day``."""
    market = SimulatedMarket(packs, submission_clock(packs, day), seed)
    outlooks = {p: await market.outlook(p, day) for p in packs}
    return MarketDay(
        day,
        packs,
        outlooks,
        {p: market.competitor_bids(p, day) for p in packs},
        market.scenario.forecast(day).clearness,
        market,
    )


async def through_market(
    packs: dict[str, MarketPack], day: date, seed: int, bids: Mapping[str, Bid]
) -> dict[str, Clearing]:
    """Submit ``bids`` to a fresh operator of the same seed before the gate, then clear."""
    clock = submission_clock(packs, day)
    market = SimulatedMarket(packs, clock, seed)
    for product, bid in bids.items():
        receipt = await market.submit(bid, f"{product}-{day.isoformat()}")
        if not receipt.accepted:
            raise BenchmarkError(f"{product} bid refused: {receipt.violations[:3]}")
    gate = max(pack.gate_closure(day) for pack in packs.values())
    clock.advance((gate - clock.now()).total_seconds() + 1.0)
    return {p: await market.clear(p, day) for p in packs}


def _realised_prices(
    clearings: Mapping[str, Clearing], fallback: Mapping[str, FloatArray]
) -> dict[str, FloatArray]:
    out = {}
    for p, clearing in clearings.items():
        price = np.asarray(clearing.clearing_price_cny_per_mwh, np.float64)
        out[p] = np.where(np.isnan(price), fallback[p], price)
    return out


def oracle_candidates(
    park: Park, today: ParkDay, md: MarketDay
) -> dict[str, tuple[StrategyPlan, Outcome]]:
    """Every oracle plan (`ORACLE_CANDIDATES`) with its realised outcome."""
    packs, demand, reference = md.packs, md.demand_kw, md.reference_price
    out: dict[str, tuple[StrategyPlan, Outcome]] = {}
    first = oracle_plan(park, today, packs, demand, reference)
    clearings = md.clear_with(first.bids)
    out["path@outlook"] = (first, realise(park, today, first, clearings, packs))
    second = oracle_plan(park, today, packs, demand, _realised_prices(clearings, reference))
    robust = perfect_info_plan(park, today, packs, demand, reference)
    for name, plan in (("path@realised", second), ("robust@outlook", robust)):
        out[name] = (plan, realise(park, today, plan, md.clear_with(plan.bids), packs))
    return out


def sensitivity_plans(park: Park, today: ParkDay, md: MarketDay) -> dict[str, StrategyPlan]:
    """The optimiser variants of `SENSITIVITY`."""
    packs, outlooks = md.packs, md.outlooks
    return {
        "risk 0.5": optimiser_plan(park, today, packs, outlooks, risk_quantile=0.5),
        "reserve 0": variant_plan(
            planner_inputs(park, today, packs, outlooks, reserve_margin=0.0), md.day
        ),
        "risk 0.5, reserve 0": variant_plan(
            planner_inputs(park, today, packs, outlooks, risk_quantile=0.5, reserve_margin=0.0),
            md.day,
        ),
        "recommended": variant_plan(
            planner_inputs(
                park,
                today,
                packs,
                outlooks,
                reserve_margin=0.0,
                bounds_kw=pooled_bounds(park, today),
            ),
            md.day,
        ),
    }


def run_day(
    park: Park,
    day: date,
    packs: dict[str, MarketPack],
    seed: int = MARKET_SEED,
    *,
    sensitivity: bool = False,
) -> DayResult:
    """Plan, submit, clear and realise the three strategies on ``day`` (module docstring);
    with ``sensitivity`` also the optimiser variants (cleared by the packs directly)."""
    started = time.perf_counter()
    md = asyncio.run(market_day(packs, day, seed))
    today = park_day(park, day, md.clearness)
    candidates = oracle_candidates(park, today, md)
    choice = max(candidates, key=lambda c: candidates[c][1].profit_cny)
    plans = {
        "optimiser": optimiser_plan(park, today, packs, md.outlooks),
        "naive": naive_plan(park, today, packs, md.outlooks),
        "oracle": candidates[choice][0],
    }
    outcomes = {}
    for name, plan in plans.items():
        clearings = asyncio.run(through_market(packs, day, seed, plan.bids))
        outcomes[name] = realise(park, today, plan, clearings, packs)
    expected = candidates[choice][1].profit_cny
    check(
        math.isclose(outcomes["oracle"].profit_cny, expected, rel_tol=1e-6, abs_tol=1e-3),
        f"{day}: the operator's clearing and the pack's disagree for the oracle "
        f"({outcomes['oracle'].profit_cny:.2f} vs {expected:.2f} CNY)",
    )
    variants = sensitivity_plans(park, today, md) if sensitivity else {}
    return DayResult(
        day,
        outcomes,
        {name: outcome for name, (_, outcome) in candidates.items()},
        choice,
        {
            name: realise(park, today, plan, md.clear_with(plan.bids), packs)
            for name, plan in variants.items()
        },
        time.perf_counter() - started,
    )


def peak_shaving_packs() -> dict[str, MarketPack]:
    """The installed valley-filling and peak-cutting packs with their default rules."""
    packs = load_packs()
    return {p: packs[p] for p in PRODUCTS}


def benchmark_days(count: int) -> list[date]:
    """``count`` market days ``DAY_SPACING`` apart from ``FIRST_DAY``."""
    return [FIRST_DAY + timedelta(days=DAY_SPACING * i) for i in range(count)]


@dataclass(frozen=True)
class Summary:
    """Totals over the benchmark days."""

    days: tuple[DayResult, ...]
    n_assets: int
    seconds: float

    def total(self, strategy: str) -> Outcome:
        """A strategy's (or an oracle candidate's) outcome summed over the days."""
        out = Outcome()
        for d in self.days:
            out = out + d.outcome(strategy)
        return out

    def ratio(self, strategy: str) -> float:
        """Realised profit over the oracle's (NaN if the oracle earned nothing)."""
        oracle = self.total("oracle").profit_cny
        return self.total(strategy).profit_cny / oracle if oracle > 0 else math.nan

    def oracle_beaten(self, tolerance_cny: float = 1.0) -> int:
        """Days on which another strategy realised more than the oracle (plus a tolerance)."""
        return sum(
            max(d.outcomes[s].profit_cny for s in ("optimiser", "naive"))
            > d.outcomes["oracle"].profit_cny + tolerance_cny
            for d in self.days
        )


def run_benchmark(
    n_days: int,
    n_assets: int = PARK_ASSETS,
    *,
    days: Sequence[date] | None = None,
    sensitivity: bool = False,
    log: bool = False,
) -> Summary:
    """Every strategy over ``n_days`` benchmark days (or ``days``) for a park of ``n_assets``;
    ``sensitivity`` adds the optimiser variants, ``log`` prints each day."""
    started = time.perf_counter()
    park = build_park(n_assets)
    packs = peak_shaving_packs()
    results = []
    for day in days if days is not None else benchmark_days(n_days):
        result = run_day(park, day, packs, sensitivity=sensitivity)
        results.append(result)
        if log:
            profits = "  ".join(f"{s} {result.outcomes[s].profit_cny:8,.0f}" for s in STRATEGIES)
            print(
                f"   {day}: {profits} CNY (oracle: {result.oracle_choice}; {result.seconds:.1f} s)",
                flush=True,
            )
    return Summary(tuple(results), n_assets, time.perf_counter() - started)


def totals_table(summary: Summary) -> str:
    """Per-strategy totals (CNY, MWh) as text."""
    header = ["", "payment", "penalty", "activation", "energy", "profit", "ratio"]
    header += ["firm act.", "up MWh", "down MWh", "short MWh", "unmeasured MWh"]
    rows = [header]
    names = [*STRATEGIES, *ORACLE_CANDIDATES]
    if summary.days and summary.days[0].sensitivity:
        names += SENSITIVITY
    for name in names:
        o = summary.total(name)
        label = name if name in STRATEGIES else f"oracle {name}"
        if name in SENSITIVITY:
            label = f"optimiser {name}"
        money = (o.payment_cny, o.penalty_cny, o.activation_cny, o.energy_cny, o.profit_cny)
        rows.append(
            [
                label,
                *(f"{v:,.0f}" for v in money),
                f"{summary.ratio(name):.3f}",
                f"{o.firm_activation_cny:,.0f}",
                *(f"{v / 1000:,.1f}" for v in (o.up_awarded_kwh, o.down_awarded_kwh)),
                f"{o.shortfall_kwh / 1000:,.1f}",
                f"{o.unmeasured_kwh / 1000:,.1f}",
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("   " + "  ".join(cells))
    return "\n".join(lines)


def run(ctx: Context) -> list[Result]:
    """Run the bid-value benchmark (module docstring)."""
    n_days = ctx.size(FULL_DAYS, QUICK_DAYS)
    summary = run_benchmark(n_days, sensitivity=True, log=True)
    ctx.log(totals_table(summary))
    optimiser, naive, oracle = (summary.total(s).profit_cny for s in STRATEGIES)
    check(oracle > 0, "the oracle earns nothing: the benchmark days carry no value")
    choices = ", ".join(
        f"{c} {sum(d.oracle_choice == c for d in summary.days)}" for c in ORACLE_CANDIDATES
    )
    days = f"{n_days} days x {summary.n_assets} assets"
    return [
        Result(
            "bid_profit_vs_oracle",
            optimiser / oracle,
            "fraction",
            0.90,
            ">=",
            f"{days}, P10-P90 bounds, reserve {RESERVE_BY_RISK[RISK_QUANTILE]:.0%}: optimiser "
            f"{optimiser:,.0f} CNY / oracle {oracle:,.0f} CNY; oracle beaten on "
            f"{summary.oracle_beaten()} day(s); oracle plans chosen: {choices}; "
            f"{summary.seconds:.0f} s",
        ),
        Result(
            "bid_naive_vs_oracle",
            naive / oracle,
            "fraction",
            None,
            ">=",
            f"naive (P50 box at the cap) {naive:,.0f} CNY",
        ),
        Result(
            "bid_value_margin_vs_naive_cny",
            optimiser - naive,
            "CNY",
            0.0,
            ">=",
            f"optimiser minus naive realised profit over {days}",
        ),
        Result(
            "bid_profit_vs_oracle_bold",
            summary.ratio("risk 0.5"),
            "fraction",
            None,
            ">=",
            "the optimiser (`plan_bids`) at the bold risk setting 0.5 (P50 bounds)",
        ),
        Result(
            "bid_profit_vs_oracle_no_reserve",
            summary.ratio("reserve 0"),
            "fraction",
            None,
            ">=",
            "the planner's inputs (P10-P90) with reserve margin 0 (`build_bids`)",
        ),
        Result(
            "bid_unmeasured_response_share",
            _unmeasured_share(summary.total("optimiser")),
            "fraction",
            None,
            "<=",
            "of the optimiser's delivered response, the part its own firm schedule cancels "
            "(unpaid against the true baseline)",
        ),
        Result(
            "bid_perfect_info_vs_oracle",
            summary.ratio("robust@outlook"),
            "fraction",
            None,
            ">=",
            "the optimiser's robust model with true bounds, outlook prices, no reserve",
        ),
    ]


def _unmeasured_share(outcome: Outcome) -> float:
    delivered = outcome.awarded_kwh - outcome.shortfall_kwh
    return outcome.unmeasured_kwh / delivered if delivered > 0 else 0.0


BENCHMARKS = [
    Benchmark(
        "bid_value",
        (
            "bid_profit_vs_oracle",
            "bid_naive_vs_oracle",
            "bid_value_margin_vs_naive_cny",
            "bid_profit_vs_oracle_bold",
            "bid_profit_vs_oracle_no_reserve",
            "bid_unmeasured_response_share",
            "bid_perfect_info_vs_oracle",
        ),
        run,
        description="bid value: realised profit vs a perfect-foresight oracle and a naive bid",
    )
]
