"""One Modbus TCP connection: serialised requests, explicit timeouts, typed errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from adapters.errors import (
    AdapterConnectionError,
    AdapterError,
    AdapterRejectedError,
    AdapterTimeoutError,
)
from adapters.modbus.registers import Table

# Modbus application protocol v1.1b3, section 7: exception codes and their names.
EXCEPTION_NAMES: dict[int, str] = {
    0x01: "ILLEGAL_FUNCTION",
    0x02: "ILLEGAL_DATA_ADDRESS",
    0x03: "ILLEGAL_DATA_VALUE",
    0x04: "SERVER_DEVICE_FAILURE",
    0x05: "ACKNOWLEDGE",
    0x06: "SERVER_DEVICE_BUSY",
    0x08: "MEMORY_PARITY_ERROR",
    0x0A: "GATEWAY_PATH_UNAVAILABLE",
    0x0B: "GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND",
}
# The device (or its gateway) asks to be asked again later: transient, not a refusal.
TRANSIENT_EXCEPTION_CODES = frozenset({0x05, 0x06, 0x0A, 0x0B})


def parse_exception_code(code: int) -> str:
    """The Modbus name of an exception code, e.g. ``ILLEGAL_DATA_ADDRESS (0x02)``."""
    return f"{EXCEPTION_NAMES.get(code, 'UNKNOWN_EXCEPTION')} (0x{code:02X})"


class ModbusExceptionResponse(AdapterRejectedError):
    """The device answered a request with a Modbus exception code."""

    def __init__(self, code: int, function_code: int, address: int) -> None:
        self.code = code
        self.function_code = function_code
        self.address = address
        super().__init__(
            f"{parse_exception_code(code)} for function 0x{function_code:02X} at register {address}"
        )

    @property
    def name(self) -> str:
        return EXCEPTION_NAMES.get(self.code, "UNKNOWN_EXCEPTION")

    @property
    def transient(self) -> bool:
        """Busy / acknowledge / gateway codes: worth asking again later."""
        return self.code in TRANSIENT_EXCEPTION_CODES


class ModbusClient(Protocol):
    """The slice of pymodbus's ``AsyncModbusTcpClient`` the adapter uses (injectable)."""

    @property
    def connected(self) -> bool: ...

    async def connect(self) -> bool: ...

    def close(self) -> None: ...

    def read_holding_registers(
        self, address: int, *, count: int = 1, device_id: int = 1, no_response_expected: bool = ...
    ) -> Awaitable[ModbusPDU]: ...

    def read_input_registers(
        self, address: int, *, count: int = 1, device_id: int = 1, no_response_expected: bool = ...
    ) -> Awaitable[ModbusPDU]: ...

    def write_registers(
        self,
        address: int,
        values: Sequence[int],
        *,
        device_id: int = 1,
        no_response_expected: bool = ...,
    ) -> Awaitable[ModbusPDU]: ...


ClientFactory = Callable[[str, int, float], ModbusClient]
"""Builds the client for ``(host, port, timeout_s)``."""


def tcp_client(host: str, port: int, timeout_s: float) -> ModbusClient:
    """pymodbus's TCP client, with its own retries and reconnect loop off: the adapter
    reports a failure at once (the delivery engine owns retries) and reconnects on the
    next request."""
    return AsyncModbusTcpClient(host, port=port, timeout=timeout_s, retries=0, reconnect_delay=0)


class ModbusConnection:
    """Requests to one Modbus TCP endpoint (a device or a gateway serving several unit ids).

    Requests are serialised; each one, including a reconnect if needed, gets ``timeout_s``
    seconds. A timeout or broken connection closes the socket so the next request starts
    clean. Raises ``AdapterConnectionError``, ``AdapterTimeoutError`` or
    ``ModbusExceptionResponse`` (an ``AdapterRejectedError``).
    """

    def __init__(self, client: ModbusClient) -> None:
        self.client = client
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self.client.connected

    def close(self) -> None:
        self.client.close()

    async def read(
        self, table: Table, address: int, count: int, *, unit_id: int, timeout_s: float
    ) -> list[int]:
        """``count`` registers from ``address`` of ``table``."""
        function = (
            self.client.read_holding_registers
            if table is Table.HOLDING
            else self.client.read_input_registers
        )
        response = await self._execute(
            lambda: function(address, count=count, device_id=unit_id), address, timeout_s
        )
        registers = list(getattr(response, "registers", []))
        if len(registers) != count:
            raise AdapterError(f"asked for {count} registers at {address}, got {len(registers)}")
        return registers

    async def write(
        self, address: int, registers: Sequence[int], *, unit_id: int, timeout_s: float
    ) -> None:
        """Write ``registers`` from ``address`` (function 0x10, Write Multiple Registers)."""
        await self._execute(
            lambda: self.client.write_registers(address, list(registers), device_id=unit_id),
            address,
            timeout_s,
        )

    async def _execute(
        self, request: Callable[[], Awaitable[ModbusPDU]], address: int, timeout_s: float
    ) -> ModbusPDU:
        async with self._lock:
            try:
                async with asyncio.timeout(timeout_s):
                    if not self.client.connected and not await self.client.connect():
                        raise AdapterConnectionError("cannot connect")
                    response = await request()
            except TimeoutError as error:
                self.client.close()
                raise AdapterTimeoutError(f"no answer within {timeout_s} s") from error
            except ModbusIOException as error:
                # pymodbus's own wait for the answer ran out.
                self.client.close()
                raise AdapterTimeoutError(str(error)) from error
            except (ConnectionException, OSError) as error:
                self.client.close()
                raise AdapterConnectionError(str(error)) from error
            except ModbusException as error:
                raise AdapterError(str(error)) from error
        if response.isError():
            raise ModbusExceptionResponse(
                int(getattr(response, "exception_code", 0)),
                response.function_code & 0x7F,
                address,
            )
        return response
