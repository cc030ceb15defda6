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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from vpp.domain.units import KWH_PER_MWH, Direction, FloatArray
from vpp.optimize.fleet import Fleet
from vpp.optimize.problem import Problem, SolverOptions, SolveStatus, Variables, solve

DELIVERY = "delivery_kw"
SHORTFALL = "shortfall_kw"
ENERGY = "energy_kwh"
UTILISATION = "utilisation"


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
) -> SetpointPlan:
    """Split awards (K, T) in kW among the assets on top of their firm schedules (n, T).

    directions: each awarded product's side; offered_kw: optional (n, K, T) cap per asset
    (e.g. what it offered in the bid); reserve_margin: headroom kept back
    (`Fleet.with_reserve`); fairness_cny_per_mwh: worth of lowering the peak utilisation
    by 1 (100 %) per MWh awarded; shortfall_penalty_cny_per_mwh: cost of undelivered award.
    """
    options = options or SolverOptions()
    reserved = fleet.with_reserve(reserve_margin)
    n, t = fleet.n_assets, fleet.horizon
    firm = np.asarray(firm_kw, np.float64).reshape(n, t)
    award = np.maximum(np.asarray(award_kw, np.float64).reshape(len(directions), t), 0.0)
    sign = np.array([1 if d == Direction.UP else -1 for d in directions])
    per_kw = fleet.interval_hours / KWH_PER_MWH
    caps = np.inf if offered_kw is None else np.asarray(offered_kw, np.float64)

    problem = Problem()
    delivery = problem.add_variables(
        DELIVERY,
        (n, sign.size, t),
        upper=np.broadcast_to(caps, (n, sign.size, t)),
        cost=np.broadcast_to(
            reserved.activation_cost_cny_per_mwh[:, None, None] * per_kw, (n, sign.size, t)
        ),
    )
    shortfall = problem.add_variables(
        SHORTFALL, award.shape, upper=award, cost=shortfall_penalty_cny_per_mwh * per_kw
    )
    add_award_tracking(problem, delivery, shortfall, award)
    net = _net_matrix(sign, n, t)
    add_setpoint_bounds(problem, delivery, net, reserved, firm)
    add_setpoint_energy(problem, delivery, net, reserved, firm)
    add_setpoint_ramp(problem, delivery, net, reserved, firm)
    add_fairness(problem, delivery, sign, reserved, firm, award, fairness_cny_per_mwh * per_kw)

    solution = solve(problem, options)
    if not solution.status.has_solution:
        zeros = np.zeros((n, sign.size, t))
        return SetpointPlan(
            fleet.asset_ids, firm.copy(), zeros, award.copy(), np.zeros(t), 0.0,
            solution.status, solution.seconds,
        )  # fmt: skip
    y = np.clip(solution.value(DELIVERY), 0.0, None)
    short = np.clip(solution.value(SHORTFALL), 0.0, None)
    setpoint = firm + np.einsum("k,nkt->nt", sign.astype(np.float64), y)
    cost = float(np.sum(reserved.activation_cost_cny_per_mwh[:, None, None] * per_kw * y))
    return SetpointPlan(
        fleet.asset_ids,
        setpoint,
        y,
        short,
        solution.value(UTILISATION),
        cost,
        solution.status,
        solution.seconds,
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
        "setpoint_power", [(delivery, net)], lower=lower.ravel(), upper=upper.ravel()
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
    energy = problem.add_variables(ENERGY, (s, t), lower=lower, upper=upper)
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
