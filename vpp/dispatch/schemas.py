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
    """The pool's award of a product in an interval and what the plan delivers (kW)."""

    model_config = ConfigDict(from_attributes=True)

    product: str
    interval: int
    awarded_kw: float
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
