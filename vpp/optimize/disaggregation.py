"""Disaggregation: the pool's awards split into per-asset setpoints within every asset's limits.

min Σ activation_i·y·Δt/1000 + fairness·ρ[t]·award[t]·Δt/1000 + penalty·shortfall·Δt/1000
over deliveries y[i, k, t] >= 0 of each awarded product, with

- Σ_i y[i, k, t] + shortfall[k, t] = award[k, t]  (tracking; shortfall >= 0 is reported);
- p = firm + Σ_up y − Σ_down y within each asset's power bounds, energy bounds (one
  energy path, e[t+1] = a·e[t] + η·p[t]·Δt) and ramp limits, after the reserve margin;
- Σ_up y[i, t] <= ρ[t]·(hi − firm) and Σ_down y[i, t] <= ρ[t]·(firm − lo): ρ[t] is the
  largest share of its headroom any asset gives at t. Minimising it spreads the effort
  (identical assets share equally) unless activation costs say otherwise.

Where following the firm schedule alone already breaks a (reserved) limit, that limit is
relaxed to the firm schedule's value, so delivering nothing is always feasible and an
award the fleet cannot meet shows up as shortfall, never as an infeasible plan.

Decomposition (`method="decomposed"`, what "auto" takes for large fleets). The LP's
size is not its only cost: ρ[t] appears in a row of every asset, a dense column that
makes the interior point method slow (1,000 assets x 2 products took 14 s, 10,000 about
65 s and 100,000 did not fit in 23 GiB). Without energy and ramp limits the LP separates
by interval and product, and each piece has a closed-form solution
(`vpp.optimize.waterfill`). Those limits are then checked on every asset's plan; the
assets that break one are repaired, each by its own small LP, and what they then cannot
deliver is water-filled over the others (`_decomposed`). In the day plan, awards within the bid
stay inside every asset's robust box (`vpp.optimize.offers`), so the check finds
nothing and the decomposition is exact; it differs from the LP where two products on the
same side share an interval (split one after the other, not jointly) and where an
asset's energy or ramp limit binds (the LP would shift its effort across intervals and
onto others; the repair only takes back what the asset cannot deliver).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from vpp.domain.units import KWH_PER_MWH, Direction, FloatArray
from vpp.optimize.fleet import Fleet
from vpp.optimize.problem import (
    Problem,
    SolverOptions,
    SolveStatus,
    Variables,
    solve,
    solve_separable,
)
from vpp.optimize.waterfill import TOLERANCE_KW, split_award

DELIVERY = "delivery_kw"
SHORTFALL = "shortfall_kw"
ENERGY = "energy_kwh"
UTILISATION = "utilisation"
Method = Literal["auto", "monolithic", "decomposed"]
MONOLITHIC_MAX_VARIABLES = 50_000
"""`method="auto"` solves the LP in one piece up to this many deliveries (n·K·T: 260
assets x 2 products x 96 intervals); larger fleets are decomposed."""
REPAIR_ROUNDS = 3
LIMIT_TOLERANCE = 1e-6
"""kWh or kW by which a water-filled plan may exceed a limit (solver-level noise)."""
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class SetpointPlan:
    """Per-asset setpoints meeting the awards, and what could not be met."""

    asset_ids: tuple[str, ...]
    setpoint_kw: FloatArray
    """(n, T) deviation from baseline to command (kW): firm + deliveries."""
    delivery_kw: FloatArray
    """(n, K, T) each asset's share of each product's award (kW, >= 0)."""
    shortfall_kw: FloatArray
    """(K, T) award the fleet cannot deliver (kW, >= 0)."""
    utilisation: FloatArray
    """(T,) largest share of its headroom any asset gives (0..1)."""
    activation_cost_cny: float
    status: SolveStatus
    solve_seconds: float

    def frame(self) -> pd.DataFrame:
        """setpoint_kw by (asset_id, interval)."""
        index = pd.MultiIndex.from_product(
            [list(self.asset_ids), range(self.setpoint_kw.shape[1])], names=["asset_id", "interval"]
        )
        return pd.DataFrame({"setpoint_kw": self.setpoint_kw.ravel()}, index=index)


def plan_setpoints(
    fleet: Fleet,
    firm_kw: FloatArray,
    award_kw: FloatArray,
    directions: Sequence[Direction],
    options: SolverOptions | None = None,
    *,
    offered_kw: FloatArray | None = None,
    reserve_margin: float = 0.0,
    fairness_cny_per_mwh: float = 10.0,
    shortfall_penalty_cny_per_mwh: float = 1e5,
    method: Method = "auto",
) -> SetpointPlan:
    """Split awards (K, T) in kW among the assets on top of their firm schedules (n, T).

    directions: each awarded product's side; offered_kw: optional (n, K, T) cap per asset
    (e.g. what it offered in the bid); reserve_margin: headroom kept back
    (`Fleet.with_reserve`); fairness_cny_per_mwh: worth of lowering the peak utilisation
    by 1 (100 %) per MWh awarded; shortfall_penalty_cny_per_mwh: cost of undelivered award;
    method: "monolithic" solves the LP, "decomposed" splits per interval and repairs
    (module docstring), "auto" decomposes above `MONOLITHIC_MAX_VARIABLES`.
    """
    reserved = fleet.with_reserve(reserve_margin)
    n, t = fleet.n_assets, fleet.horizon
    k = len(directions)
    firm = np.asarray(firm_kw, np.float64).reshape(n, t)
    award = np.maximum(np.asarray(award_kw, np.float64).reshape(k, t), 0.0)
    sign = np.array([1.0 if d == Direction.UP else -1.0 for d in directions])
    caps = np.broadcast_to(
        np.inf if offered_kw is None else np.asarray(offered_kw, np.float64), (n, k, t)
    )
    per_kw = fleet.interval_hours / KWH_PER_MWH
    money = _Money(
        reserved.activation_cost_cny_per_mwh * per_kw,
        fairness_cny_per_mwh * per_kw,
        shortfall_penalty_cny_per_mwh * per_kw,
    )
    split = _Split(reserved, firm, award, sign, caps, money)
    if method == "decomposed" or (method == "auto" and n * k * t > MONOLITHIC_MAX_VARIABLES):
        return _decomposed(split, options or SolverOptions())
    return _monolithic(split, options or SolverOptions())


@dataclass(frozen=True)
class _Money:
    """The objective's prices per kW for one interval (CNY)."""

    activation: FloatArray
    """(n,) activation cost of each asset."""
    fairness: float
    """Worth of the peak utilisation ρ[t], per kW awarded at t."""
    shortfall: float


