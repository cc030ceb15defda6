"""Pool rules on offered quantities: as MILP rows (monolithic) and as round-down (decomposed).

A market pack's `OfferLimits` shape the pool's total offer Q[k, t] of each product:
Q is 0 or at least the minimum quantity, a multiple of the quantity step, offered in runs
of at least the minimum duration; and Q never exceeds the pool cap (what the pool could
at most win). The decomposed bid builder enforces them by rounding DOWN and trimming the
per-asset offers of least merit first; the robust offer box makes any smaller offer
deliverable, so this never breaks an asset's limits.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from vpp.domain.market import OfferLimits
from vpp.domain.units import FloatArray
from vpp.optimize.offers import OFFER, OfferModel
from vpp.optimize.problem import Problem

BoolArray = npt.NDArray[np.bool_]

TOLERANCE_KW = 1e-4
"""Quantities below this (0.1 W) are zero; rounding to the step forgives this much LP noise."""
RUN_LINK_KW = 1e-3
"""Smallest quantity an offered interval must carry when only a duration rule links it."""


def minimum_offer_kw(limits: OfferLimits) -> float:
    """Smallest non-zero pool quantity (kW): the minimum quantity rounded up to the step."""
    step, minimum = limits.quantity_step_kw, limits.min_quantity_kw
    if step > 0:
        minimum = max(step, math.ceil(minimum / step - 1e-9) * step)
    return float(minimum)


def round_down(quantity_kw: FloatArray, step_kw: float) -> FloatArray:
    """Quantities rounded down to multiples of ``step_kw`` (0 = unchanged), LP noise forgiven."""
    if step_kw <= 0:
        return np.where(quantity_kw > TOLERANCE_KW, quantity_kw, 0.0)
    return np.floor(quantity_kw / step_kw + TOLERANCE_KW / step_kw) * step_kw


def short_runs(offered: BoolArray, min_intervals: int) -> BoolArray:
    """Intervals of runs of consecutive True shorter than ``min_intervals`` (a run cut by the
    end of the horizon counts as short too)."""
    if min_intervals <= 1:
        return np.zeros_like(offered)
    edges = np.diff(np.concatenate([[0], offered.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    short = (ends - starts) < min_intervals
    marks = np.zeros(offered.size + 1, np.int64)
    np.add.at(marks, starts[short], 1)
    np.add.at(marks, ends[short], -1)
    return np.cumsum(marks)[:-1] > 0


def pool_targets(total_kw: FloatArray, cap_kw: FloatArray, limits: OfferLimits) -> FloatArray:
    """Largest rule-abiding pool quantity (T,) not above the offered total nor the cap (kW).

    min(total, cap) rounded down to the step; intervals below the minimum quantity and runs
    shorter than the minimum duration dropped. Only rounds down: never asks for more.
    """
    target = round_down(np.minimum(total_kw, cap_kw), limits.quantity_step_kw)
    target = np.where(target + TOLERANCE_KW < minimum_offer_kw(limits), 0.0, target)
    target[short_runs(target > TOLERANCE_KW, limits.min_duration_intervals)] = 0.0
    return target


def trim_to_totals(offer_kw: FloatArray, merit: FloatArray, target_kw: FloatArray) -> FloatArray:
    """Cut per-asset offers (n, T) to column totals ``target_kw`` (T,), keeping high merit first.

    Merit order (e.g. expected profit per kW): the offers of the most expensive assets are
    cut first, so a capped or rounded pool keeps its cheapest flexibility.
    """
    order = np.argsort(-merit, axis=0, kind="stable")
    ranked = np.take_along_axis(offer_kw, order, axis=0)
    before = np.cumsum(ranked, axis=0) - ranked
    kept = np.clip(target_kw[None, :] - before, 0.0, ranked)
    out = np.empty_like(offer_kw)
    np.put_along_axis(out, order, kept, axis=0)
    return out


def apply_pool_rules(
    offer_kw: FloatArray,
    merit: FloatArray,
    cap_kw: FloatArray,
    limits: tuple[OfferLimits, ...],
) -> tuple[FloatArray, BoolArray]:
    """Per-asset offers (n, K, T) trimmed so every product's pool total obeys its rules.

    Returns (trimmed offers, (K, T) mask of the columns that were cut).
    """
    kept = offer_kw.copy()
    cut = np.zeros(offer_kw.shape[1:], bool)
    for k, rules in enumerate(limits):
        total = offer_kw[:, k, :].sum(axis=0)
        target = pool_targets(total, cap_kw[k], rules)
        cut[k] = target < total - TOLERANCE_KW
        if cut[k].any():
            kept[:, k, :] = trim_to_totals(offer_kw[:, k, :], merit[:, k, :], target)
    return kept, cut


def share_pool_caps(
    offer_kw: FloatArray,
    offer_cap_kw: FloatArray,
    cap_kw: FloatArray,
    limits: tuple[OfferLimits, ...],
) -> FloatArray:
    """Per-asset offer caps (n, K, T) for the next decomposed round (kW).

    - Columns (product, interval) whose pool total exceeds the pool cap: every asset keeps
      the same fraction of its offer (proportional sharing), cap / total.
    - Columns the pool rules drop (below the minimum quantity, too short a run): 0.
    - Capped columns that ended below the pool cap: the slack goes to the assets held at
      their cap, in proportion to it, so capacity left by one asset can go to another.
    """
    new = offer_cap_kw.copy()
    total = offer_kw.sum(axis=0)
    finite = np.isfinite(cap_kw)
    for k, rules in enumerate(limits):
        target = pool_targets(total[k], cap_kw[k], rules)
        dropped = (target <= 0) & (total[k] > TOLERANCE_KW)
        new[:, k, dropped] = 0.0
        over = finite[k] & (total[k] > cap_kw[k] + TOLERANCE_KW) & ~dropped
        if over.any():
            share = cap_kw[k, over] / total[k, over]
            new[:, k, over] = np.minimum(new[:, k, over], offer_kw[:, k, over] * share)
        capped = np.isfinite(offer_cap_kw[:, k, :]) & (offer_cap_kw[:, k, :] > 0)
        slack = np.where(finite[k] & ~over & ~dropped, cap_kw[k] - total[k], 0.0)
        held = capped & (offer_kw[:, k, :] >= offer_cap_kw[:, k, :] - TOLERANCE_KW)
        weight = np.where(held & (slack > TOLERANCE_KW), offer_cap_kw[:, k, :], 0.0)
        weights = weight.sum(axis=0)
        grow = weights > 0
        new[:, k, grow] += slack[grow] * weight[:, grow] / weights[grow]
    return new


# --- the same rules as constraints of the monolithic problem -------------------------------


def add_pool_caps(problem: Problem, model: OfferModel, cap_kw: FloatArray) -> None:
    """Σ_assets offer[·, k, t] <= cap[k, t] wherever the cap is finite (kW)."""
    offer = problem.variables[OFFER]
    finite = np.flatnonzero(np.isfinite(cap_kw).ravel())
    if finite.size == 0:
        return
    total = _pool_sum(model)[finite]
    problem.add_constraints("pool_cap", [(offer, total)], upper=cap_kw.ravel()[finite])


def add_pool_rules(
    problem: Problem, model: OfferModel, cap_kw: FloatArray, limits: tuple[OfferLimits, ...]
) -> None:
    """Minimum quantity and minimum duration with one binary z[k, t] (offered or not).

    min_kw·z <= Q[k, t] <= M·z with M the most the fleet (or the cap) allows, and the
    minimum-up-time rows z[t] − z[t−1] <= z[t+j] (j < D; z[t] − z[t−1] <= 0 where t + j
    leaves the horizon). The quantity step is not modelled (no integer multiples): both
    methods round the pool total down to the step afterwards.
    """
    offer = problem.variables[OFFER]
    t = model.horizon
    fleet = model.fleet
    swing = float(np.maximum(fleet.hi_kw - fleet.lo_kw, 0.0).sum(axis=0).max(initial=0.0))
    pool_sum = _pool_sum(model)
    for k, rules in enumerate(limits):
        minimum = minimum_offer_kw(rules)
        duration = rules.min_duration_intervals
        if minimum <= 0 and duration <= 1:
            continue
        minimum = max(minimum, RUN_LINK_KW)
        z = problem.add_variables(f"offered_{k}", (t,), lower=0, upper=1, integer=True)
        rows = pool_sum[k * t : (k + 1) * t]
        big = np.minimum(cap_kw[k], swing + minimum)
        eye = sp.eye_array(t, format="csr")
        problem.add_constraints(f"pool_min_{k}", [(offer, rows), (z, -minimum * eye)], lower=0.0)
        problem.add_constraints(
            f"pool_on_{k}", [(offer, rows), (z, -sp.diags_array(big))], upper=0.0
        )
        if duration > 1:
            problem.add_constraints(
                f"pool_duration_{k}", [(z, _min_up_rows(t, duration))], upper=0.0
            )


def _pool_sum(model: OfferModel) -> sp.csr_array:
    """(K·T, m·K·T) matrix summing the offers of all assets per (product, interval)."""
    m, k, t = model.n_assets, model.n_products, model.horizon
    ones = sp.csr_array(np.ones((1, m)))
    return sp.csr_array(sp.kron(ones, sp.eye_array(k * t, format="csr"), format="csr"))


def _min_up_rows(horizon: int, duration: int) -> sp.csr_array:
    """Rows z[t] − z[t−1] − z[t+j] <= 0 for j = 1..D−1 (z[−1] = 0; z[t+j] dropped past T)."""
    t = np.repeat(np.arange(horizon), duration - 1)
    j = np.tile(np.arange(1, duration), horizon)
    n = t.size
    row = np.arange(n)
    rows = [row, row[t > 0], row[t + j < horizon]]
    cols = [t, t[t > 0] - 1, (t + j)[t + j < horizon]]
    vals = [np.ones(n), -np.ones(int((t > 0).sum())), -np.ones(int((t + j < horizon).sum()))]
    return sp.csr_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, horizon)
    )
