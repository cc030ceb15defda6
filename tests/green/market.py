"""A market that publishes given clearings, and submitted bids with their allocations, for
the tests of awards that become green-power records (and the end-to-end month)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.orm import Session

from vpp.config import Settings
from vpp.domain.market import Award, Bid, Clearing, Instruction, MarketOutlook, Pricing, Receipt
from vpp.models import BidAllocation, BidRow
from vpp.ports import Clock, MarketClient, MarketPack


class PublishedMarket(MarketClient):
    """Publishes the clearings it is given, counts how often each was fetched."""

    def __init__(self, participant: str = "vpp") -> None:
        self.participant = participant
        self.clearings: dict[tuple[str, date], Clearing] = {}
        self.fetched: dict[tuple[str, date], int] = {}

    def publish(self, clearing: Clearing) -> None:
        self.clearings[(clearing.product, clearing.day)] = clearing

    async def outlook(self, product: str, day: date) -> MarketOutlook:
        raise NotImplementedError

    async def submit(self, bid: Bid, idempotency_key: str) -> Receipt:
        raise NotImplementedError

    async def clearing(self, product: str, day: date) -> Clearing | None:
        key = (product, day)
        self.fetched[key] = self.fetched.get(key, 0) + 1
        return self.clearings.get(key)

    async def instructions(self, since: datetime) -> Sequence[Instruction]:
        return []


@dataclass
class State:
    """What `vpp.bidding.workflow` needs of the application."""

    settings: Settings
    clock: Clock
    packs: Mapping[str, MarketPack]
    published: PublishedMarket = field(default_factory=PublishedMarket)
    participant: str = "vpp"
    market: MarketClient = field(init=False)

    def __post_init__(self) -> None:
        self.market = self.published


def clearing(
    product: str,
    day: date,
    awarded_kw: Mapping[int, float],
    price_cny_per_mwh: float,
    intervals: int = 24,
    participant: str = "vpp",
) -> Clearing:
    """A pay-as-bid clearing awarding ``awarded_kw[interval]`` at one price."""
    prices = tuple(price_cny_per_mwh if k in awarded_kw else math.nan for k in range(intervals))
    cleared = tuple(awarded_kw.get(k, 0.0) for k in range(intervals))
    return Clearing(
        product=product,
        day=day,
        pricing=Pricing.PAY_AS_BID,
        clearing_price_cny_per_mwh=prices,
        cleared_kw=cleared,
        demand_kw=cleared,
        awards=tuple(
            Award(product, day, participant, k, kw, price_cny_per_mwh)
            for k, kw in sorted(awarded_kw.items())
        ),
    )


def submitted_bid(
    session: Session,
    product: str,
    day: date,
    side: str,
    capacity_kw: Mapping[tuple[uuid.UUID, uuid.UUID], Mapping[int, float]],
    intervals: int = 24,
) -> uuid.UUID:
    """A submitted bid; ``capacity_kw[(asset, account)][interval]`` is each asset's share of
    the offer (kW), awarded later in proportion by `vpp.bidding.service.record_clearing`."""
    bid = BidRow(
        product=product,
        pack_version="gansu-2025.1",
        day=day,
        side=side,
        state="submitted",
        risk_quantile=0.5,
        ladder=[{"interval": k, "steps": []} for k in range(intervals)],
        offered_kwh=0.0,
        expected_revenue_cny=0.0,
    )
    session.add(bid)
    session.flush()
    session.add_all(
        BidAllocation(
            bid_id=bid.id,
            asset_id=asset_id,
            interval=k,
            account_id=account_id,
            capacity_kw=kw,
            offered_kw=kw,
            awarded_kw=0.0,
        )
        for (asset_id, account_id), by_interval in capacity_kw.items()
        for k, kw in by_interval.items()
    )
    session.flush()
    return bid.id
