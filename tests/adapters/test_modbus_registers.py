"""Register decoding and encoding: every data type, word order, scale and sign, by hand."""

from __future__ import annotations

import math
import struct

import pytest
from pydantic import ValidationError

from adapters.errors import AdapterPayloadError
from adapters.modbus import (
    SUNSPEC_STORAGE,
    Access,
    DataType,
    RegisterMap,
    RegisterPoint,
    Table,
    WordOrder,
    decode_registers,
    encode_point,
    encode_registers,
    parse_point,
)
from adapters.modbus.client import parse_exception_code
from adapters.modbus.registers import plan_reads, slice_point


@pytest.mark.parametrize(
    ("registers", "data_type", "word_order", "expected"),
    [
        ([0x0001], DataType.INT16, WordOrder.BIG, 1),
        ([0xFFFF], DataType.INT16, WordOrder.BIG, -1),
        ([0x8000], DataType.INT16, WordOrder.BIG, -32768),
        ([0xFFFF], DataType.UINT16, WordOrder.BIG, 65535),
        ([0x0001, 0x0000], DataType.INT32, WordOrder.BIG, 65536),
        ([0x0000, 0x0001], DataType.INT32, WordOrder.LITTLE, 65536),
        ([0xFFFF, 0xFFFE], DataType.INT32, WordOrder.BIG, -2),
        ([0xFFFE, 0xFFFF], DataType.INT32, WordOrder.LITTLE, -2),
        ([0xFFFF, 0xFFFF], DataType.UINT32, WordOrder.BIG, 4_294_967_295),
        ([0x0012, 0x3456], DataType.UINT32, WordOrder.BIG, 0x00123456),
        ([0x3456, 0x0012], DataType.UINT32, WordOrder.LITTLE, 0x00123456),
        (
            [0x4048, 0xF5C3],
            DataType.FLOAT32,
            WordOrder.BIG,
            struct.unpack(">f", b"\x40\x48\xf5\xc3")[0],
        ),
        (
            [0xF5C3, 0x4048],
            DataType.FLOAT32,
            WordOrder.LITTLE,
            struct.unpack(">f", b"\x40\x48\xf5\xc3")[0],
        ),
        ([0xC2F6, 0x0000], DataType.FLOAT32, WordOrder.BIG, -123.0),
    ],
)
def test_decode_each_type_and_word_order(
    registers: list[int], data_type: DataType, word_order: WordOrder, expected: float
) -> None:
    assert decode_registers(registers, data_type, word_order) == expected


@pytest.mark.parametrize("data_type", list(DataType))
@pytest.mark.parametrize("word_order", list(WordOrder))
def test_encode_is_the_inverse_of_decode(data_type: DataType, word_order: WordOrder) -> None:
    samples: dict[DataType, list[float]] = {
        DataType.INT16: [-32768, -1, 0, 1, 32767],
        DataType.UINT16: [0, 1, 65535],
        DataType.INT32: [-(2**31), -70000, 0, 70000, 2**31 - 1],
        DataType.UINT32: [0, 70000, 2**32 - 1],
        DataType.FLOAT32: [-123.0, 0.0, 3.140000104904175, 1e6],
    }
    for value in samples[data_type]:
        registers = encode_registers(value, data_type, word_order)
        assert len(registers) == data_type.register_count
        assert decode_registers(registers, data_type, word_order) == value


def test_float32_matches_ieee754_big_endian_words() -> None:
    assert encode_registers(3.14, DataType.FLOAT32) == [0x4048, 0xF5C3]
    assert encode_registers(3.14, DataType.FLOAT32, WordOrder.LITTLE) == [0xF5C3, 0x4048]


@pytest.mark.parametrize(
    ("value", "data_type"),
    [
        (32768, DataType.INT16),
        (-32769, DataType.INT16),
        (-1, DataType.UINT16),
        (65536, DataType.UINT16),
        (2**31, DataType.INT32),
        (-1, DataType.UINT32),
        (2**32, DataType.UINT32),
        (math.nan, DataType.FLOAT32),
        (math.inf, DataType.INT32),
    ],
)
def test_encode_refuses_values_that_do_not_fit(value: float, data_type: DataType) -> None:
    with pytest.raises(AdapterPayloadError):
        encode_registers(value, data_type)


def test_decode_refuses_a_wrong_register_count_or_word() -> None:
    with pytest.raises(AdapterPayloadError, match="needs 2 registers"):
        decode_registers([1], DataType.INT32)
    with pytest.raises(AdapterPayloadError, match=r"0\.\.65535"):
        decode_registers([70000], DataType.UINT16)


def test_scale_and_sign_turn_a_generator_convention_into_net_load() -> None:
    # +2500 counts of 10 W exported = 25 kW injected = -25 kW net load.
    export_w_x10 = RegisterPoint(address=0, type=DataType.INT16, scale=0.01, sign=-1)
    assert parse_point([2500], export_w_x10) == pytest.approx(-25.0)
    assert parse_point([0x10000 - 2500], export_w_x10) == pytest.approx(25.0)
    assert encode_point(-25.0, export_w_x10) == [2500]
    assert encode_point(25.0, export_w_x10) == [0x10000 - 2500]


