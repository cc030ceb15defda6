"""Green power and carbon: metered energy carriers, green-power contracts and certificates."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vpp.models.base import Base, UtcDateTime, new_id, utcnow


class MeterReading(Base):
    """A site's metered consumption of one carrier over the period starting at ``ts``.

    ``quantity`` is in the carrier's canonical unit (``unit``: kWh, m3, GJ, t or kg; see
    `vpp.green.core.carriers`), converted at the API from what the meter reported
    (``reported_quantity`` in ``reported_unit``). The primary key (site, commodity, ts)
    makes a repeated reading land once. Electricity readings are load behind the site's
    connection point that is not enrolled as an asset; hydrogen readings are output.
    """

    __tablename__ = "meter_readings"
    __table_args__ = (Index("ix_meter_readings_account_id_ts", "account_id", "ts"),)

    site_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("sites.id"), primary_key=True)
    commodity: Mapped[str] = mapped_column(String(16), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"))
    quantity: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(8))
    reported_quantity: Mapped[float] = mapped_column(Float)
    reported_unit: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class GreenContract(Base):
    """Green power (绿电) bought by an enterprise: ``energy_kwh`` delivered evenly over the
    15-minute intervals of [delivery_start, delivery_end), with its certificates."""

    __tablename__ = "green_contracts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    reference: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(16))
    delivery_start: Mapped[datetime] = mapped_column(UtcDateTime)
    delivery_end: Mapped[datetime] = mapped_column(UtcDateTime)
    energy_kwh: Mapped[float] = mapped_column(Float)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("accounts.id"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class GreenCertificate(Base):
    """One GEC (1 MWh) held by an enterprise; ``claimed_month`` is set when it is used."""

    __tablename__ = "green_certificates"

    gec_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    contract_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("green_contracts.id"), nullable=True, index=True
    )
    production_month: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    energy_kwh: Mapped[float] = mapped_column(Float, default=1000.0)
    claimed_month: Mapped[date | None] = mapped_column(Date, nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
