"""Day-ahead dispatch plans: per-asset setpoints and the pool's targets per product."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import Date, Float, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vpp.models.base import Base


class PlannedSetpointRow(Base):
    """One asset's planned net power in one interval of a market day (kW, net-load sign).

    ``setpoint_kw = baseline_kw + deviation_kw``: the forecast baseline (P50) plus the firm
    schedule and the asset's share of the awards, as the disaggregation LP decided.
    """

    __tablename__ = "planned_setpoints"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    asset_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("assets.id"), primary_key=True, index=True
    )
    interval: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    baseline_kw: Mapped[float] = mapped_column(Float)
    deviation_kw: Mapped[float] = mapped_column(Float)
    setpoint_kw: Mapped[float] = mapped_column(Float)


class PoolTarget(Base):
    """What the pool was awarded of a product in an interval and what the plan delivers."""

    __tablename__ = "pool_targets"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    product: Mapped[str] = mapped_column(String(64), primary_key=True)
    interval: Mapped[int] = mapped_column(Integer, primary_key=True)
    awarded_kw: Mapped[float] = mapped_column(Float)
    planned_kw: Mapped[float] = mapped_column(Float)
    shortfall_kw: Mapped[float] = mapped_column(Float)
