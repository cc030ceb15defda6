"""The robust offer LP: a firm schedule plus offers deliverable for any accepted share.

Per asset i, product k and interval t the deviation from baseline is
p = firm[t] + Σ_{k up} f_k[t]·q_k[t] − Σ_{k down} f_k[t]·q_k[t] for ANY accepted fractions
f in [0, 1]. The dynamics are linear, so the worst cases are "all up offers accepted, no
down" and the reverse; the recipe below requires both (and so every mix) to respect the
asset's power bounds, energy bounds and ramp limits (`add_power_bounds`,
`add_energy_paths`, `add_ramp_limits`). Any smaller award of a feasible offer stays
feasible, which is what lets the pool round offers down and split awards pro rata.
Objective (min cost = −expected profit): firm_cost·firm − value·q, see `OfferModel`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from vpp.optimize.fleet import Fleet
from vpp.optimize.problem import Entries, Problem, Variables

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

FIRM = "firm_kw"
OFFER = "offer_kw"
ENERGY_UP = "energy_up_kwh"
ENERGY_DOWN = "energy_down_kwh"


@dataclass(frozen=True)
class OfferModel:
    """Plain data of the per-asset offer problem for a block of m assets and K products.

    A picklable function of arrays only, so a block can be solved in another process.
    """

    fleet: Fleet
    """The assets, reserve margin already applied (`Fleet.with_reserve`)."""
    direction: IntArray
    """(K,) +1 for products that raise net load (UP), -1 for those that lower it (DOWN)."""
    value_cny_per_kw: FloatArray
    """(m, K, T) expected profit of offering 1 kW for one interval (CNY per kW-interval)."""
    firm_cost_cny_per_kw: FloatArray
    """(T,) energy cost of 1 kW of firm deviation for one interval (CNY per kW-interval)."""
    offer_cap_kw: FloatArray
    """(m, K, T) upper bound of each offer (kW); inf = none."""
    keep_energy: bool = True
    """Energy-limited assets end the firm schedule with at least their idle end state."""

    @property
    def n_assets(self) -> int:
        return self.fleet.n_assets

    @property
    def n_products(self) -> int:
        return int(self.direction.size)

    @property
    def horizon(self) -> int:
        return self.fleet.horizon

    def take(self, index: IntArray) -> OfferModel:
        """The model of the assets at ``index`` (itself if that is every asset in order)."""
        index = np.asarray(index, np.int64)
        if index.size == self.n_assets and (index == np.arange(self.n_assets)).all():
            return self
        return replace(
            self,
            fleet=self.fleet.take(index),
            value_cny_per_kw=self.value_cny_per_kw[index],
            offer_cap_kw=self.offer_cap_kw[index],
        )


def build_offer_problem(model: OfferModel) -> Problem:
    """The recipe for the uncoupled robust problem of every asset in ``model``.

    Columns and rows carry the asset index as group, so `solve_separable` can solve it
    asset by asset; `vpp.optimize.bidding` appends pool rules to it for the monolithic form.
    """
    problem = Problem()
    add_offer_variables(problem, model)
    add_power_bounds(problem, model)
    add_energy_paths(problem, model)
    add_ramp_limits(problem, model)
    if model.keep_energy:
        add_terminal_energy(problem, model)
    return problem


def add_offer_variables(problem: Problem, model: OfferModel) -> None:
    """firm_kw (m, T) within the power bounds and offer_kw (m, K, T) >= 0, with their costs."""
    fleet = model.fleet
    m, k, t = model.n_assets, model.n_products, model.horizon
    asset = np.arange(m)
    problem.add_variables(
        FIRM,
        (m, t),
        lower=fleet.lo_kw,
        upper=fleet.hi_kw,
        cost=np.broadcast_to(model.firm_cost_cny_per_kw, (m, t)),
        group=asset[:, None],
    )
    problem.add_variables(
        OFFER,
        (m, k, t),
        lower=0.0,
        upper=model.offer_cap_kw,
        cost=-model.value_cny_per_kw,
        group=asset[:, None, None],
    )


def add_power_bounds(problem: Problem, model: OfferModel) -> None:
    """firm + Σ_up q <= hi and firm − Σ_down q >= lo, per asset and interval (kW)."""
    firm, offer = problem.variables[FIRM], problem.variables[OFFER]
    asset, time = _all_rows(model.n_assets, model.horizon)
    ones = np.ones(asset.size)
    firm_term = _firm_rows(model, asset, time, ones)
    for sign, name in ((1, "power_up"), (-1, "power_down")):
        offers = _offer_rows(model, sign, asset, time, sign * ones)
        if offers is None:
            continue  # the firm schedule's own bounds are its column bounds
        bounds = (
            {"upper": model.fleet.hi_kw.ravel()}
            if sign > 0
            else {"lower": model.fleet.lo_kw.ravel()}
        )
        problem.add_constraints(name, [(firm, firm_term), (offer, offers)], group=asset, **bounds)


def add_energy_paths(problem: Problem, model: OfferModel) -> None:
    """Energy of the all-up path <= e_max and of the all-down path >= e_min (kWh).

    For the assets with a finite bound, energy variables e[t] (end of interval t) follow
    e[t] − a·e[t−1] − η·Δt·x[t] = a·e_initial·[t = 0] with x = firm ± Σ offers of that
    direction. The firm path lies between the two, so it needs no rows of its own.
    """
    fleet = model.fleet
    firm, offer = problem.variables[FIRM], problem.variables[OFFER]
    t = model.horizon
    for sign, name, bound in ((1, ENERGY_UP, fleet.e_max_kwh), (-1, ENERGY_DOWN, fleet.e_min_kwh)):
        assets = np.flatnonzero(np.isfinite(bound))
        if assets.size == 0:
            continue
        s = assets.size
        a = fleet.retention[assets]
        limit = np.broadcast_to(bound[assets, None], (s, t))
        energy = problem.add_variables(
            name,
            (s, t),
            lower=-np.inf if sign > 0 else limit,
            upper=limit if sign > 0 else np.inf,
            group=assets[:, None],
        )
        asset, time = np.repeat(assets, t), np.tile(np.arange(t), s)
        scale = np.repeat(fleet.efficiency[assets] * fleet.interval_hours, t)
        terms: list[tuple[Variables, Entries]] = [
            (energy, _energy_recursion(a, t)),
            (firm, _firm_rows(model, asset, time, -scale)),
        ]
        offers = _offer_rows(model, sign, asset, time, -sign * scale)
        if offers is not None:
            terms.append((offer, offers))
        rhs = np.zeros((s, t))
        rhs[:, 0] = a * fleet.e_initial_kwh[assets]
        problem.add_constraints(
            f"{name}_balance", terms, lower=rhs.ravel(), upper=rhs.ravel(), group=asset
        )


def add_ramp_limits(problem: Problem, model: OfferModel) -> None:
    """(firm + Σ_up q)[t] − (firm − Σ_down q)[t−1] <= ramp, and the same with t, t−1 swapped.

    Only the horizon's own consecutive intervals are limited (the interval before the
    horizon is not part of the model).
    """
    fleet = model.fleet
    assets = np.flatnonzero(fleet.ramp_limited)
    t = model.horizon
    if assets.size == 0 or t < 2:
        return
    firm, offer = problem.variables[FIRM], problem.variables[OFFER]
    asset = np.repeat(assets, t - 1)
    now = np.tile(np.arange(1, t), assets.size)
    ones = np.ones(asset.size)
    limit = fleet.ramp_kw[asset]
    for name, high, low in (("ramp_up", now, now - 1), ("ramp_down", now - 1, now)):
        firm_term = _firm_rows(model, asset, high, ones) - _firm_rows(model, asset, low, ones)
        offer_term = Entries.empty((asset.size, offer.size))
        up = _offer_rows(model, 1, asset, high, ones)
        down = _offer_rows(model, -1, asset, low, ones)
        for part in (up, down):
            if part is not None:
                offer_term = offer_term + part
        problem.add_constraints(
            name, [(firm, firm_term), (offer, offer_term)], upper=limit, group=asset
        )


def add_terminal_energy(problem: Problem, model: OfferModel) -> None:
    """Energy-limited assets end the firm path with at least their idle end state.

    Σ_t a^(T−1−t)·η·Δt·firm[t] >= 0: the firm schedule may shift energy but not spend
    the store, so arbitrage does not empty a battery at the end of the day.
    """
    fleet = model.fleet
    assets = np.flatnonzero(fleet.energy_limited)
    if assets.size == 0:
        return
    firm = problem.variables[FIRM]
    m, t = model.n_assets, model.horizon
    s = assets.size
    powers = fleet.retention[assets, None] ** np.arange(t - 1, -1, -1)[None, :]
    weights = powers * (fleet.efficiency[assets] * fleet.interval_hours)[:, None]
    rows = np.repeat(np.arange(s), t)
    cols = (assets[:, None] * t + np.arange(t)[None, :]).ravel()
    matrix = Entries(rows, cols, weights.ravel(), (s, m * t))
    problem.add_constraints("terminal_energy", [(firm, matrix)], lower=0.0, group=assets)


def solve_unconstrained(model: OfferModel) -> tuple[FloatArray, FloatArray]:
    """Closed-form optimum for assets without energy bounds or ramp limits: (firm, offers).

    Without coupling over time each (asset, interval) is a tiny LP: for a firm deviation
    b in [lo, hi], up offers fill the room hi − b and down offers the room b − lo, each
    by descending value up to its cap. The profit is concave piecewise linear in b with
    breakpoints at lo, hi and the rooms' cumulative caps, so the best of those candidates
    (and of b = 0 clipped, preferred on ties) is optimal.
    """
    fleet = model.fleet
    lo, hi = fleet.lo_kw, fleet.hi_kw
    candidates = [np.clip(0.0, lo, hi), lo, hi]
    for sign in (1, -1):
        ranked = _ranked(model, sign)
        if ranked is None:
            continue
        _, values, caps = ranked
        cum = np.cumsum(np.where(values > 0, caps, 0.0), axis=1)  # (m, Kd, T)
        points = hi[:, None, :] - cum if sign > 0 else lo[:, None, :] + cum
        candidates.extend(np.clip(points, lo[:, None, :], hi[:, None, :]).transpose(1, 0, 2))
    firm_options = np.stack(candidates, axis=1)  # (m, C, T)
    offers = _fill(model, firm_options)  # (m, C, K, T)
    profit = -model.firm_cost_cny_per_kw * firm_options + np.einsum(
        "mckt,mkt->mct", offers, model.value_cny_per_kw
    )
    best = np.argmax(profit, axis=1)[:, None, :]  # first maximum: b = 0 wins ties
    firm = np.take_along_axis(firm_options, best, axis=1)[:, 0, :]
    chosen = np.take_along_axis(offers, best[:, :, None, :], axis=1)[:, 0]
    return firm, chosen


# --- helpers ------------------------------------------------------------------------------


def _ranked(model: OfferModel, sign: int) -> tuple[IntArray, FloatArray, FloatArray] | None:
    """Products of one direction by descending value per (asset, interval).

    Returns (products (m, Kd, T), their values, their caps), or None without products.
    """
    ks = np.flatnonzero(model.direction == sign)
    if ks.size == 0:
        return None
    values = model.value_cny_per_kw[:, ks, :]
    order = np.argsort(-values, axis=1, kind="stable")
    return (
        ks[order],
        np.take_along_axis(values, order, axis=1),
        np.take_along_axis(model.offer_cap_kw[:, ks, :], order, axis=1),
    )


def _fill(model: OfferModel, firm: FloatArray) -> FloatArray:
    """Greedy offers for firm deviations ``firm`` (m, C, T): (m, C, K, T)."""
    fleet = model.fleet
    m, c, t = firm.shape
    out = np.zeros((m, c, model.n_products, t))
    for sign in (1, -1):
        ranked = _ranked(model, sign)
        if ranked is None:
            continue
        products, values, caps = ranked
        room = (fleet.hi_kw[:, None, :] - firm) if sign > 0 else (firm - fleet.lo_kw[:, None, :])
        room = np.maximum(room, 0.0)
        for j in range(products.shape[1]):
            take = np.where(values[:, None, j, :] > 0, np.minimum(room, caps[:, None, j, :]), 0.0)
            room = room - take
            index = np.broadcast_to(products[:, None, None, j, :], (m, c, 1, t))
            np.put_along_axis(out, index, take[:, :, None, :], axis=2)
    return out


def _all_rows(m: int, horizon: int) -> tuple[IntArray, IntArray]:
    """(asset, interval) of every row of an asset-by-interval constraint block."""
    return np.repeat(np.arange(m), horizon), np.tile(np.arange(horizon), m)


def _firm_rows(model: OfferModel, asset: IntArray, time: IntArray, weight: FloatArray) -> Entries:
    """Row r: weight[r]·firm[asset[r], time[r]] (shape rows x m·T)."""
    n, t = asset.size, model.horizon
    return Entries(np.arange(n), asset * t + time, weight, (n, model.n_assets * t))


def _offer_rows(
    model: OfferModel, sign: int, asset: IntArray, time: IntArray, weight: FloatArray
) -> Entries | None:
    """Row r: weight[r]·Σ_{k of direction sign} offer[asset[r], k, time[r]]; None if no such k."""
    ks = np.flatnonzero(model.direction == sign)
    if ks.size == 0:
        return None
    n, k, t = asset.size, model.n_products, model.horizon
    cols = asset[:, None] * (k * t) + ks[None, :] * t + time[:, None]
    return Entries(
        np.repeat(np.arange(n), ks.size),
        cols.ravel(),
        np.repeat(weight, ks.size),
        (n, model.n_assets * k * t),
    )


def _energy_recursion(retention: FloatArray, horizon: int) -> Entries:
    """(s·T, s·T): e[t] − a·e[t−1] for each of s assets (block lower bidiagonal)."""
    s = retention.size
    idx = np.arange(s * horizon).reshape(s, horizon)
    rows = np.concatenate([idx.ravel(), idx[:, 1:].ravel()])
    cols = np.concatenate([idx.ravel(), idx[:, :-1].ravel()])
    vals = np.concatenate(
        [np.ones(s * horizon), -np.repeat(retention, horizon - 1) if horizon > 1 else []]
    )
    return Entries(rows, cols, vals, (s * horizon, s * horizon))
