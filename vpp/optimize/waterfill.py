"""One product's award split among assets per interval: fair, least cost, in closed form.

Restricted to one interval t and one product on one side (UP or DOWN), without the
energy and ramp limits that couple intervals, the disaggregation LP
(`vpp.optimize.disaggregation`) is

    min W·ρ + Σ_i c_i·y_i + P·s   s.t.  Σ_i y_i + s = A,  s >= 0,
                                        0 <= y_i <= min(o_i, u_i − v_i),  v_i + y_i <= ρ·u_i

with award A (kW), offer caps o_i, headroom u_i on the product's side, headroom v_i
already given to other products on that side, activation costs c_i and shortfall penalty P
(CNY per kW-interval), and W the worth of the peak share of headroom ρ. For a fixed ρ
it is a merit order: the cheapest assets fill their caps first. As a function of ρ the
caps are concave, so the total cost F(ρ) is convex, and its slope

    F'(ρ) = W − Σ_{i cheaper than the marginal asset, cap still growing} (λ − c_i)·u_i

(λ: the marginal asset's cost, or P while award is unmet) is non-decreasing: ρ is found
by bisection, every interval at once. Assets of equal cost share the marginal tier in
proportion to their caps, so identical assets get identical setpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vpp.domain.units import FloatArray

BISECTIONS = 52
"""Halvings of ρ's bracket (width <= 1 at the start): ρ to about 2e-16."""
TOLERANCE_KW = 1e-9


@dataclass(frozen=True)
class Split:
    """Each asset's share of one product's award, and what nobody could take."""

    delivery_kw: FloatArray
    """(n, T) kW, >= 0."""
    shortfall_kw: FloatArray
    """(T,) kW, >= 0."""


def split_award(
    award_kw: FloatArray,
    offered_kw: FloatArray,
    room_kw: FloatArray,
    used_kw: FloatArray,
    cost_cny_per_kw: FloatArray,
    weight_cny: FloatArray,
    penalty_cny_per_kw: float,
) -> Split:
    """Split ``award_kw`` (T,) among n assets (module docstring).

    offered_kw (n, T): each asset's cap for this product (inf = none); room_kw (n, T): its
    headroom on the product's side; used_kw (n, T): headroom already given on that side;
    cost_cny_per_kw (n,); weight_cny (T,): W per interval; penalty_cny_per_kw: P.
    """
    award = np.maximum(np.asarray(award_kw, np.float64), 0.0)
    n, horizon = np.shape(room_kw)
    delivery = np.zeros((n, horizon))
    columns = np.flatnonzero(award > TOLERANCE_KW)
    if n == 0 or columns.size == 0:
        return Split(delivery, award)
    order = np.argsort(cost_cny_per_kw, kind="stable")
    cost = np.asarray(cost_cny_per_kw, np.float64)[order]
    room = np.asarray(room_kw, np.float64)[order][:, columns]
    used = np.asarray(used_kw, np.float64)[order][:, columns]
    limit = np.maximum(
        np.minimum(np.asarray(offered_kw, np.float64)[order][:, columns], room - used), 0.0
    )
    tiers = _Tiers(cost)
    target = award[columns]
    weight = np.asarray(weight_cny, np.float64)[columns]
    with np.errstate(divide="ignore", invalid="ignore"):
        share_used = np.where(room > 0, used / room, 0.0)
        share_full = np.where(room > 0, (used + limit) / room, 0.0)
    low = share_used.max(axis=0)
    high = np.maximum(share_full.max(axis=0), low)

    def caps(rho: FloatArray) -> FloatArray:
        return np.clip(rho[None, :] * room - used, 0.0, limit)

    def slope(rho: FloatArray) -> FloatArray:
        """Right-hand slope of F at ρ, per column."""
        cap = caps(rho)
        marginal, _ = tiers.fill(cap, target)
        last = np.minimum(marginal, tiers.count - 1)
        price = np.where(marginal < tiers.count, tiers.cost[last], penalty_cny_per_kw)
        growing = (rho[None, :] * room - used >= 0.0) & (cap < limit) & (room > 0)
        cheaper = tiers.of_asset[:, None] < marginal[None, :]
        gain = np.where(growing & cheaper, (price[None, :] - cost[:, None]) * room, 0.0)
        return np.asarray(weight - gain.sum(axis=0), np.float64)

    rho = high.copy()
    searching = slope(high) >= 0.0
    lo, hi = low.copy(), high.copy()
    for _ in range(BISECTIONS):
        if not searching.any():
            break
        mid = 0.5 * (lo + hi)
        up = slope(mid) >= 0.0
        hi = np.where(searching & up, mid, hi)
        lo = np.where(searching & ~up, mid, lo)
    rho = np.where(searching, hi, rho)
    cap = caps(rho)
    _, share = tiers.fill(cap, target)
    part = cap * share[tiers.of_asset]
    delivery[order[:, None], columns[None, :]] = part
    shortfall = award.copy()
    shortfall[columns] = np.maximum(target - part.sum(axis=0), 0.0)
    return Split(delivery, shortfall)


class _Tiers:
    """Assets sorted by cost, grouped into tiers of equal cost."""

    def __init__(self, sorted_cost: FloatArray) -> None:
        starts = np.flatnonzero(np.r_[True, np.diff(sorted_cost) > 0])
        self.starts = starts
        self.cost = sorted_cost[starts]
        self.count = int(starts.size)
        self.of_asset = np.repeat(np.arange(self.count), np.diff(np.r_[starts, sorted_cost.size]))

    def fill(self, cap: FloatArray, target: FloatArray) -> tuple[np.ndarray, FloatArray]:
        """Merit order over tiers: (C,) index of the marginal tier (count = award unmet)
        and (tiers, C) share of each tier's caps used."""
        total = np.add.reduceat(cap, self.starts, axis=0)
        through = np.cumsum(total, axis=0)
        before = through - total
        marginal = (through < target[None, :] - TOLERANCE_KW).sum(axis=0)
        taken = np.clip(target[None, :] - before, 0.0, total)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(total > 0, taken / total, 0.0)
        return marginal, share
