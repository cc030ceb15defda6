"""Market rule-pack tests and the bid builders they share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime

from vpp.domain.market import Bid, BidStep, IntervalOffer
from vpp.domain.units import Direction

DAY = date(2026, 3, 10)
"""A Tuesday; its day-ahead gate is 2026-03-09 10:00 Beijing = 02:00Z."""
BEFORE_GATE = datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
AT_GATE = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)

Ladder = Sequence[tuple[float, float]]
"""(price CNY/MWh, quantity kW) steps."""


def make_bid(
    product: str,
    side: Direction,
    offers: Mapping[int, Ladder],
    *,
    intervals: int = 96,
    participant: str = "p1",
    day: date = DAY,
) -> Bid:
    """A bid with ``offers[k]`` at interval k and empty ladders elsewhere."""
    return Bid(
        product=product,
        day=day,
        participant=participant,
        side=side,
        intervals=tuple(
            IntervalOffer(k, tuple(BidStep(p, q) for p, q in offers.get(k, ())))
            for k in range(intervals)
        ),
    )


def run(first: int, count: int, ladder: Ladder) -> dict[int, Ladder]:
    """The same ladder on ``count`` consecutive intervals from ``first``."""
    return {k: ladder for k in range(first, first + count)}
