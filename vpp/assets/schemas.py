"""Request and response bodies for sites, assets and the pool summary."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from vpp.domain.assets import PARAMS_BY_KIND, AssetKind
from vpp.kit.errors import register_union_tags


class Strict(BaseModel):
    """Request bodies: unknown fields are refused (no mass assignment of ``account_id``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SiteCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    connection_point: str = Field(
        min_length=1, max_length=100, description="Grid connection point (metering point) id."
    )
    voltage_kv: float = Field(gt=0, le=1000, description="Connection voltage, kV.")
    import_limit_kw: float | None = Field(default=None, ge=0, description="Import limit, kW.")
    export_limit_kw: float | None = Field(default=None, ge=0, description="Export limit, kW.")
    latitude: float | None = Field(default=None, ge=-90, le=90, description="Degrees north.")
    longitude: float | None = Field(default=None, ge=-180, le=180, description="Degrees east.")


class SiteUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    connection_point: str | None = Field(default=None, min_length=1, max_length=100)
    voltage_kv: float | None = Field(default=None, gt=0, le=1000)
    import_limit_kw: float | None = Field(default=None, ge=0)
    export_limit_kw: float | None = Field(default=None, ge=0)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class SiteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    account_id: uuid.UUID
    name: str
    connection_point: str
    voltage_kv: float
    import_limit_kw: float | None
    export_limit_kw: float | None
    latitude: float | None
    longitude: float | None
    created_at: datetime
    updated_at: datetime
    retired_at: datetime | None


class AdapterBinding(Strict):
    """Which protocol adapter reaches the asset, and that adapter's settings."""

    name: str = Field(default="simulated", pattern=r"^[a-z][a-z0-9_]{0,63}$")
    settings: dict[str, Any] = Field(default_factory=dict)


def _asset_create_variant(kind: AssetKind) -> type[Strict]:
    return create_model(
        f"{kind.value.title().replace('_', '')}AssetCreate",
        __base__=Strict,
        site_id=(uuid.UUID, ...),
        name=(str, Field(min_length=1, max_length=200)),
        kind=(Literal[kind.value], ...),  # type: ignore[arg-type]
        params=(PARAMS_BY_KIND[kind], ...),
        adapter=(AdapterBinding, Field(default_factory=AdapterBinding)),
    )


register_union_tags(*(kind.value for kind in AssetKind))
_VARIANTS = tuple(_asset_create_variant(kind) for kind in AssetKind)
AssetCreate = Annotated[
    _VARIANTS[0] | _VARIANTS[1] | _VARIANTS[2] | _VARIANTS[3] | _VARIANTS[4],  # type: ignore[valid-type]
    Field(discriminator="kind"),
]


class AssetUpdate(Strict):
    """Partial update; ``params`` is merged into the current parameters, then re-checked."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    site_id: uuid.UUID | None = None
    params: dict[str, Any] | None = None
    adapter: AdapterBinding | None = None


class Flexibility(BaseModel):
    """Rated flexibility from the generalised-battery model (no forecast, no energy limit)."""

    baseline_kw: float = Field(description="Nominal baseline net load, kW (+ = consumption).")
    up_kw: float = Field(description="Most the asset can raise net load, kW (valley filling).")
    down_kw: float = Field(description="Most the asset can lower net load, kW (peak cutting).")


class AssetOut(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    site_id: uuid.UUID
    name: str
    kind: AssetKind
    params: dict[str, Any]
    adapter: AdapterBinding
    flexibility: Flexibility
    created_at: datetime
    updated_at: datetime
    retired_at: datetime | None


class KindSummary(BaseModel):
    kind: AssetKind
    count: int
    up_kw: float
    down_kw: float


class PoolSummary(BaseModel):
    """The active pool: asset count and rated up/down flexibility, in total and by kind."""

    enterprise_count: int
    asset_count: int
    up_kw: float
    down_kw: float
    by_kind: list[KindSummary]
