"""Bid, award, market and participation bodies."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vpp.domain.time import FIRST_DAY, LAST_DAY


class BidState(StrEnum):
    """Life cycle of a bid (DESIGN §4: draft -> approved -> submitted -> awarded)."""

    DRAFT = "draft"
    APPROVED = "approved"
    SUBMITTED = "submitted"
    REJECTED = "rejected"
    """Refused by the market (the receipt names the rules)."""
    AWARDED = "awarded"
    NOT_AWARDED = "not_awarded"
    SUPERSEDED = "superseded"
    """Replaced by a newer draft for the same product and day before submission."""


RISK_QUANTILES = (0.1, 0.5)
"""Forecast quantiles a bid may be built at (the forecasts carry P10, P50, P90)."""
EDITABLE = frozenset({BidState.DRAFT, BidState.APPROVED})


class StepBody(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    price_cny_per_mwh: float = Field(description="Offer price of this step, CNY/MWh.")
    quantity_kw: float = Field(ge=0, description="Quantity of this step, kW (>= 0).")


class IntervalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interval: int = Field(ge=0, description="0-based interval of the product's market day.")
    steps: list[StepBody] = Field(default_factory=list, max_length=50)


class DraftRequest(BaseModel):
    """Build draft bids for a market day with the optimiser."""

    model_config = ConfigDict(extra="forbid")

    day: date = Field(description="Market day (Asia/Shanghai) the bids are for.")
    products: list[str] | None = Field(
        default=None, description="Products to bid (default: every bidding product)."
    )
    risk_quantile: float = Field(
        default=0.1,
        description="Forecast quantile the offers must survive: 0.1 = deliverable for any "
        "baseline in the P10-P90 band (cautious), 0.5 = around the median (bold).",
    )

    @field_validator("risk_quantile")
    @classmethod
    def _known_quantile(cls, value: float) -> float:
        if value not in RISK_QUANTILES:
            raise ValueError(f"must be one of {', '.join(map(str, RISK_QUANTILES))}")
        return value

    @field_validator("day")
    @classmethod
    def _day_in_range(cls, value: date) -> date:
        # Refused here, before the market is asked for the day's outlook.
        if not FIRST_DAY <= value <= LAST_DAY:
            raise ValueError(f"must be between {FIRST_DAY} and {LAST_DAY}")
        return value


class BidEdit(BaseModel):
    """Replace a draft's ladder; ``revision`` must be the one the editor read."""

    model_config = ConfigDict(extra="forbid")

    revision: int = Field(ge=1, description="The bid's revision the edit is based on.")
    intervals: list[IntervalBody] = Field(
        max_length=96, description="Every interval of the product's day, in order."
    )


class BidOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    product: str
    pack_version: str
    day: date
    side: str
    state: BidState
    revision: int
    risk_quantile: float
    offered_kwh: float
    expected_revenue_cny: float
    awarded_kwh: float | None
    detail: str
    created_at: datetime
    updated_at: datetime
    approved_at: datetime | None
    submitted_at: datetime | None


class BidDetail(BidOut):
    ladder: list[IntervalBody]
    receipt: dict[str, Any] | None


class AwardOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    bid_id: uuid.UUID
    product: str
    day: date
    side: str
    interval: int
    quantity_kw: float
    price_cny_per_mwh: float
    clearing_price_cny_per_mwh: float | None


class AwardList(BaseModel):
    day: date
    items: list[AwardOut]


class MarketOut(BaseModel):
    product: str
    version: str
    side: str
    intervals_per_day: int
    gate_closure_for_tomorrow: datetime
    rules: dict[str, Any]


class MarketList(BaseModel):
    items: list[MarketOut]


class AssetParticipation(BaseModel):
    """What one asset's flexibility contributed to one product's bid (kWh)."""

    asset_id: uuid.UUID
    product: str
    bid_id: uuid.UUID
    bid_state: BidState
    offered_kwh: float
    awarded_kwh: float
    offered_kw: list[float] = Field(description="Offered kW per interval of the product's day.")
    awarded_kw: list[float] = Field(description="Awarded kW per interval.")


class Participation(BaseModel):
    day: date
    items: list[AssetParticipation]
