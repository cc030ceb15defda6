"""Telemetry request and response bodies."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

Quality = Literal["good", "estimated", "suspect"]


class Reading(BaseModel):
    """One measurement of one asset; power follows the net-load sign (+ = consumption)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    asset_id: uuid.UUID
    ts: AwareDatetime = Field(description="Measurement time, with a UTC offset.")
    power_kw: float = Field(description="Net power, kW: + drawn from the grid, - injected.")
    soc: float | None = Field(default=None, ge=0, le=1, description="State of charge, 0-1.")
    energy_kwh: float | None = Field(default=None, description="Stored energy or meter, kWh.")
    status: str | None = Field(default=None, max_length=32, description="Device status text.")
    quality: Quality = Field(default="good", description="good, estimated or suspect.")


class TelemetryBatch(BaseModel):
    """Readings for any number of the caller's assets, stored all or nothing."""

    model_config = ConfigDict(extra="forbid")

    readings: list[Reading] = Field(min_length=1)


BATCH_ADAPTER: TypeAdapter[TelemetryBatch] = TypeAdapter(TelemetryBatch)


class IngestResult(BaseModel):
    accepted: int = Field(description="Readings newly stored.")
    duplicates: int = Field(description="Readings already stored (same asset and ts), skipped.")


class ReadingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ts: AwareDatetime
    power_kw: float
    soc: float | None
    energy_kwh: float | None
    status: str | None
    quality: Quality


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its ``$defs`` inlined, for ``openapi_extra``."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
