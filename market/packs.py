"""The ladder-bid rule pack every product of `market/` is built on: validate, clear, score."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, ClassVar

from market import gates
from market.clearing import clear_merit_order
from market.rules import LadderRules
from market.scoring import score_delivery
from market.validation import (
    check_durations,
    check_header,
    check_intervals,
    check_ladder,
    intervals_in_order,
    offered_kw,
)
from vpp.domain.market import (
    Bid,
    Clearing,
    Demand,
    IntervalScore,
    OfferLimits,
    RuleViolation,
)
from vpp.domain.time import ensure_aware
from vpp.domain.units import Direction
from vpp.ports import MarketPack


class LadderPack(MarketPack):
    """A product bid as one price-quantity ladder per interval of a Beijing market day.

    A product subclass sets ``product``, ``version``, ``side``, ``participant_pays`` and a
    ``rules_model`` whose defaults cite their sources; the behaviour lives here:

    - ``limits()``: the offer-shaping numbers for the bid builder (no cap = +inf);
    - ``gate_closure(day)``: D + ``gate_day_offset`` at ``gate_time_local`` Beijing time, or,
      for per-interval (real-time) products, the gate of the day's last interval;
    - ``validate(bid, now)``: every rule broken (`market.validation.RULES` names them);
    - ``clear(demand, bids)``: merit-order clearing (`market.clearing`);
    - ``score(...)``: response-rate or deviation scoring (`market.scoring`).

    ``participant_pays`` decides the merit order and the ladder convention: False for supply
    offers (the participant is paid for the service or energy it provides: ladders rise, the
    cheapest clears first), True for demand bids (the participant pays: ladders fall, the
    dearest clears first). It is independent of the side: valley filling raises net load
    (UP) and is paid, buying spot energy raises net load too and pays.
    """

    side: ClassVar[Direction]
    participant_pays: ClassVar[bool] = False
    rules_model: ClassVar[type[LadderRules]]
    rules: LadderRules

    @property
    def intervals_per_day(self) -> int:
        return self.rules.intervals_per_day

    @property
    def interval_hours(self) -> float:
        """Length of one interval (h)."""
        return self.rules.interval_hours

    def limits(self) -> OfferLimits:
        """The offer-shaping numbers; a product without a price cap reports +inf."""
        r = self.rules
        return OfferLimits(
            side=self.side,
            intervals_per_day=r.intervals_per_day,
            price_floor_cny_per_mwh=r.price_floor_cny_per_mwh,
            price_cap_cny_per_mwh=r.cap_or_inf,
            min_quantity_kw=r.min_quantity_kw,
            quantity_step_kw=r.quantity_step_kw,
            min_duration_intervals=r.min_duration_intervals,
            max_steps=r.max_steps,
            pricing=r.pricing,
            penalty_threshold=r.penalty_threshold,
            penalty_factor=r.penalty_factor,
        )

    def describe(self) -> dict[str, Any]:
        """Product, version, side, merit order and every rule's value, JSON-ready."""
        return {
            **super().describe(),
            "side": self.side.value,
            "merit_order": "highest_price_first" if self.participant_pays else "lowest_price_first",
            "interval_hours": self.interval_hours,
        }

    def gate_closure(self, day: date) -> datetime:
        """The last moment (UTC) a bid for ``day`` is accepted.

        For per-interval gates (``gate_lead_minutes`` set) that is the gate of the day's last
        interval; `interval_gate_closure` gives each interval's own.
        """
        lead = self.rules.gate_lead_minutes
        if lead is None:
            return gates.day_gate(day, self.rules.gate_day_offset, self.rules.gate_time_local)
        return self.interval_gate_closure(day, self.intervals_per_day - 1)

    def interval_gate_closure(self, day: date, interval: int) -> datetime:
        """The last moment (UTC) an offer for ``interval`` of ``day`` is accepted."""
        lead = self.rules.gate_lead_minutes
        if lead is None:
            if not 0 <= interval < self.intervals_per_day:
                raise ValueError(
                    f"interval must be in [0, {self.intervals_per_day - 1}], got {interval}"
                )
            return self.gate_closure(day)
        return gates.interval_gate(day, interval, self.intervals_per_day, lead)

    def validate(self, bid: Bid, now: datetime) -> list[RuleViolation]:
        """Every rule ``bid`` breaks if submitted at ``now`` (aware); [] when it may be.

        Rule names and fields: `market.validation.RULES`; ``gate_closure`` points at ``day``
        (day-ahead gate) or at ``intervals[k]`` (per-interval gate, one per offered interval
        past its gate).
        """
        now = ensure_aware(now, "now")
        n = self.intervals_per_day
        out = check_header(bid, product=self.product, side=self.side)
        out += self.check_product(bid)
        out += check_intervals(bid, n)
        out += self.check_gate(bid, now)
        for position, offer in enumerate(bid.intervals):
            out += check_ladder(position, offer, self.rules, participant_pays=self.participant_pays)
        if intervals_in_order(bid, n):
            out += check_durations(bid, self.rules.min_duration_intervals)
        return out

    def check_product(self, bid: Bid) -> list[RuleViolation]:
        """Product-specific rules; none by default."""
        return []

    def check_gate(self, bid: Bid, now: datetime) -> list[RuleViolation]:
        """``gate_closure``: the day's gate, or each offered interval's own gate."""
        if self.rules.gate_lead_minutes is None:
            gate = self.gate_closure(bid.day)
            if now > gate:
                return [
                    RuleViolation(
                        "gate_closure",
                        "day",
                        f"the gate for {bid.day} closed at {gate.isoformat()}; "
                        f"submitted at {now.isoformat()}",
                    )
                ]
            return []
        out: list[RuleViolation] = []
        for position, offer in enumerate(bid.intervals):
            k = offer.interval
            if offered_kw(offer) <= 0 or not 0 <= k < self.intervals_per_day:
                continue
            gate = self.interval_gate_closure(bid.day, k)
            if now > gate:
                out.append(
                    RuleViolation(
                        "gate_closure",
                        f"intervals[{position}]",
                        f"interval {k} of {bid.day} closed at {gate.isoformat()} "
                        f"({self.rules.gate_lead_minutes} min before it starts); "
                        f"submitted at {now.isoformat()}",
                    )
                )
        return out

    def clear(self, demand: Demand, bids: Sequence[Bid]) -> Clearing:
        """Merit-order clearing of valid ``bids`` against ``demand`` (see `market.clearing`)."""
        r = self.rules
        return clear_merit_order(
            demand,
            bids,
            product=self.product,
            side=self.side,
            intervals_per_day=r.intervals_per_day,
            pricing=r.pricing,
            participant_pays=self.participant_pays,
            clearing_floor_cny_per_mwh=r.clearing_floor_cny_per_mwh,
            clearing_cap_cny_per_mwh=r.clearing_cap_cny_per_mwh,
        )

    def score(
        self,
        awarded_kw: Sequence[float],
        delivered_kw: Sequence[float],
        price_cny_per_mwh: Sequence[float],
    ) -> list[IntervalScore]:
        """Payment and penalty per interval (see `market.scoring`; units kW, CNY/MWh, CNY)."""
        return score_delivery(
            awarded_kw,
            delivered_kw,
            price_cny_per_mwh,
            self.rules,
            participant_pays=self.participant_pays,
        )
