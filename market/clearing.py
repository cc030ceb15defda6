"""Merit-order clearing of ladder bids per interval, uniform or pay-as-bid (kW, CNY/MWh)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from vpp.domain.market import Award, Bid, Clearing, Demand, Pricing
from vpp.domain.units import Direction, FloatArray

IntArray = npt.NDArray[np.intp]


def clear_merit_order(
    demand: Demand,
    bids: Sequence[Bid],
    *,
    product: str,
    side: Direction,
    intervals_per_day: int,
    pricing: Pricing,
    participant_pays: bool,
    clearing_floor_cny_per_mwh: float | None = None,
    clearing_cap_cny_per_mwh: float | None = None,
) -> Clearing:
    """Clear ``bids`` against ``demand`` (kW per interval) in merit order.

    Per interval, the steps of every bid are taken in merit order until the demand is met:
    supply offers (the participant is paid: peak-shaving, selling energy) cheapest first,
    demand bids (the participant pays: buying energy, buying green power against the green
    supply on offer) dearest first. All steps at one price form a *price level*; the level
    that crosses the demand (the marginal level) is accepted partially, split among its steps
    pro rata to their quantities. The clearing price of an interval is the price of its last
    accepted level (NaN where nothing cleared), clamped into the operator's clearing limits
    when the product has any. Under uniform pricing every accepted step is paid that price;
    under pay-as-bid each step is paid its own price (clamped the same way).

    Bids are expected to be valid (`MarketPack.validate`); the caller filters invalid ones.
    Bids for another product, day or side are a programming error (ValueError). Whatever else
    slips through is made harmless: steps with NaN, infinite, zero or negative quantities, NaN
    or infinite prices, or an interval index outside the day are ignored, so no participant is
    ever awarded more than it offered, nor any interval more than its demand (up to float
    rounding, about 1e-9 relative).

    Awards are aggregated per participant, interval and paid price: one award per participant
    and interval under uniform pricing, one per price level under pay-as-bid.
    """
    demand_kw = _checked_demand(demand, product, intervals_per_day)
    participants, interval, price, quantity = _flatten(bids, demand, product, side)
    keep = (
        (interval >= 0)
        & (interval < intervals_per_day)
        & np.isfinite(price)
        & np.isfinite(quantity)
        & (quantity > 0)
    )
    owner = np.flatnonzero(keep)
    interval, price, quantity = interval[keep], price[keep], quantity[keep]
    merit = -price if participant_pays else price
    order = np.lexsort((merit, interval))
    owner, interval, price, quantity, merit = (
        owner[order],
        interval[order],
        price[order],
        quantity[order],
        merit[order],
    )
    accepted = np.zeros_like(quantity)
    marginal = np.full(intervals_per_day, np.nan)
    bounds = np.searchsorted(interval, np.arange(intervals_per_day + 1))
    for k in range(intervals_per_day):
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        if lo == hi or demand_kw[k] <= 0:
            continue
        taken, last = _fill_interval(merit[lo:hi], quantity[lo:hi], float(demand_kw[k]))
        accepted[lo:hi] = taken
        if last >= 0:
            marginal[k] = price[lo + last]
    clearing_price = _clamp(marginal, clearing_floor_cny_per_mwh, clearing_cap_cny_per_mwh)
    paid = (
        clearing_price[interval]
        if pricing is Pricing.UNIFORM
        else _clamp(price, clearing_floor_cny_per_mwh, clearing_cap_cny_per_mwh)
    )
    step_owner = [participants[i] for i in _owner_bid(bids, owner)]
    awards = _aggregate(demand, step_owner, interval, paid, accepted)
    cleared = np.bincount(interval, weights=accepted, minlength=intervals_per_day)
    return Clearing(
        product=product,
        day=demand.day,
        pricing=pricing,
        clearing_price_cny_per_mwh=tuple(float(p) for p in clearing_price),
        cleared_kw=tuple(float(c) for c in cleared[:intervals_per_day]),
        demand_kw=tuple(float(d) for d in demand_kw),
        awards=awards,
    )


def _fill_interval(
    merit: FloatArray, quantity: FloatArray, demand_kw: float
) -> tuple[FloatArray, int]:
    """Accepted kW per step (sorted by merit) and the index of the last accepted step (-1: none)."""
    starts = np.flatnonzero(np.r_[True, merit[1:] != merit[:-1]])
    level_kw = np.add.reduceat(quantity, starts)
    before_kw = np.r_[0.0, np.cumsum(level_kw)[:-1]]
    take_kw = np.clip(demand_kw - before_kw, 0.0, level_kw)
    share = np.where(take_kw >= level_kw, 1.0, take_kw / level_kw)
    level_of_step = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(merit)]))
    taken = quantity * share[level_of_step]
    used = np.flatnonzero(taken > 0)
    return taken, (int(used[-1]) if used.size else -1)


def _checked_demand(demand: Demand, product: str, intervals_per_day: int) -> FloatArray:
    if demand.product != product:
        raise ValueError(f"demand is for {demand.product!r}, this pack clears {product!r}")
    values = np.asarray(demand.quantity_kw, dtype=np.float64)
    if values.shape != (intervals_per_day,):
        raise ValueError(f"demand must have {intervals_per_day} intervals, got {values.size}")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("demand quantities must be finite and >= 0 kW")
    return values


def _flatten(
    bids: Sequence[Bid], demand: Demand, product: str, side: Direction
) -> tuple[list[str], IntArray, FloatArray, FloatArray]:
    """Bid participants and, per step, its interval, price and quantity; ``owner`` indexes
    the step list, mapped back to the bid by `_owner_bid`."""
    intervals: list[int] = []
    prices: list[float] = []
    quantities: list[float] = []
    for bid in bids:
        if bid.product != product or bid.day != demand.day or bid.side != side:
            raise ValueError(
                f"bid of {bid.participant!r} is for {bid.product} {bid.day} {bid.side.value}; "
                f"clearing {product} {demand.day} {side.value}"
            )
        for offer in bid.intervals:
            for step in offer.steps:
                intervals.append(offer.interval)
                prices.append(step.price_cny_per_mwh)
                quantities.append(step.quantity_kw)
    return (
        [bid.participant for bid in bids],
        np.asarray(intervals, dtype=np.intp),
        np.asarray(prices, dtype=np.float64),
        np.asarray(quantities, dtype=np.float64),
    )


def _owner_bid(bids: Sequence[Bid], step_index: IntArray) -> IntArray:
    """The bid each flattened step (by its index in `_flatten`'s order) belongs to."""
    counts = [sum(len(offer.steps) for offer in bid.intervals) for bid in bids]
    ends = np.cumsum(np.asarray(counts, dtype=np.intp))
    return np.searchsorted(ends, step_index, side="right")


def _clamp(prices: FloatArray, low: float | None, high: float | None) -> FloatArray:
    out = prices
    if low is not None:
        out = np.where(np.isnan(out), out, np.maximum(out, low))
    if high is not None:
        out = np.where(np.isnan(out), out, np.minimum(out, high))
    return out


def _aggregate(
    demand: Demand,
    participants: list[str],
    interval: IntArray,
    paid: FloatArray,
    accepted: FloatArray,
) -> tuple[Award, ...]:
    totals: dict[tuple[int, str, float], float] = {}
    for i in np.flatnonzero(accepted > 0):
        key = (int(interval[i]), participants[i], float(paid[i]))
        totals[key] = totals.get(key, 0.0) + float(accepted[i])
    return tuple(
        Award(
            product=demand.product,
            day=demand.day,
            participant=participant,
            interval=k,
            quantity_kw=kw,
            price_cny_per_mwh=price,
        )
        for (k, participant, price), kw in sorted(totals.items())
        if kw > 0 and not math.isnan(price)
    )