@dataclass(frozen=True)
class _Split:
    """What is split: awards (K, T) of products on sides ``sign`` (+1 UP, -1 DOWN) among a
    fleet (its reserve already applied) on top of firm schedules (n, T), each asset
    within its offers ``caps`` (n, K, T)."""

    fleet: Fleet
    firm: FloatArray
    award: FloatArray
    sign: FloatArray
    caps: FloatArray
    money: _Money

    def take(self, index: npt.NDArray[np.intp], award: FloatArray) -> _Split:
        """The assets at ``index`` splitting ``award`` among themselves."""
        money = _Money(self.money.activation[index], self.money.fairness, self.money.shortfall)
        return _Split(
            self.fleet.take(index), self.firm[index], award, self.sign, self.caps[index], money
        )


def _monolithic(split: _Split, options: SolverOptions) -> SetpointPlan:
    """The whole LP in one HiGHS call."""
    fleet, firm, award, sign, caps, money = (
        split.fleet, split.firm, split.award, split.sign, split.caps, split.money
    )  # fmt: skip
    n, t = firm.shape
    k = sign.size
    problem = Problem()
    delivery = problem.add_variables(
        DELIVERY,
        (n, k, t),
        upper=caps,
        cost=np.broadcast_to(money.activation[:, None, None], (n, k, t)),
    )
    shortfall = problem.add_variables(SHORTFALL, award.shape, upper=award, cost=money.shortfall)
    add_award_tracking(problem, delivery, shortfall, award)
    net = _net_matrix(sign, n, t)
    add_setpoint_bounds(problem, delivery, net, fleet, firm)
    add_setpoint_energy(problem, delivery, net, fleet, firm)
    add_setpoint_ramp(problem, delivery, net, fleet, firm)
    add_fairness(problem, delivery, sign, fleet, firm, award, money.fairness)

    solution = solve(problem, options)
    if not solution.status.has_solution:
        zeros = np.zeros((n, k, t))
        return SetpointPlan(
            fleet.asset_ids, firm.copy(), zeros, award.copy(), np.zeros(t), 0.0,
            solution.status, solution.seconds,
        )  # fmt: skip
    y = np.clip(solution.value(DELIVERY), 0.0, None)
    return _plan(split, y, solution.status, solution.seconds)


