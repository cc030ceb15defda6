"""Modbus TCP adapter: register-mapped devices (a SunSpec-style storage inverter map ships)."""

from adapters.modbus.adapter import ModbusAdapter, ModbusBindingSettings, ModbusCounters
from adapters.modbus.client import ModbusConnection, ModbusExceptionResponse
from adapters.modbus.maps import SHIPPED_MAPS, SUNSPEC_STORAGE
from adapters.modbus.registers import (
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

__all__ = [
    "SHIPPED_MAPS",
    "SUNSPEC_STORAGE",
    "Access",
    "DataType",
    "ModbusAdapter",
    "ModbusBindingSettings",
    "ModbusConnection",
    "ModbusCounters",
    "ModbusExceptionResponse",
    "RegisterMap",
    "RegisterPoint",
    "Table",
    "WordOrder",
    "decode_registers",
    "encode_point",
    "encode_registers",
    "parse_point",
]
