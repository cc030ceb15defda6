"""Bodies of the grid interface: instructions and answers, signing keys, schedules."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from vpp.domain.market import InstructionStatus
from vpp.domain.units import Direction

INSTRUCTION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
KEY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class InstructionIn(BaseModel):
    """An intraday instruction of the grid company: hold ``target_kw[i]`` of ``product``
    in interval ``intervals[i]`` of market ``day`` (kW, >= 0, in the product's direction).

    The body must be signed (Ed25519, ``Signature`` and ``Signature-Key-Id`` headers);
    ``instruction_id`` makes it idempotent.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    instruction_id: str = Field(
        pattern=INSTRUCTION_ID_PATTERN,
        description="The grid company's id of the instruction; a repeat gets the first answer.",
    )
    product: str = Field(max_length=64, description="Market product, e.g. peak_shaving.peak_cut.")
    day: date = Field(description="Market day (Asia/Shanghai).")
    intervals: list[int] = Field(
        max_length=96, description="Interval indices in the product's day (0 = 00:00 local)."
    )
    target_kw: list[float] = Field(
        max_length=96,
        description="Target per listed interval, kW, >= 0, in the product's direction.",
    )
    issued_at: AwareDatetime = Field(description="When the grid company issued it (with offset).")


class InstructionOut(BaseModel):
    """The answer to an instruction, given at once and repeated for a replayed id."""

    model_config = ConfigDict(from_attributes=True)

    instruction_id: str
    status: InstructionStatus
    feasible_kw: list[float] = Field(
        description="What the re-planned pool delivers per listed interval (kW, >= 0)."
    )
    reason: str
    product: str
    day: date
    direction: Direction
    intervals: list[int]
    target_kw: list[float]
    source: str
    issued_at: datetime
    received_at: datetime
    schedule_version: int | None = Field(
        description="The schedule version that carries the instruction (None if rejected)."
    )


class SigningKeyCreate(BaseModel):
    """Register a grid account's Ed25519 public key (PEM or base64 of the raw 32 bytes)."""

    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID
    public_key: str = Field(max_length=1000)
    key_id: str | None = Field(
        default=None,
        pattern=KEY_ID_PATTERN,
        description="Sent as Signature-Key-Id; default: a fingerprint of the key.",
    )


class SigningKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    key_id: str
    account_id: uuid.UUID
    public_key: str = Field(description="Raw Ed25519 public key, base64.")
    created_at: datetime
    revoked_at: datetime | None


class ProductSchedule(BaseModel):
    """One product's quantities per interval of the day (kW, >= 0, in its direction)."""

    product: str
    awarded_kw: list[float] = Field(description="Cleared day-ahead, per interval.")
    target_kw: list[float] = Field(description="Awarded, or as the latest instruction set it.")
    deliverable_kw: list[float] = Field(description="What the plan delivers of the target.")


class ScheduleOut(BaseModel):
    """One version of the pool's schedule of a market day: 96 values per list, index k is
    interval k (starting 00:00 + 15·k Asia/Shanghai). Net-load sign: + drawn from the grid."""

    day: date
    version: int
    updated_at: datetime
    cause: str
    interval_minutes: int = 15
    baseline_kw: list[float] = Field(description="The pool's forecast baseline (sum of assets).")
    planned_kw: list[float] = Field(description="The pool's planned net load (sum of setpoints).")
    products: list[ProductSchedule]


class GridSchedules(BaseModel):
    """The day-ahead schedule (last version published before the day began) and the current
    one (the latest version, intraday changes included); null until published."""

    day: date
    day_ahead: ScheduleOut | None
    current: ScheduleOut | None
