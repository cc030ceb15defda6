"""Synthetic competitors: other aggregators, storage and generators bidding every product."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np

from market.simulator.curtailment import BoolArray, FloatArray, stream
from vpp.domain.market import Bid, BidStep, IntervalOffer, OfferLimits

COMPETITOR_PREFIX = "competitor."
"""Every competitor's name starts with this; participants may not use it."""

# Kind -> (Beta a, Beta b) of the cost position in [floor, cap] for services, and
# (mean, sd) of the log markup over the anchor for energy.
_SERVICE_COST: dict[str, tuple[float, float]] = {
    "storage": (1.2, 4.0),
    "aggregator": (1.5, 3.0),
    "thermal": (2.5, 2.5),
}
_SELLER_MARKUP: dict[str, tuple[float, float]] = {
    "wind_farm": (-0.35, 0.20),
    "storage": (-0.10, 0.20),
    "thermal": (0.00, 0.15),
    "aggregator": (-0.05, 0.25),
}
_BUYER_MARKUP: dict[str, tuple[float, float]] = {
    "industrial_load": (0.05, 0.20),
    "storage": (-0.20, 0.20),
    "aggregator": (0.00, 0.25),
    "retailer": (0.05, 0.15),
}


@dataclass(frozen=True)
class Competitor:
    """One synthetic market participant of a product's fleet."""

    name: str
    kind: str
    share: float
    """Share of the fleet's capacity (the shares of a fleet sum to 1)."""
    cost_a: float
    cost_b: float
    """Beta parameters of its cost position (services) or mean and sd of its log markup."""


def fleet(
    seed: int, product: str, *, anchored: bool, descending: bool, size: int = 10
) -> list[Competitor]:
    """The competitors of ``product`` for ``seed``: kinds by product type, lognormal shares.

    ``anchored``: energy priced around an anchor (else a service priced across [floor,
    cap]); ``descending``: demand bids (buyers) rather than supply offers.
    """
    rng = np.random.default_rng(stream(seed, product, "fleet"))
    table = _SERVICE_COST
    if anchored:
        table = _BUYER_MARKUP if descending else _SELLER_MARKUP
    kinds = sorted(table)
    picked = [kinds[i % len(kinds)] for i in range(size)]
    rng.shuffle(picked)
    raw = rng.lognormal(0.0, 0.6, size)
    shares = raw / raw.sum()
    return [
        Competitor(
            name=f"{COMPETITOR_PREFIX}{kind}-{i + 1:02d}",
            kind=kind,
            share=float(shares[i]),
            cost_a=table[kind][0],
            cost_b=table[kind][1],
        )
        for i, kind in enumerate(picked)
    ]


def offered_mask(wanted: BoolArray, min_run: int) -> BoolArray:
    """``wanted`` with every run of True stretched to at least ``min_run`` intervals
    (rightwards, then leftwards at the end of the day)."""
    n = wanted.size
    out = wanted.copy()
    k = 0
    while k < n:
        if not out[k]:
            k += 1
            continue
        end = k
        while end < n and out[end]:
            end += 1
        if end - k < min_run:
            stop = min(n, k + min_run)
            start = max(0, stop - min_run)
            out[start:stop] = True
            end = max(end, stop)
        k = end
    return out


def _price_bounds(limits: OfferLimits, anchor: FloatArray | None) -> tuple[float, float]:
    """Floor and a finite upper price (CNY/MWh), rounded inwards to whole CNY/MWh."""
    floor = limits.price_floor_cny_per_mwh
    cap = limits.price_cap_cny_per_mwh
    if not math.isfinite(cap):
        # No cap (green power): three times the dearest anchor, or ten times the floor.
        top = float(np.max(anchor)) if anchor is not None and anchor.size else floor
        cap = max(3.0 * top, 10.0 * floor, floor + 100.0)
    return float(math.ceil(floor)), float(math.floor(cap))


def _ladder_prices(
    first: float, count: int, gaps: FloatArray, low: float, high: float, descending: bool
) -> list[float]:
    """``count`` strictly monotone whole-CNY prices from ``first`` within [low, high]."""
    prices: list[float] = []
    price = min(max(round(first), low), high)
    for j in range(count):
        if j:
            step = max(1.0, round(float(gaps[j - 1])))
            price = price - step if descending else price + step
            if price < low or price > high:
                break
        prices.append(float(price))
    return prices