def _decomposed(split: _Split, options: SolverOptions) -> SetpointPlan:
    """Per-interval water-fill (`vpp.optimize.waterfill`), then the repair rounds.

    The water-fill keeps power bounds and offer caps; an asset whose share then breaks
    its energy or ramp limits is repaired: its own small LP delivers as much of that
    share as its limits allow (`_repair`, one LP per asset, warm-started), and it takes
    no further share. What the repaired assets drop is water-filled over the others.
    After `REPAIR_ROUNDS` the last repair is not redistributed, so every asset's plan is
    within its limits.
    """
    started = time.perf_counter()
    n, t = split.firm.shape
    delivery = np.zeros((n, split.sign.size, t))
    repaired = np.zeros(n, np.bool_)
    status = SolveStatus.OPTIMAL
    residual = split.award
    for round_ in range(REPAIR_ROUNDS + 1):
        _water_fill(split, residual, ~repaired, delivery)
        broken = np.flatnonzero(~repaired & ~_within_limits(split, delivery))
        if broken.size == 0:
            break
        repaired[broken] = True
        share = delivery[broken]
        kept, part_status = _repair(split.take(broken, share.sum(axis=0)), share, options)
        delivery[broken] = kept
        if part_status != SolveStatus.OPTIMAL:
            status = part_status
        dropped = (share - kept).sum(axis=0)
        residual = dropped if round_ < REPAIR_ROUNDS else np.zeros_like(split.award)
    return _plan(split, delivery, status, time.perf_counter() - started)


def _repair(
    split: _Split, share: FloatArray, options: SolverOptions
) -> tuple[FloatArray, SolveStatus]:
    """(m, K, T) the most of each asset's ``share`` its own limits let it deliver: one LP
    per asset (`solve_separable`). An asset whose LP fails delivers nothing."""
    fleet, firm, sign = split.fleet, split.firm, split.sign
    m, k, t = share.shape
    problem = Problem()
    delivery = problem.add_variables(
        DELIVERY,
        (m, k, t),
        upper=share,
        cost=-1.0,
        group=np.broadcast_to(np.arange(m)[:, None, None], (m, k, t)),
    )
    net = _net_matrix(sign, m, t)
    add_setpoint_bounds(problem, delivery, net, fleet, firm)
    add_setpoint_energy(problem, delivery, net, fleet, firm)
    add_setpoint_ramp(problem, delivery, net, fleet, firm)
    solution = solve_separable(problem, options)
    kept = np.nan_to_num(solution.value(DELIVERY).reshape(m, k, t), nan=0.0)
    return np.clip(kept, 0.0, share), solution.status


def _water_fill(split: _Split, residual: FloatArray, free: BoolArray, delivery: FloatArray) -> None:
    """Add each product's ``residual`` (K, T) to the deliveries of the ``free`` assets,
    product by product (a product's share uses up headroom the next one on its side sees)."""
    fleet, firm, sign, caps, money = split.fleet, split.firm, split.sign, split.caps, split.money
    rooms = {1.0: np.maximum(fleet.hi_kw - firm, 0.0), -1.0: np.maximum(firm - fleet.lo_kw, 0.0)}
    weight = money.fairness * split.award.sum(axis=0)
    for k, side in enumerate(sign.tolist()):
        if not (residual[k] > 0).any():
            continue
        used = delivery[free][:, sign == side].sum(axis=1)
        part = split_award(
            residual[k],
            caps[free, k] - delivery[free, k],
            rooms[side][free],
            used,
            money.activation[free],
            weight,
            money.shortfall,
        )
        delivery[free, k] += part.delivery_kw