def test_encode_point_rounds_to_the_register_resolution() -> None:
    watts = RegisterPoint(address=0, type=DataType.INT32, scale=0.001, sign=-1)
    assert encode_point(12.3456, watts) == encode_registers(-12346, DataType.INT32)


def test_sunspec_not_implemented_values_read_as_missing_only_when_asked() -> None:
    na = {"sunspec_na": True}
    assert parse_point([0x8000], RegisterPoint(address=0, type=DataType.INT16, **na)) is None
    assert parse_point([0xFFFF], RegisterPoint(address=0, type=DataType.UINT16, **na)) is None
    assert parse_point([0x8000, 0], RegisterPoint(address=0, type=DataType.INT32, **na)) is None
    assert (
        parse_point([0xFFFF, 0xFFFF], RegisterPoint(address=0, type=DataType.UINT32, **na)) is None
    )
    assert parse_point([0x7FC0, 0], RegisterPoint(address=0, type=DataType.FLOAT32, **na)) is None
    assert parse_point([0xFFFF], RegisterPoint(address=0, type=DataType.UINT16)) == 65535


def test_a_non_finite_float_is_a_payload_error() -> None:
    with pytest.raises(AdapterPayloadError):
        parse_point([0x7F80, 0], RegisterPoint(address=0, type=DataType.FLOAT32))  # +inf


def test_shipped_storage_map_on_captured_registers() -> None:
    """Registers 40100..40114 as read from the simulated inverter discharging 25 kW at 65.5 %,
    holding a WSet of 25 000 W with a 900 s revert timer."""
    captured = {
        40100: [2500],  # W = 2500 x 10 W, exporting
        40101: [655],  # SoC = 65.5 %
        40102: [3],  # ChaSt = DISCHARGING
        40110: [0x0000, 0x61A8],  # WSet = 25000 W
        40112: [0x0000, 0x0384],  # WSetRvrtTms = 900 s
    }
    m = SUNSPEC_STORAGE
    assert parse_point(captured[40100], m.power_kw) == pytest.approx(-25.0)
    assert m.soc is not None and parse_point(captured[40101], m.soc) == pytest.approx(0.655)
    assert (
        m.status is not None
        and m.status_names[int(parse_point(captured[40102], m.status) or 0)] == "discharging"
    )
    assert m.setpoint_kw is not None and parse_point(captured[40110], m.setpoint_kw) == -25.0
    assert (
        m.revert_timeout_s is not None and parse_point(captured[40112], m.revert_timeout_s) == 900
    )
    assert encode_point(-25.0, m.setpoint_kw) == captured[40110]


def test_reads_group_adjacent_points_and_skip_gaps() -> None:
    a = RegisterPoint(address=100, type=DataType.INT16)
    b = RegisterPoint(address=101, type=DataType.UINT32)
    c = RegisterPoint(address=110)
    d = RegisterPoint(address=100, table=Table.INPUT)
    reads = plan_reads([c, b, a, d])
    assert reads == [(Table.HOLDING, 100, 3), (Table.HOLDING, 110, 1), (Table.INPUT, 100, 1)]
    done = {(Table.HOLDING, 100): [1, 2, 3], (Table.HOLDING, 110): [4], (Table.INPUT, 100): [5]}
    assert slice_point(b, done) == [2, 3]
    assert slice_point(d, done) == [5]
    assert slice_point(RegisterPoint(address=111), done) is None


def test_reads_stay_under_the_modbus_limit() -> None:
    points = [RegisterPoint(address=i, type=DataType.UINT32) for i in range(0, 300, 2)]
    reads = plan_reads(points)
    assert all(count <= 125 for _, _, count in reads)
    assert sum(count for _, _, count in reads) == 300


def test_register_map_rules() -> None:
    readable = RegisterPoint(address=1)
    with pytest.raises(ValidationError, match="setpoint_kw must be writable"):
        RegisterMap(power_kw=readable, setpoint_kw=readable)
    with pytest.raises(ValidationError, match="power_kw must be readable"):
        RegisterMap(power_kw=RegisterPoint(address=1, access=Access.WRITE))
    with pytest.raises(ValidationError, match="need a setpoint_kw"):
        RegisterMap(
            power_kw=readable, revert_timeout_s=RegisterPoint(address=2, access=Access.WRITE)
        )
    with pytest.raises(ValidationError, match="read-only"):
        RegisterPoint(address=1, table=Table.INPUT, access=Access.READ_WRITE)
    with pytest.raises(ValidationError, match="scale"):
        RegisterPoint(address=1, scale=0)
    with pytest.raises(ValidationError, match="past the last register"):
        RegisterPoint(address=0xFFFF, type=DataType.INT32)


def test_exception_codes_are_named() -> None:
    assert parse_exception_code(2) == "ILLEGAL_DATA_ADDRESS (0x02)"
    assert parse_exception_code(6) == "SERVER_DEVICE_BUSY (0x06)"
    assert parse_exception_code(0x42) == "UNKNOWN_EXCEPTION (0x42)"
