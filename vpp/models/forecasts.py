"""The pool's day-ahead outlooks as the bids relied on them, kept for the plan to reuse."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, LargeBinary, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vpp.models.base import Base, UtcDateTime, utcnow


class PoolOutlookRow(Base):
    """One asset's forecast baseline and deviation bounds for a market day at a risk setting.

    Written when the day's bids are drafted (`vpp.bidding.service.create_drafts`) and read
    by the day-ahead plan (`vpp.dispatch.planning.plan_day`), so the plan splits the awards
    on exactly the baselines and bounds the bids were built on, without forecasting the
    pool a second time. Each array column holds 96 little-endian float64 values (kW), one
    per interval of the Asia/Shanghai market day.
    """

    __tablename__ = "pool_outlooks"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    risk_quantile: Mapped[float] = mapped_column(Float, primary_key=True)
    asset_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("assets.id"), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"))
    baseline_kw: Mapped[bytes] = mapped_column(LargeBinary)
    """Median forecast net load per interval (kW)."""
    lo_kw: Mapped[bytes] = mapped_column(LargeBinary)
    """Lowest deviation from the baseline per interval (kW)."""
    hi_kw: Mapped[bytes] = mapped_column(LargeBinary)
    """Highest deviation from the baseline per interval (kW)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