def _within_limits(split: _Split, delivery: FloatArray) -> BoolArray:
    """(n,) whether each asset's firm + deliveries keeps the LP's energy and ramp limits
    (relaxed, like the LP, to the firm schedule's own values); power bounds and caps hold
    by construction of the water-fill."""
    fleet, firm, sign = split.fleet, split.firm, split.sign
    ok = np.ones(firm.shape[0], np.bool_)
    setpoint = firm + np.einsum("k,nkt->nt", sign, delivery)
    energy = np.flatnonzero(fleet.energy_limited)
    if energy.size:
        a = fleet.retention[energy]
        scale = fleet.efficiency[energy] * fleet.interval_hours
        e0 = fleet.e_initial_kwh[energy]
        firm_path = _energy_path(e0, a, scale, firm[energy])
        path = _energy_path(e0, a, scale, setpoint[energy])
        lower = np.minimum(fleet.e_min_kwh[energy, None], firm_path) - LIMIT_TOLERANCE
        upper = np.maximum(fleet.e_max_kwh[energy, None], firm_path) + LIMIT_TOLERANCE
        ok[energy] &= ((path >= lower) & (path <= upper)).all(axis=1)
    ramp = np.flatnonzero(fleet.ramp_limited)
    if ramp.size and firm.shape[1] > 1:
        limit = fleet.ramp_kw[ramp, None]
        firm_step = np.diff(firm[ramp], axis=1)
        step = np.diff(setpoint[ramp], axis=1)
        ok[ramp] &= (
            (step <= np.maximum(limit, firm_step) + LIMIT_TOLERANCE)
            & (step >= np.minimum(-limit, firm_step) - LIMIT_TOLERANCE)
        ).all(axis=1)
    return ok


def _plan(split: _Split, delivery: FloatArray, status: SolveStatus, seconds: float) -> SetpointPlan:
    """The plan of deliveries (n, K, T): setpoints, shortfall, peak utilisation and cost."""
    fleet, firm, award, sign = split.fleet, split.firm, split.award, split.sign
    setpoint = firm + np.einsum("k,nkt->nt", sign, delivery)
    shortfall = np.maximum(award - delivery.sum(axis=0), 0.0)
    utilisation = np.zeros(firm.shape[1])
    for side, room in ((1, fleet.hi_kw - firm), (-1, firm - fleet.lo_kw)):
        given = delivery[:, sign == side].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(room > TOLERANCE_KW, given / room, 0.0)
        if share.size:
            utilisation = np.maximum(utilisation, share.max(axis=0))
    cost = float(np.sum(split.money.activation[:, None, None] * delivery))
    return SetpointPlan(
        fleet.asset_ids, setpoint, delivery, shortfall, utilisation, cost, status, seconds
    )


def add_award_tracking(
    problem: Problem, delivery: Variables, shortfall: Variables, award: FloatArray
) -> None:
    """Σ_assets delivery[·, k, t] + shortfall[k, t] = award[k, t] (kW)."""
    n = delivery.shape[0]
    kt = award.size
    total = sp.kron(sp.csr_array(np.ones((1, n))), sp.eye_array(kt, format="csr"), format="csr")
    problem.add_constraints(
        "award_tracking",
        [(delivery, total), (shortfall, sp.eye_array(kt, format="csr"))],
        lower=award.ravel(),
        upper=award.ravel(),
    )


def add_setpoint_bounds(
    problem: Problem, delivery: Variables, net: sp.csr_array, fleet: Fleet, firm: FloatArray
) -> None:
    """lo − firm <= Σ_up y − Σ_down y <= hi − firm, relaxed to include 0 (kW)."""
    lower = np.minimum(fleet.lo_kw - firm, 0.0)
    upper = np.maximum(fleet.hi_kw - firm, 0.0)
    problem.add_constraints(
        "setpoint_power",
        [(delivery, net)],
        lower=lower.ravel(),
        upper=upper.ravel(),
        group=np.repeat(np.arange(firm.shape[0]), firm.shape[1]),
    )


