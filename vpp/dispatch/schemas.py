"""Setpoint command bodies."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from vpp.domain.commands import CommandState


class SetpointCreate(BaseModel):
    """A manual setpoint: hold ``power_kw`` (net load, + consumption) at the asset."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    power_kw: float = Field(description="Target net power, kW (+ drawn from the grid).")
    interval_start: AwareDatetime | None = Field(
        default=None, description="Start of the 15-minute interval; default: the current one."
    )
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="When the device must fall back to its own default; default: the "
        "interval's end.",
    )


class CommandEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    state: str
    attempt: int
    detail: str


class CommandOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    asset_id: uuid.UUID
    account_id: uuid.UUID
    adapter: str
    interval_start: datetime
    power_kw: float
    state: CommandState
    attempts: int
    source: str
    detail: str
    created_at: datetime
    expires_at: datetime
    sent_at: datetime | None
    finished_at: datetime | None


class CommandDetail(CommandOut):
    history: list[CommandEventOut]


class PoolTargetOut(BaseModel):
    """The pool's award of a product in an interval, its current target (the award or a
    grid instruction's) and what the plan delivers (kW, in the product's direction)."""

    model_config = ConfigDict(from_attributes=True)

    product: str
    interval: int
    awarded_kw: float
    target_kw: float
    planned_kw: float
    shortfall_kw: float


class AssetPlanOut(BaseModel):
    """One asset's plan for the day, per interval (kW, net-load sign)."""

    asset_id: uuid.UUID
    baseline_kw: list[float]
    deviation_kw: list[float]
    setpoint_kw: list[float]


class DispatchPlanOut(BaseModel):
    day: date
    targets: list[PoolTargetOut] = Field(
        description="The pool's awards and planned delivery (operators only)."
    )
    assets: list[AssetPlanOut]


class TrackedIntervalOut(BaseModel):
    """One product in one interval (kW, in the product's direction, >= 0 when delivering)."""

    model_config = ConfigDict(from_attributes=True)

    product: str
    interval: int = Field(description="Interval of the market day, 0..95.")
    start: datetime
    awarded_kw: float | None = Field(description="Pool award (operators only).")
    target_kw: float | None = Field(
        description="Pool target: the award or a grid instruction's (operators only)."
    )
    planned_kw: float = Field(
        description="Planned delivery: the pool's (operators) or the caller's assets' share."
    )
    delivered_kw: float | None = Field(
        description="Measured response against the plan's baseline (mean over the interval; "
        "so far for the interval under way); null before any reading."
    )
    live: bool = Field(description="The interval is under way.")


class TrackedProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product: str
    direction: str = Field(description="up: raises net load (valley filling); down: lowers it.")
    awarded_kwh: float | None = Field(description="Energy awarded (operators only).")
    delivered_kwh: float
    intervals_awarded: int
    intervals_within_5pct: int | None = Field(
        description="Awarded intervals delivered within +-5 % of the award (operators only)."
    )


class TrackingOut(BaseModel):
    """Delivered against awarded, target and planned, per product and interval."""

    model_config = ConfigDict(from_attributes=True)

    day: date
    scope: str = Field(description="pool (operators) or enterprise (the caller's assets only).")
    products: list[TrackedProductOut]
    intervals: list[TrackedIntervalOut]
