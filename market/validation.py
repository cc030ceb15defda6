"""Bid validation against a pack's ladder rules: every broken rule, named, with its field."""

from __future__ import annotations

import math

from market.rules import LadderRules
from vpp.domain.market import Bid, IntervalOffer, RuleViolation
from vpp.domain.units import Direction

QUANTITY_TOLERANCE_KW = 1e-6

RULES: dict[str, str] = {
    "product": "the bid names another product (field product)",
    "side": "the bid's direction is not the product's (field side)",
    "participant": "the participant is empty (field participant)",
    "interval_count": (
        "wrong number of intervals (field intervals), or an interval whose index is not its "
        "position: wrong or duplicate index (intervals[k].interval)"
    ),
    "gate_closure": (
        "submitted after the gate: the day's (field day) or, for real-time products, the "
        "offered interval's own (intervals[k])"
    ),
    "finite_number": "a NaN or infinite price or quantity (intervals[k].steps[j].<field>)",
    "price_floor": "a step priced below the floor (intervals[k].steps[j].price_cny_per_mwh)",
    "price_cap": "a step priced above the cap (intervals[k].steps[j].price_cny_per_mwh)",
    "negative_quantity": "a step quantity below zero (intervals[k].steps[j].quantity_kw)",
    "quantity_step": (
        "a step quantity that is not a multiple of the quantity step "
        "(intervals[k].steps[j].quantity_kw)"
    ),
    "max_steps": "more steps than allowed in one interval (intervals[k].steps)",
    "ladder_order": (
        "step prices not strictly rising (supply offers: the participant is paid) or not "
        "strictly falling (demand bids: the participant pays) "
        "(intervals[k].steps[j].price_cny_per_mwh)"
    ),
    "min_quantity": "a non-zero interval total below the minimum (intervals[k])",
    "min_duration": (
        "a run of consecutive offered intervals shorter than the minimum (intervals[k], the "
        "run's first); checked only when the interval indices are right"
    ),
    "delivery_month": "a monthly bid whose day is not the first of a month (field day)",
}
"""Every rule name a pack reports, with what breaks it and the field it points at."""


def check_header(bid: Bid, *, product: str, side: Direction) -> list[RuleViolation]:
    """The product, side and participant of ``bid``."""
    out: list[RuleViolation] = []
    if bid.product != product:
        out.append(
            RuleViolation(
                "product", "product", f"bid is for {bid.product!r}, this pack clears {product!r}"
            )
        )
    if bid.side != side:
        out.append(
            RuleViolation(
                "side", "side", f"{product} takes {side.value} offers, got {bid.side.value}"
            )
        )
    if not bid.participant.strip():
        out.append(RuleViolation("participant", "participant", "participant must not be empty"))
    return out


def check_intervals(bid: Bid, intervals_per_day: int) -> list[RuleViolation]:
    """The interval count and that interval ``k`` sits at position ``k`` (no gaps, no repeats)."""
    out: list[RuleViolation] = []
    count = len(bid.intervals)
    if count != intervals_per_day:
        out.append(
            RuleViolation(
                "interval_count",
                "intervals",
                f"expected {intervals_per_day} intervals (one per interval of the day, empty "
                f"where nothing is offered), got {count}",
            )
        )
    seen: set[int] = set()
    for position, offer in enumerate(bid.intervals):
        if offer.interval != position:
            repeat = " (a duplicate)" if offer.interval in seen else ""
            out.append(
                RuleViolation(
                    "interval_count",
                    f"intervals[{position}].interval",
                    f"interval at position {position} has index {offer.interval}{repeat}; "
                    f"intervals must be listed 0..{intervals_per_day - 1} in order",
                )
            )
        seen.add(offer.interval)
    return out


def intervals_in_order(bid: Bid, intervals_per_day: int) -> bool:
    """True when the bid lists exactly the intervals 0..n-1 in order."""
    return len(bid.intervals) == intervals_per_day and all(
        offer.interval == position for position, offer in enumerate(bid.intervals)
    )