def add_setpoint_energy(
    problem: Problem, delivery: Variables, net: sp.csr_array, fleet: Fleet, firm: FloatArray
) -> None:
    """Energy path of firm + net deliveries within [e_min, e_max] (or the firm path's own value).

    e[t] − a·e[t−1] − η·Δt·net[t] = η·Δt·firm[t] + a·e_initial·[t = 0], e = end of interval t.
    """
    assets = np.flatnonzero(fleet.energy_limited)
    if assets.size == 0:
        return
    t = firm.shape[1]
    s = assets.size
    a = fleet.retention[assets]
    scale = fleet.efficiency[assets] * fleet.interval_hours
    firm_path = _energy_path(fleet.e_initial_kwh[assets], a, scale, firm[assets])
    lower = np.minimum(fleet.e_min_kwh[assets, None], firm_path)
    upper = np.maximum(fleet.e_max_kwh[assets, None], firm_path)
    group = np.repeat(assets, t)
    energy = problem.add_variables(
        ENERGY, (s, t), lower=lower, upper=upper, group=group.reshape(s, t)
    )
    idx = np.arange(s * t).reshape(s, t)
    recursion = sp.csr_array(
        (
            np.concatenate([np.ones(s * t), -np.repeat(a, t - 1)]),
            (
                np.concatenate([idx.ravel(), idx[:, 1:].ravel()]),
                np.concatenate([idx.ravel(), idx[:, :-1].ravel()]),
            ),
        ),
        shape=(s * t, s * t),
    )
    pick = (assets[:, None] * t + np.arange(t)[None, :]).ravel()
    rhs = scale[:, None] * firm[assets]
    rhs[:, 0] += a * fleet.e_initial_kwh[assets]
    problem.add_constraints(
        "setpoint_energy",
        [(energy, recursion), (delivery, -sp.diags_array(np.repeat(scale, t)) @ net[pick])],
        lower=rhs.ravel(),
        upper=rhs.ravel(),
        group=group,
    )


def add_setpoint_ramp(
    problem: Problem, delivery: Variables, net: sp.csr_array, fleet: Fleet, firm: FloatArray
) -> None:
    """|p[t] − p[t−1]| <= ramp for p = firm + net deliveries (relaxed to the firm's own step)."""
    assets = np.flatnonzero(fleet.ramp_limited)
    t = firm.shape[1]
    if assets.size == 0 or t < 2:
        return
    now = (assets[:, None] * t + np.arange(1, t)[None, :]).ravel()
    step = (firm[assets, 1:] - firm[assets, :-1]).ravel()
    limit = np.repeat(fleet.ramp_kw[assets], t - 1)
    problem.add_constraints(
        "setpoint_ramp",
        [(delivery, net[now] - net[now - 1])],
        lower=np.minimum(-limit - step, 0.0),
        upper=np.maximum(limit - step, 0.0),
        group=np.repeat(assets, t - 1),
    )


def add_fairness(
    problem: Problem,
    delivery: Variables,
    sign: FloatArray,
    fleet: Fleet,
    firm: FloatArray,
    award: FloatArray,
    weight_cny_per_kw: float,
) -> None:
    """Σ_dir y[i, t] <= ρ[t]·headroom_dir[i, t] for both directions; ρ costs weight·award[t]."""
    n, t = firm.shape
    rho = problem.add_variables(
        UTILISATION, (t,), upper=np.inf, cost=weight_cny_per_kw * award.sum(axis=0)
    )
    spread = sp.kron(sp.csr_array(np.ones((n, 1))), sp.eye_array(t, format="csr"), format="csr")
    for direction, room in ((1, fleet.hi_kw - firm), (-1, firm - fleet.lo_kw)):
        mask = (sign == direction).astype(np.float64)
        if not mask.any():
            continue
        pick = _net_matrix(mask, n, t)
        problem.add_constraints(
            f"utilisation_{'up' if direction > 0 else 'down'}",
            [(delivery, pick), (rho, -sp.diags_array(np.maximum(room, 0.0).ravel()) @ spread)],
            upper=0.0,
        )


def _net_matrix(weights: FloatArray, n: int, t: int) -> sp.csr_array:
    """(n·T, n·K·T): Σ_k weights[k]·y[i, k, t] per asset and interval."""
    per_asset = sp.kron(sp.csr_array(np.asarray(weights, np.float64)[None, :]), sp.eye_array(t))
    return sp.csr_array(sp.kron(sp.eye_array(n), per_asset, format="csr"))


def _energy_path(
    e_initial: FloatArray, retention: FloatArray, scale: FloatArray, power: FloatArray
) -> FloatArray:
    """Energy at the end of each interval (s, T) of schedules ``power`` (kW) from e_initial."""
    path = np.empty_like(power)
    state = e_initial.copy()
    for t in range(power.shape[1]):
        state = retention * state + scale * power[:, t]
        path[:, t] = state
    return path