def _quantities(total_kw: float, weights: FloatArray, limits: OfferLimits) -> list[float]:
    """Split ``total_kw`` by ``weights`` into multiples of the quantity step, every step at
    least one quantum and the total at least the minimum (kW)."""
    quantum = limits.quantity_step_kw if limits.quantity_step_kw > 0 else 1.0
    units = np.maximum(np.round(total_kw * weights / weights.sum() / quantum), 1).astype(int)
    short = math.ceil(max(limits.min_quantity_kw - float(units.sum()) * quantum, 0.0) / quantum)
    units[0] += short
    return [float(u) * quantum for u in units]


def competitor_bids(
    seed: int,
    product: str,
    day: date,
    limits: OfferLimits,
    demand_kw: FloatArray,
    anchor_price_cny_per_mwh: FloatArray | None = None,
    *,
    descending: bool = False,
    size: int = 10,
) -> list[Bid]:
    """Valid ladder bids of ``product``'s competitors for ``day`` (one bid each).

    Deterministic per ``(seed, product, day)``. A product's *fleet* (names, kinds, capacity
    shares, cost positions) depends on the seed only; each day draws the fleet's nominal size
    (1.25-2.25 × the day's peak demand), each member's availability (60-100 %, absent 8 % of
    days) and the prices, so that the capacity on offer is about 0.9-1.6 × the peak demand:
    sometimes short and usually long at the peak, long elsewhere. Ladders follow the pack's
    rules as ``OfferLimits`` state them, and the ladder order its merit order asks for:
    rising prices for supply offers, falling for demand bids.

    Prices: for services (no price anchor) each competitor's first step sits at floor +
    (cap - floor)·Beta(a, b) with more mass near the floor, so there is more capacity at low
    prices; for energy (a price anchor per interval) at the anchor × a lognormal markup of
    the competitor. Step quantities are lognormal shares of the competitor's available
    capacity, the largest in the cheapest (supply) or dearest (demand) step.

    ``demand_kw`` (one value per interval) sets where competitors offer (where demand > 0,
    runs stretched to the minimum duration) and the fleet's size; ``descending`` gives
    demand bids (prices fall step by step). Empty when there is no demand at all.
    """
    n = limits.intervals_per_day
    peak_kw = float(np.max(demand_kw)) if demand_kw.size else 0.0
    if peak_kw <= 0:
        return []
    anchored = anchor_price_cny_per_mwh is not None
    members = fleet(seed, product, anchored=anchored, descending=descending, size=size)
    rng = np.random.default_rng(stream(seed, product, day.toordinal(), "competitors"))
    fleet_kw = peak_kw * float(rng.uniform(1.25, 2.25))
    low, high = _price_bounds(limits, anchor_price_cny_per_mwh)
    span = high - low
    offered = offered_mask(demand_kw > 0, max(1, limits.min_duration_intervals))
    bids: list[Bid] = []
    for member in members:
        present = rng.uniform() >= 0.08
        availability = float(rng.uniform(0.6, 1.0))
        steps = int(rng.integers(1, min(3, limits.max_steps) + 1))
        weights = np.sort(rng.lognormal(0.0, 0.5, steps))[::-1]
        gap_shares = rng.uniform(0.03, 0.15, steps)
        markup, noise, position = 0.0, np.zeros(n), 0.0
        if anchored:
            markup = float(rng.normal(member.cost_a, member.cost_b))
            noise = rng.normal(0.0, 0.05, n)
        else:
            position = float(rng.beta(member.cost_a, member.cost_b))
        if not present:
            continue
        capacity_kw = fleet_kw * member.share * availability
        offers: list[IntervalOffer] = []
        for k in range(n):
            if not offered[k]:
                offers.append(IntervalOffer(k, ()))
                continue
            if anchor_price_cny_per_mwh is not None:
                # Energy: steps a few per cent of the anchor apart.
                centre = float(anchor_price_cny_per_mwh[k])
                first = centre * math.exp(markup + float(noise[k]))
                gaps = gap_shares * 0.5 * centre
            else:
                # Services: steps a few per cent of the price range apart.
                first = (high - position * span) if descending else (low + position * span)
                gaps = gap_shares * max(span, 1.0)
            prices = _ladder_prices(first, steps, gaps, low, high, descending)
            quantities = _quantities(capacity_kw, weights[: len(prices)], limits)
            offers.append(
                IntervalOffer(
                    k, tuple(BidStep(p, q) for p, q in zip(prices, quantities, strict=True))
                )
            )
        bids.append(
            Bid(
                product=product,
                day=day,
                participant=member.name,
                side=limits.side,
                intervals=tuple(offers),
            )
        )
    return bids
