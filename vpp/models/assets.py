"""Enterprise sites (facilities with a grid connection point) and their flexible assets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vpp.models.base import Base, JsonDocument, UtcDateTime, new_id, utcnow


class Site(Base):
    """A facility of one enterprise and the point where it connects to the grid."""

    __tablename__ = "sites"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    connection_point: Mapped[str] = mapped_column(String(100))
    voltage_kv: Mapped[float] = mapped_column(Float)
    import_limit_kw: Mapped[float | None] = mapped_column(Float, nullable=True)
    export_limit_kw: Mapped[float | None] = mapped_column(Float, nullable=True)
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Asset(Base):
    """A flexible load, storage or generator, with its physical parameters.

    ``up_kw``/``down_kw``/``baseline_kw`` are derived from ``params`` through the
    generalised-battery model when the asset is written, so that pool summaries are
    one aggregate query instead of re-parsing every asset.
    """

    __tablename__ = "assets"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    site_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    adapter: Mapped[str] = mapped_column(String(64), default="simulated")
    adapter_settings: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    baseline_kw: Mapped[float] = mapped_column(Float)
    up_kw: Mapped[float] = mapped_column(Float)
    down_kw: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
