"""The Modbus TCP asset adapter: polls telemetry from register maps, writes setpoints."""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

from pydantic import Field, ValidationError, field_validator

from adapters.errors import (
    AdapterConnectionError,
    AdapterError,
    AdapterPayloadError,
    AdapterTimeoutError,
)
from adapters.modbus.client import (
    ClientFactory,
    ModbusConnection,
    ModbusExceptionResponse,
    tcp_client,
)
from adapters.modbus.maps import SHIPPED_MAPS
from adapters.modbus.registers import (
    RegisterMap,
    RegisterPoint,
    Table,
    encode_point,
    parse_point,
    plan_reads,
    slice_point,
)
from vpp.domain.commands import DeliveryOutcome, DeliveryStatus, SetpointCommand, TelemetryPoint
from vpp.kit.eventloop import cancel_and_wait
from vpp.ports import (
    AdapterHealth,
    AdapterSink,
    AssetAdapter,
    BindingSettings,
    Clock,
    command_binding,
    counts_of,
)

logger = logging.getLogger(__name__)


class ModbusBindingSettings(BindingSettings):
    """How one asset is reached over Modbus TCP."""

    host: str = Field(min_length=1, description="Device or gateway host name or address.")
    port: int = Field(default=502, ge=1, le=65535)
    unit_id: int = Field(
        default=1, ge=0, le=255, description="Modbus unit identifier (slave / device id)."
    )
    poll_interval_s: float = Field(default=5.0, gt=0, description="Seconds between polls.")
    timeout_s: float = Field(default=2.0, gt=0, description="Seconds allowed per request.")
    register_map: str | RegisterMap = Field(
        default="sunspec-storage",
        description=f"A shipped map's name ({', '.join(sorted(SHIPPED_MAPS))}) or a map.",
    )

    @field_validator("register_map")
    @classmethod
    def _known_map(cls, value: str | RegisterMap) -> str | RegisterMap:
        if isinstance(value, str) and value not in SHIPPED_MAPS:
            raise ValueError(f"unknown register map {value!r}; shipped: {sorted(SHIPPED_MAPS)}")
        return value

    def resolved_map(self) -> RegisterMap:
        if isinstance(self.register_map, str):
            return SHIPPED_MAPS[self.register_map]
        return self.register_map


@dataclass
class ModbusCounters:
    """What went wrong, and how often (read by metrics and tests)."""

    polls: int = 0
    poll_failures: int = 0
    exception_responses: int = 0
    decode_errors: int = 0
    connection_errors: int = 0
    timeouts: int = 0
    sink_errors: int = 0
    writes: int = 0
    exception_codes: Counter[str] = field(default_factory=Counter)


