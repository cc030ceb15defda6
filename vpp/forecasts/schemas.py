"""Forecast and flexibility responses (kW, net-load sign; intervals named by their start)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field


class IntervalForecast(BaseModel):
    start: datetime = Field(description="Interval start, UTC.")
    baseline_kw: float | None = Field(description="Expected net load without the VPP, kW.")
    p10_kw: float | None
    p50_kw: float | None
    p90_kw: float | None
    up_kw: float = Field(description="Guaranteed upward flexibility (valley filling), kW.")
    down_kw: float = Field(description="Guaranteed downward flexibility (peak cutting), kW.")


class AssetForecast(BaseModel):
    """One asset's day-ahead baseline with its band and flexibility envelope."""

    asset_id: uuid.UUID
    day: date
    method: str
    confidence: str = Field(description="ok, low (fallback, wide band) or none (no number).")
    quality_notes: list[str] = Field(description="What cleaning the telemetry found and did.")
    intervals: list[IntervalForecast]


class PoolInterval(BaseModel):
    start: datetime
    baseline_kw: float
    up_kw: float = Field(description="Sum of guaranteed envelopes: deliverable together.")
    down_kw: float
    up_call_kw: float = Field(
        description="Sum of single-call envelopes: over-states, display only."
    )
    down_call_kw: float


class PoolFlexibility(BaseModel):
    day: date
    assets: int
    assets_without_forecast: int = Field(description="Assets whose confidence was none.")
    intervals: list[PoolInterval]