def check_ladder(
    position: int, offer: IntervalOffer, rules: LadderRules, *, participant_pays: bool
) -> list[RuleViolation]:
    """Every rule one interval's ladder breaks, at most one violation per rule.

    Ladder convention (``ladder_order``): supply offers (the participant is paid) rise
    strictly step by step and demand bids (the participant pays) fall strictly, so every
    ladder lists its cheapest supply, or its most valuable demand, first: the order in
    which merit-order clearing takes them. Prices are CNY/MWh, quantities kW.
    """
    out: list[RuleViolation] = []
    seen: set[str] = set()
    where = f"intervals[{position}]"

    def add(rule: str, field: str, message: str) -> None:
        if rule not in seen:
            seen.add(rule)
            out.append(RuleViolation(rule, field, message))

    if len(offer.steps) > rules.max_steps:
        add(
            "max_steps",
            f"{where}.steps",
            f"interval {position} has {len(offer.steps)} steps, at most {rules.max_steps} allowed",
        )
    floor = rules.price_floor_cny_per_mwh
    cap = rules.cap_or_inf
    step_kw = rules.quantity_step_kw
    previous: float | None = None
    for j, step in enumerate(offer.steps):
        at = f"{where}.steps[{j}]"
        price, quantity = step.price_cny_per_mwh, step.quantity_kw
        if not math.isfinite(price):
            add("finite_number", f"{at}.price_cny_per_mwh", f"price must be finite, got {price}")
        elif price < floor:
            add(
                "price_floor",
                f"{at}.price_cny_per_mwh",
                f"price {price:g} CNY/MWh is below the floor {floor:g} CNY/MWh",
            )
        elif price > cap:
            add(
                "price_cap",
                f"{at}.price_cny_per_mwh",
                f"price {price:g} CNY/MWh is above the cap {cap:g} CNY/MWh",
            )
        if not math.isfinite(quantity):
            add("finite_number", f"{at}.quantity_kw", f"quantity must be finite, got {quantity}")
        elif quantity < 0:
            add(
                "negative_quantity",
                f"{at}.quantity_kw",
                f"quantity {quantity:g} kW is negative; offer quantities are >= 0 in the "
                "product's direction",
            )
        elif step_kw > 0 and not _is_multiple(quantity, step_kw):
            add(
                "quantity_step",
                f"{at}.quantity_kw",
                f"quantity {quantity:g} kW is not a multiple of {step_kw:g} kW",
            )
        if math.isfinite(price):
            if previous is not None and not _in_order(previous, price, participant_pays):
                wanted = "fall" if participant_pays else "rise"
                add(
                    "ladder_order",
                    f"{at}.price_cny_per_mwh",
                    f"step {j} price {price:g} CNY/MWh after {previous:g} CNY/MWh: "
                    f"step prices must strictly {wanted} step by step",
                )
            previous = price
    total = offered_kw(offer)
    if 0 < total < rules.min_quantity_kw - QUANTITY_TOLERANCE_KW:
        add(
            "min_quantity",
            where,
            f"interval {position} offers {total:g} kW in total, below the minimum "
            f"{rules.min_quantity_kw:g} kW (offer 0 or at least the minimum)",
        )
    return out


def check_durations(bid: Bid, min_intervals: int) -> list[RuleViolation]:
    """Runs of consecutive offered intervals (total > 0) shorter than ``min_intervals``."""
    out: list[RuleViolation] = []
    offered = [offered_kw(offer) > 0 for offer in bid.intervals]
    start: int | None = None
    for k, on in enumerate([*offered, False]):
        if on and start is None:
            start = k
        elif not on and start is not None:
            length = k - start
            if length < min_intervals:
                out.append(
                    RuleViolation(
                        "min_duration",
                        f"intervals[{start}]",
                        f"intervals {start}..{k - 1} form a run of {length} offered "
                        f"interval(s), shorter than the minimum {min_intervals}",
                    )
                )
            start = None
    return out


def offered_kw(offer: IntervalOffer) -> float:
    """Total of an interval's usable step quantities (kW; NaN and negatives count as 0)."""
    return sum(
        step.quantity_kw
        for step in offer.steps
        if math.isfinite(step.quantity_kw) and step.quantity_kw > 0
    )


def _in_order(previous: float, price: float, participant_pays: bool) -> bool:
    return price < previous if participant_pays else price > previous


def _is_multiple(quantity: float, step: float) -> bool:
    ratio = quantity / step
    return abs(ratio - round(ratio)) * step <= QUANTITY_TOLERANCE_KW
