"""Modbus register maps and the pure functions that turn registers into domain values and back.

A register map names, for each role the adapter knows (``power_kw``, ``soc``, ``setpoint_kw``,
...), where the value lives and how to read it: address, data type, word order, scale and
sign. ``parse_point`` / ``encode_point`` apply those rules in one place, so a vendor's units
and sign conventions are translated to the service's (kW, net-load sign, SoC as a fraction)
at the edge and nowhere else.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from enum import StrEnum
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from adapters.errors import AdapterPayloadError

MAX_REGISTERS_PER_READ = 125
"""Modbus limit on registers in one read request (function codes 3 and 4)."""


class DataType(StrEnum):
    """How the registers of one point encode its raw value."""

    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"

    @property
    def register_count(self) -> int:
        return 1 if self in (DataType.INT16, DataType.UINT16) else 2


class WordOrder(StrEnum):
    """Order of the 16-bit words of a 32-bit value (bytes within a word are always big-endian).

    ``big``: high word first, the Modbus and SunSpec convention. ``little``: low word first
    (some vendors' "word-swapped" layout).
    """

    BIG = "big"
    LITTLE = "little"


class Access(StrEnum):
    READ = "r"
    WRITE = "w"
    READ_WRITE = "rw"

    @property
    def readable(self) -> bool:
        return self in (Access.READ, Access.READ_WRITE)

    @property
    def writable(self) -> bool:
        return self in (Access.WRITE, Access.READ_WRITE)


class Table(StrEnum):
    """Which Modbus table a point lives in: holding registers (read/write) or input registers."""

    HOLDING = "holding"
    INPUT = "input"


_STRUCT_FORMAT = {
    DataType.INT16: ">h",
    DataType.UINT16: ">H",
    DataType.INT32: ">i",
    DataType.UINT32: ">I",
    DataType.FLOAT32: ">f",
}

# SunSpec marks an unimplemented or unavailable point with these raw values.
_SUNSPEC_NOT_IMPLEMENTED: dict[DataType, int] = {
    DataType.INT16: -0x8000,
    DataType.UINT16: 0xFFFF,
    DataType.INT32: -0x8000_0000,
    DataType.UINT32: 0xFFFF_FFFF,
}


class RegisterPoint(BaseModel):
    """Where one value lives on the device and how to read it.

    ``value = raw × scale × sign``, in the unit of the role the point plays in its map
    (kW for power, a 0-1 fraction for SoC, kWh for energy, seconds for the revert timer).
    ``scale`` therefore carries both the vendor's scale factor and the unit change: a
    register in W with a SunSpec scale factor of 1 (tens of W) has ``scale = 0.01`` (kW).
    ``sign = -1`` converts a vendor's generator convention (+ = export) to the net-load
    convention (+ = consumption). ``address`` is the zero-based address in the request
    (register 40101 of a "1-based" manual is address 40100).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: int = Field(ge=0, le=0xFFFF, description="Zero-based register address.")
    type: DataType = DataType.UINT16
    word_order: WordOrder = WordOrder.BIG
    scale: float = Field(default=1.0, description="Multiplier from raw value to the role's unit.")
    sign: Literal[1, -1] = 1
    access: Access = Access.READ
    table: Table = Table.HOLDING
    sunspec_na: bool = Field(
        default=False,
        description="Treat SunSpec's 'not implemented' raw value (0x8000, 0xFFFF, NaN, ...) "
        "as missing.",
    )

    @field_validator("scale")
    @classmethod
    def _scale_is_finite_and_nonzero(cls, scale: float) -> float:
        if scale == 0 or not math.isfinite(scale):
            raise ValueError("scale must be finite and non-zero")
        return scale

    @model_validator(mode="after")
    def _fits_the_table(self) -> Self:
        if self.address + self.count - 1 > 0xFFFF:
            raise ValueError("the point runs past the last register address (65535)")
        if self.table is Table.INPUT and self.access.writable:
            raise ValueError("input registers are read-only; use table 'holding'")
        return self

    @property
    def count(self) -> int:
        """Registers the point occupies."""
        return self.type.register_count


class RegisterMap(BaseModel):
    """The points of one device model, by the role each plays for the adapter.

    Read on every poll: ``power_kw`` (required), ``soc``, ``energy_kwh``, ``status``.
    Written on every setpoint, in this order: ``revert_timeout_s`` (seconds until the
    device falls back to its own default: the command's expiry reaches the device),
    ``setpoint_kw``, then ``setpoint_enable`` (written 1). ``setpoint_kw`` is read back
    after the write when it is readable.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    power_kw: RegisterPoint
    soc: RegisterPoint | None = None
    energy_kwh: RegisterPoint | None = None
    status: RegisterPoint | None = None
    status_names: dict[int, str] = Field(
        default_factory=dict, description="Device status codes to status text."
    )
    setpoint_kw: RegisterPoint | None = None
    revert_timeout_s: RegisterPoint | None = None
    setpoint_enable: RegisterPoint | None = None

    @model_validator(mode="after")
    def _access_matches_roles(self) -> Self:
        for role in ("power_kw", "soc", "energy_kwh", "status"):
            point = getattr(self, role)
            if point is not None and not point.access.readable:
                raise ValueError(f"{role} must be readable (access 'r' or 'rw')")
        for role in ("setpoint_kw", "revert_timeout_s", "setpoint_enable"):
            point = getattr(self, role)
            if point is not None and not point.access.writable:
                raise ValueError(f"{role} must be writable (access 'w' or 'rw')")
        if self.setpoint_kw is None and (self.revert_timeout_s or self.setpoint_enable):
            raise ValueError("revert_timeout_s and setpoint_enable need a setpoint_kw point")
        return self

    def telemetry_points(self) -> dict[str, RegisterPoint]:
        """The points read on every poll, by role."""
        roles = {
            "power_kw": self.power_kw,
            "soc": self.soc,
            "energy_kwh": self.energy_kwh,
            "status": self.status,
        }
        return {role: point for role, point in roles.items() if point is not None}


def _order_words(words: Sequence[int], word_order: WordOrder) -> list[int]:
    return list(words) if word_order is WordOrder.BIG else list(reversed(words))


def decode_registers(
    registers: Sequence[int], data_type: DataType, word_order: WordOrder = WordOrder.BIG
) -> int | float:
    """The raw value that ``registers`` (16-bit words, as read) hold.

    Raises ``AdapterPayloadError`` if the number of registers does not fit the type or a
    word is outside 0..65535.
    """
    if len(registers) != data_type.register_count:
        raise AdapterPayloadError(
            f"{data_type} needs {data_type.register_count} registers, got {len(registers)}"
        )
    if any(not 0 <= word <= 0xFFFF for word in registers):
        raise AdapterPayloadError(f"register values must be 0..65535, got {list(registers)}")
    words = _order_words(registers, word_order)
    raw_bytes = b"".join(word.to_bytes(2, "big") for word in words)
    value: int | float = struct.unpack(_STRUCT_FORMAT[data_type], raw_bytes)[0]
    return value


def encode_registers(
    value: float, data_type: DataType, word_order: WordOrder = WordOrder.BIG
) -> list[int]:
    """The registers that hold raw ``value``; integer types round to the nearest integer.

    Raises ``AdapterPayloadError`` if the value is not finite or does not fit the type.
    """
    if not math.isfinite(value):
        raise AdapterPayloadError(f"cannot encode {value} as {data_type}")
    raw: int | float = value if data_type is DataType.FLOAT32 else round(value)
    try:
        raw_bytes = struct.pack(_STRUCT_FORMAT[data_type], raw)
    except (struct.error, OverflowError) as error:
        raise AdapterPayloadError(f"{value} does not fit in {data_type}") from error
    words = [int.from_bytes(raw_bytes[i : i + 2], "big") for i in range(0, len(raw_bytes), 2)]
    return _order_words(words, word_order)


def parse_point(registers: Sequence[int], point: RegisterPoint) -> float | None:
    """The point's value in its role's unit (raw × scale × sign), or None if the device
    marks it not implemented (SunSpec sentinels, only when ``point.sunspec_na``).

    Raises ``AdapterPayloadError`` on a malformed read or a non-finite float.
    """
    raw = decode_registers(registers, point.type, point.word_order)
    if isinstance(raw, float):
        if math.isnan(raw) and point.sunspec_na:
            return None
        if not math.isfinite(raw):
            raise AdapterPayloadError(f"register {point.address} holds {raw}")
    elif point.sunspec_na and raw == _SUNSPEC_NOT_IMPLEMENTED[point.type]:
        return None
    return raw * point.scale * point.sign


def encode_point(value: float, point: RegisterPoint) -> list[int]:
    """The registers that make the device hold ``value`` (in the role's unit) at ``point``.

    The inverse of ``parse_point``: raw = value / (scale × sign), rounded for integer types.
    Raises ``AdapterPayloadError`` if the value does not fit the register.
    """
    return encode_registers(value / (point.scale * point.sign), point.type, point.word_order)


def plan_reads(points: Sequence[RegisterPoint]) -> list[tuple[Table, int, int]]:
    """Group points into as few read requests as possible: ``(table, address, count)``.

    Only adjacent or overlapping points share a request; gaps are never read, because many
    devices answer ILLEGAL DATA ADDRESS for registers they do not implement.
    """
    ordered = sorted(points, key=lambda p: (p.table, p.address))
    reads: list[tuple[Table, int, int]] = []
    for point in ordered:
        end = point.address + point.count
        if reads:
            table, start, count = reads[-1]
            if (
                table is point.table
                and point.address <= start + count
                and max(end, start + count) - start <= MAX_REGISTERS_PER_READ
            ):
                reads[-1] = (table, start, max(end, start + count) - start)
                continue
        reads.append((point.table, point.address, point.count))
    return reads


def slice_point(
    point: RegisterPoint, reads: dict[tuple[Table, int], list[int]]
) -> list[int] | None:
    """The registers of ``point`` out of completed reads keyed by ``(table, start)``."""
    for (table, start), registers in reads.items():
        offset = point.address - start
        if table is point.table and offset >= 0 and offset + point.count <= len(registers):
            return registers[offset : offset + point.count]
    return None
