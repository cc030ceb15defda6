"""From the pool's forecasts and the markets' outlooks to optimised bids (``vpp.optimize``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from vpp.domain.assets import AssetParams
from vpp.domain.flexibility import GeneralisedBattery
from vpp.domain.market import IntervalOffer, MarketOutlook
from vpp.forecast.calendar import FloatArray
from vpp.ports import MarketPack


@dataclass(frozen=True)
class PoolAsset:
    """One asset as the bid builder sees it: its model and forecast deviation bounds."""

    asset_id: uuid.UUID
    account_id: uuid.UUID
    params: AssetParams
    battery: GeneralisedBattery
    lo_kw: FloatArray
    """Lowest deviation from the forecast baseline per interval (kW)."""
    hi_kw: FloatArray
    """Highest deviation per interval (kW)."""


@dataclass(frozen=True)
class PlannedBid:
    """The optimiser's bid for one product and what each asset backs of it."""

    product: str
    ladder: tuple[IntervalOffer, ...]
    allocation_kw: FloatArray
    """(assets, intervals): each asset's part of the robust box (kW, >= 0)."""
    expected_revenue_cny: float
    detail: str


def plan_bids(
    assets: Sequence[PoolAsset],
    packs: Mapping[str, MarketPack],
    outlooks: Mapping[str, MarketOutlook],
    energy_price_cny_per_mwh: np.ndarray | None = None,
) -> list[PlannedBid]:
    raise NotImplementedError
