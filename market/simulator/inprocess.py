"""A `MarketClient` that talks to a `SimulatedMarket` in the same process (demo and tests)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from market.errors import MarketRejectedError
from market.simulator.operator import (
    InvalidRequestError,
    SimulatedMarket,
    UnknownProductError,
)
from vpp.domain.market import Bid, Clearing, Instruction, MarketOutlook, Receipt
from vpp.ports import MarketClient


class InProcessMarketClient(MarketClient):
    """One participant's view of a simulated market, without a network in between.

    Behaves like `market.client.HttpMarketClient`: a bid that breaks a rule comes back as
    a Receipt with ``accepted=False``; an unknown product, a malformed idempotency key or
    a bid in another participant's name raise MarketRejectedError (``status_code`` None).
    """

    def __init__(self, market: SimulatedMarket, participant: str) -> None:
        if not participant.strip():
            raise ValueError("participant must not be empty")
        self.market = market
        self.participant = participant

    async def outlook(self, product: str, day: date) -> MarketOutlook:
        """Published demand (kW) and indicative prices (CNY/MWh) for a product and day."""
        try:
            return await self.market.outlook(product, day)
        except (UnknownProductError, InvalidRequestError) as exc:
            raise MarketRejectedError(str(exc)) from exc

    async def submit(self, bid: Bid, idempotency_key: str) -> Receipt:
        """Submit ``bid`` (in this participant's name); the same key returns the first receipt."""
        if bid.participant != self.participant:
            raise MarketRejectedError(
                f"participant: bid is in the name of {bid.participant!r}, this client acts "
                f"for {self.participant!r}"
            )
        try:
            return await self.market.submit(bid, idempotency_key)
        except (UnknownProductError, InvalidRequestError) as exc:
            raise MarketRejectedError(str(exc)) from exc

    async def clearing(self, product: str, day: date) -> Clearing | None:
        """The cleared day with this participant's awards only; None before clearing."""
        try:
            return await self.market.clearing(product, day, self.participant)
        except UnknownProductError as exc:
            raise MarketRejectedError(str(exc)) from exc

    async def instructions(self, since: datetime) -> Sequence[Instruction]:
        """Instructions addressed to this participant issued after ``since``, oldest first."""
        return await self.market.instructions(since, self.participant)