class ModbusAdapter(AssetAdapter):
    """Modbus TCP devices described by register maps (``ModbusBindingSettings``).

    Each bound asset is polled every ``poll_interval_s`` (on the adapter's ``Clock``) and
    its readings go to the sink. ``deliver`` writes the revert timer, the setpoint and the
    enable flag, reads the setpoint back, and answers ACKED (Modbus writes are acknowledged
    by the protocol), REJECTED (a Modbus exception code, or a read-back that differs),
    RETRY (connection lost, timeout, device busy) or FAILED (no usable binding).
    Adapter-wide ``config``: none needed. ``client_factory`` builds the client per endpoint
    (tests and gateways may inject their own).
    """

    name: ClassVar[str] = "modbus"
    settings_model: ClassVar[type[BindingSettings]] = ModbusBindingSettings

    def __init__(
        self,
        clock: Clock,
        config: Mapping[str, Any] | None = None,
        *,
        client_factory: ClientFactory | None = None,
    ) -> None:
        super().__init__(clock, config)
        self._client_factory = client_factory or tcp_client
        self._bindings: dict[uuid.UUID, ModbusBindingSettings] = {}
        self._connections: dict[tuple[str, int], ModbusConnection] = {}
        self._pollers: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._started = False
        self._failing: set[uuid.UUID] = set()
        self.counters = ModbusCounters()

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, sink: AdapterSink) -> None:
        await super().start(sink)
        self._started = True
        for asset_id in self._bindings:
            self._start_poller(asset_id)

    async def stop(self) -> None:
        self._started = False
        pollers = list(self._pollers.values())
        self._pollers.clear()
        await cancel_and_wait(*pollers)
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def bind(self, asset_id: uuid.UUID, settings: Mapping[str, Any]) -> None:
        """Register (or re-register) a device; raises pydantic.ValidationError if invalid."""
        self._bindings[asset_id] = ModbusBindingSettings.model_validate(dict(settings))
        if self._started:
            self._start_poller(asset_id)

    def event_counts(self) -> Mapping[str, int]:
        return counts_of(self.counters)

    def health(self) -> AdapterHealth:
        connected = sum(1 for c in self._connections.values() if c.connected)
        dead = [a for a, t in self._pollers.items() if t.done()]
        return AdapterHealth(
            healthy=not dead,
            detail=f"{len(self._bindings)} bound, {self.counters.poll_failures} failed polls"
            + (f", {len(dead)} pollers stopped" if dead else ""),
            connected_devices=connected,
        )

    # -- telemetry -------------------------------------------------------------------

    def _start_poller(self, asset_id: uuid.UUID) -> None:
        old = self._pollers.pop(asset_id, None)
        if old is not None:
            old.cancel()
        self._pollers[asset_id] = asyncio.get_running_loop().create_task(
            self._poll_forever(asset_id), name=f"modbus-poll-{asset_id}"
        )

    async def _poll_forever(self, asset_id: uuid.UUID) -> None:
        due = self.clock.now()
        me = asyncio.current_task()
        # A replaced or stopped poller ends here even if its cancellation was lost inside
        # pymodbus (`cancel_and_wait`): otherwise a re-bound asset would be polled twice.
        while self._pollers.get(asset_id) is me:
            try:
                point = await self.poll(asset_id)
            except Exception:  # a bug must not stop the polling of this asset
                self.counters.poll_failures += 1
                logger.exception("modbus: poll of asset %s crashed", asset_id)
                point = None
            if point is not None:
                try:
                    await self.sink.telemetry([point])
                except Exception:
                    self.counters.sink_errors += 1
                    logger.exception("modbus: sink refused a reading of asset %s", asset_id)
            settings = self._bindings.get(asset_id)
            if settings is None:
                return
            due += timedelta(seconds=settings.poll_interval_s)
            now = self.clock.now()
            due = max(due, now)  # fell behind (slow device): skip the missed polls
            await self.clock.sleep((due - now).total_seconds())

    async def poll(self, asset_id: uuid.UUID) -> TelemetryPoint | None:
        """Read one asset's telemetry now; None (logged and counted) if the read failed."""
        settings = self._bindings.get(asset_id)
        if settings is None:
            return None
        self.counters.polls += 1
        try:
            reading = await self._read_telemetry(asset_id, settings)
        except AdapterError as error:
            self.counters.poll_failures += 1
            self._count(error)
            # Every failure is counted; a device that stays down is logged once, not per poll.
            first = asset_id not in self._failing
            self._failing.add(asset_id)
            logger.log(
                logging.WARNING if first else logging.DEBUG,
                "modbus: poll of asset %s at %s:%s failed: %s",
                asset_id,
                settings.host,
                settings.port,
                error,
            )
            return None
        if asset_id in self._failing:
            self._failing.discard(asset_id)
            logger.info("modbus: asset %s answers again", asset_id)
        return reading

    async def _read_telemetry(
        self, asset_id: uuid.UUID, settings: ModbusBindingSettings
    ) -> TelemetryPoint:
        register_map = settings.resolved_map()
        points = register_map.telemetry_points()
        connection = self._connection(settings)
        reads: dict[tuple[Table, int], list[int]] = {}
        for table, address, count in plan_reads(list(points.values())):
            reads[(table, address)] = await connection.read(
                table, address, count, unit_id=settings.unit_id, timeout_s=settings.timeout_s
            )
        values = {
            role: parse_point(_registers(point, reads), point) for role, point in points.items()
        }
        power_kw = values.pop("power_kw")
        if power_kw is None:
            raise AdapterPayloadError("the device reports its power as not implemented")
        quality = "good"
        soc = values.get("soc")
        if soc is not None and not 0.0 <= soc <= 1.0:
            self.counters.decode_errors += 1
            logger.warning("modbus: asset %s reports SoC %s outside 0..1", asset_id, soc)
            soc, quality = None, "suspect"
        status = values.get("status")
        return TelemetryPoint(
            asset_id=asset_id,
            ts=self.clock.now(),
            power_kw=power_kw,
            soc=soc,
            energy_kwh=values.get("energy_kwh"),
            status=None if status is None else _status_name(register_map, status),
            quality=quality,
        )

    # -- setpoints -------------------------------------------------------------------

    async def deliver(self, commands: Sequence[SetpointCommand]) -> Sequence[DeliveryOutcome]:
        return await asyncio.gather(*(self._deliver_one(command) for command in commands))

    async def _deliver_one(self, command: SetpointCommand) -> DeliveryOutcome:
        def outcome(status: DeliveryStatus, detail: str) -> DeliveryOutcome:
            return DeliveryOutcome(command.id, status, detail)

        try:
            settings = command_binding(ModbusBindingSettings, command, self._bindings)
        except ValidationError as error:
            return outcome(DeliveryStatus.FAILED, f"invalid binding settings: {error}")
        if settings is None:
            return outcome(DeliveryStatus.FAILED, "asset not bound to the modbus adapter")
        register_map = settings.resolved_map()
        if register_map.setpoint_kw is None:
            return outcome(DeliveryStatus.FAILED, "the register map has no setpoint register")
        remaining_s = (command.expires_at - self.clock.now()).total_seconds()
        if remaining_s <= 0:
            return outcome(DeliveryStatus.FAILED, "the command expired before delivery")
        setpoint = register_map.setpoint_kw
        try:
            written = encode_point(command.power_kw, setpoint)
            writes = _setpoint_writes(register_map, written, math.ceil(remaining_s))
        except AdapterPayloadError as error:
            return outcome(DeliveryStatus.REJECTED, f"cannot encode the setpoint: {error}")

        connection = self._connection(settings)
        try:
            for point, registers in writes:
                await connection.write(
                    point.address, registers, unit_id=settings.unit_id, timeout_s=settings.timeout_s
                )
                self.counters.writes += 1
            if setpoint.access.readable:
                read_back = await connection.read(
                    setpoint.table,
                    setpoint.address,
                    setpoint.count,
                    unit_id=settings.unit_id,
                    timeout_s=settings.timeout_s,
                )
                if read_back != written:
                    held = parse_point(read_back, setpoint)
                    return outcome(
                        DeliveryStatus.REJECTED,
                        f"the device holds {held} kW after {command.power_kw} kW was written",
                    )
        except ModbusExceptionResponse as error:
            self._count(error)
            logger.warning("modbus: setpoint %s refused: %s", command.id, error)
            status = DeliveryStatus.RETRY if error.transient else DeliveryStatus.REJECTED
            return outcome(status, str(error))
        except (AdapterConnectionError, AdapterTimeoutError) as error:
            self._count(error)
            return outcome(DeliveryStatus.RETRY, f"{settings.host}:{settings.port}: {error}")
        except AdapterError as error:
            self._count(error)
            return outcome(DeliveryStatus.RETRY, str(error))
        return outcome(
            DeliveryStatus.ACKED,
            f"{command.power_kw} kW written, device reverts in {math.ceil(remaining_s)} s",
        )

    # -- helpers ---------------------------------------------------------------------

    def _connection(self, settings: ModbusBindingSettings) -> ModbusConnection:
        key = (settings.host, settings.port)
        connection = self._connections.get(key)
        if connection is None:
            client = self._client_factory(settings.host, settings.port, settings.timeout_s)
            connection = self._connections[key] = ModbusConnection(client)
        return connection

    def _count(self, error: AdapterError) -> None:
        if isinstance(error, ModbusExceptionResponse):
            self.counters.exception_responses += 1
            self.counters.exception_codes[error.name] += 1
        elif isinstance(error, AdapterTimeoutError):
            self.counters.timeouts += 1
        elif isinstance(error, AdapterConnectionError):
            self.counters.connection_errors += 1
        elif isinstance(error, AdapterPayloadError):
            self.counters.decode_errors += 1


def _registers(point: RegisterPoint, reads: dict[tuple[Table, int], list[int]]) -> list[int]:
    registers = slice_point(point, reads)
    if registers is None:  # plan_reads covers every point; this guards a planning bug
        raise AdapterPayloadError(f"register {point.address} was not read")
    return registers


def _status_name(register_map: RegisterMap, code: float) -> str:
    return register_map.status_names.get(int(code), f"code_{int(code)}")


def _setpoint_writes(
    register_map: RegisterMap, setpoint: list[int], revert_s: int
) -> list[tuple[RegisterPoint, list[int]]]:
    """The writes for one setpoint (already encoded), in order: revert timer, setpoint,
    enable flag. The timer goes first so the device never holds a setpoint without its
    expiry.
    """
    assert register_map.setpoint_kw is not None
    writes: list[tuple[RegisterPoint, list[int]]] = []
    if register_map.revert_timeout_s is not None:
        writes.append(
            (register_map.revert_timeout_s, encode_point(revert_s, register_map.revert_timeout_s))
        )
    writes.append((register_map.setpoint_kw, setpoint))
    if register_map.setpoint_enable is not None:
        writes.append((register_map.setpoint_enable, encode_point(1, register_map.setpoint_enable)))
    return writes
