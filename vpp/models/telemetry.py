"""Telemetry readings: one row per asset and timestamp."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Float, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vpp.models.base import Base, UtcDateTime


class TelemetryReading(Base):
    """A measurement pushed by an enterprise or read by an adapter.

    No foreign key to ``assets``: ownership is checked once per batch before the bulk
    write, assets are retired rather than deleted, and a per-row key check would halve
    the COPY rate. The primary key (asset, ts) makes a repeated reading land once.
    """

    __tablename__ = "telemetry"
    # No index besides the key: time-window reads probe it per asset (migration 0011).

    asset_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    power_kw: Mapped[float] = mapped_column(Float)
    soc: Mapped[float | None] = mapped_column(Float, nullable=True)
    energy_kwh: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    quality: Mapped[str] = mapped_column(String(16), default="good", server_default="good")
