"""The OCPP 1.6J central system: EV chargers report telemetry and take charging limits."""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from adapters.errors import AdapterPayloadError
from adapters.ocpp.lib import (
    SUBPROTOCOL_16,
    ChargePoint16,
    OCPPError,
    call_result16,
    enums16,
    on,
    unpack,
)
from adapters.ocpp.parse import (
    DRAWING_STATUSES,
    MeterSample,
    ProfilePurpose,
    build_set_charging_profile,
    format_ocpp_time,
    parse_charge_point_id,
    parse_meter_values,
    parse_ocpp_time,
    parse_profile_status,
    parse_status,
)
from vpp.domain.commands import DeliveryOutcome, DeliveryStatus, SetpointCommand, TelemetryPoint
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

PROFILE_ID_BASE = 7100
"""Default chargingProfileId is this plus the connector id: one profile per connector,
replaced by each new setpoint, and unlikely to collide with an operator's own profiles."""

# CallError codes that say "try again" rather than "no".
TRANSIENT_CALL_ERRORS = frozenset({"InternalError", "GenericError"})


class OcppConfig(BaseModel):
    """Adapter-wide configuration (``config`` of ``OcppAdapter``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(default="127.0.0.1", description="Address the central system listens on.")
    port: int = Field(default=9000, ge=0, le=65535, description="Listen port; 0 picks one.")
    call_timeout_s: float = Field(
        default=10.0, gt=0, description="Seconds a charge point has to answer a request."
    )
    heartbeat_interval_s: int = Field(
        default=300, ge=1, description="Heartbeat interval handed out in BootNotification.conf."
    )


class OcppBindingSettings(BindingSettings):
    """Which charge point (and connector) an asset is."""

    charge_point_id: str = Field(min_length=1, max_length=128)
    connector_id: int = Field(default=0, ge=0, description="0 = the whole charger.")
    max_power_kw: float = Field(gt=0, description="Highest charging limit sent, kW.")
    profile_purpose: ProfilePurpose = "TxDefaultProfile"
    stack_level: int = Field(default=1, ge=0)
    charging_profile_id: int | None = Field(
        default=None, ge=1, description=f"Default: {PROFILE_ID_BASE} + connector_id."
    )

    @model_validator(mode="after")
    def _max_profile_on_connector_zero(self) -> Self:
        if self.profile_purpose == "ChargePointMaxProfile" and self.connector_id != 0:
            raise ValueError("ChargePointMaxProfile can only be set on connector_id 0")
        return self

    @property
    def profile_id(self) -> int:
        return self.charging_profile_id or PROFILE_ID_BASE + self.connector_id


@dataclass
class OcppCounters:
    """What arrived and what went wrong, and how often (read by metrics and tests)."""

    connections: int = 0
    refused_connections: int = 0
    messages: int = 0
    invalid_messages: int = 0  # unparseable frames and requests failing schema validation
    payload_errors: int = 0  # schema-valid requests whose values make no sense
    handler_errors: int = 0
    sink_errors: int = 0
    calls: int = 0
    call_timeouts: int = 0
    call_errors: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)

    def error(self, code: str) -> None:
        self.error_codes[code] = self.error_codes.get(code, 0) + 1


@dataclass
class ChargerState:
    """The latest known values of one charge point, by connector (0 = the main meter)."""

    power_kw: dict[int, float] = field(default_factory=dict)
    energy_kwh: dict[int, float] = field(default_factory=dict)
    status: dict[int, str] = field(default_factory=dict)
    last_status: str | None = None

    def charger_power_kw(self) -> float:
        """The main meter if the charger reports one, else the sum of its connectors."""
        if 0 in self.power_kw:
            return self.power_kw[0]
        return sum(self.power_kw.values())

    def charger_energy_kwh(self) -> float | None:
        if 0 in self.energy_kwh:
            return self.energy_kwh[0]
        return sum(self.energy_kwh.values()) if self.energy_kwh else None


class CentralChargePoint(ChargePoint16):
    """The central system's side of one charge point's websocket (OCPP 1.6J)."""

    def __init__(self, charge_point_id: str, connection: ServerConnection, central: OcppAdapter):
        # The adapter bounds each call itself; the library's own wait is only a backstop.
        super().__init__(
            charge_point_id, connection, response_timeout=2 * central.options.call_timeout_s
        )
        self.websocket = connection
        self.central = central

    # -- robustness: count what the library answers with a CallError -------------------

    async def route_message(self, raw_msg: str | bytes) -> None:
        counters = self.central.counters
        counters.messages += 1
        try:
            unpack(raw_msg)
        except OCPPError as error:
            # No unique id to answer to (OCPP-J 1.6 has no error frame for this): drop it.
            counters.invalid_messages += 1
            counters.error(getattr(error, "code", "FormatViolation"))
            logger.warning("ocpp %s: unparseable frame dropped: %s", self.id, error)
            return
        try:
            await super().route_message(raw_msg)
        except ConnectionClosed:
            raise
        except Exception:  # never let one message end the connection
            counters.handler_errors += 1
            logger.exception("ocpp %s: failed to route a message", self.id)

    async def _handle_call(self, msg: Any) -> Any:
        try:
            return await super()._handle_call(msg)
        except OCPPError as error:
            # The library answers it with a CallError (FormatViolation, ProtocolError, ...).
            counters = self.central.counters
            counters.invalid_messages += 1
            counters.error(getattr(error, "code", "GenericError"))
            logger.warning("ocpp %s: %s refused: %s", self.id, msg.action, error)
            raise

    # -- requests from the charge point -----------------------------------------------

    @on(enums16.Action.boot_notification)
    async def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **_: Any
    ) -> Any:
        logger.info("ocpp %s: booted (%s %s)", self.id, charge_point_vendor, charge_point_model)
        await self.central.report_boot(self.id)
        return call_result16.BootNotification(
            current_time=format_ocpp_time(self.central.clock.now()),
            interval=self.central.options.heartbeat_interval_s,
            status=enums16.RegistrationStatus.accepted,
        )

    @on(enums16.Action.heartbeat)
    async def on_heartbeat(self) -> Any:
        await self.central.report_presence(self.id, status=None)
        return call_result16.Heartbeat(current_time=format_ocpp_time(self.central.clock.now()))

    @on(enums16.Action.status_notification)
    async def on_status_notification(
        self,
        connector_id: int,
        error_code: str,
        status: str,
        timestamp: str | None = None,
        **_: Any,
    ) -> Any:
        await self.central.report_status(self.id, connector_id, status, timestamp, error_code)
        return call_result16.StatusNotification()

    @on(enums16.Action.meter_values)
    async def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **_: Any
    ) -> Any:
        await self.central.report_meter_values(self.id, connector_id, meter_value)
        return call_result16.MeterValues()

    # A charger cannot charge without these answers; the VPP authorises every id tag
    # (access control stays with the site) and only numbers the transactions.
    @on(enums16.Action.authorize)
    async def on_authorize(self, id_tag: str, **_: Any) -> Any:
        return call_result16.Authorize(id_tag_info={"status": "Accepted"})

    @on(enums16.Action.start_transaction)
    async def on_start_transaction(self, connector_id: int, id_tag: str, **_: Any) -> Any:
        return call_result16.StartTransaction(
            transaction_id=self.central.next_transaction_id(),
            id_tag_info={"status": "Accepted"},
        )

    @on(enums16.Action.stop_transaction)
    async def on_stop_transaction(self, transaction_id: int, **_: Any) -> Any:
        return call_result16.StopTransaction(id_tag_info={"status": "Accepted"})

    @on(enums16.Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return call_result16.DataTransfer(status="UnknownVendorId")

    @on(enums16.Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status: str, **_: Any) -> Any:
        return call_result16.FirmwareStatusNotification()

    @on(enums16.Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(self, status: str, **_: Any) -> Any:
        return call_result16.DiagnosticsStatusNotification()


class OcppAdapter(AssetAdapter):
    """An OCPP 1.6J central system for EV chargers (websocket server, subprotocol ocpp1.6).

    Charge points connect to ``ws://<host>:<port>/<any prefix>/<charge point id>``.
    BootNotification, Heartbeat, StatusNotification and MeterValues become telemetry for the
    assets bound to that charge point; a setpoint becomes a SetChargingProfile (W limit,
    validTo = the command's expiry) whose answer is the acknowledgement: Accepted -> ACKED,
    Rejected / NotSupported -> REJECTED; not connected or no answer in ``call_timeout_s``
    -> RETRY. ``config`` keys: see ``OcppConfig``.
    """

    name: ClassVar[str] = "ocpp"
    settings_model: ClassVar[type[BindingSettings]] = OcppBindingSettings

    def __init__(self, clock: Clock, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(clock, config)
        self.options = OcppConfig.model_validate(self.config)
        self.counters = OcppCounters()
        self._bindings: dict[uuid.UUID, OcppBindingSettings] = {}
        self._assets: dict[tuple[str, int], uuid.UUID] = {}
        self._charge_points: dict[str, CentralChargePoint] = {}
        self._chargers: dict[str, ChargerState] = {}
        self._transaction_ids = itertools.count(int(clock.now().timestamp()) % 1_000_000_000)
        self._server: Server | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, sink: AdapterSink) -> None:
        await super().start(sink)
        self._server = await serve(
            self._serve_charge_point,
            self.options.host,
            self.options.port,
            subprotocols=[Subprotocol(SUBPROTOCOL_16)],
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._charge_points.clear()

    @property
    def port(self) -> int:
        """The port the central system listens on (useful when configured with 0)."""
        if self._server is None:
            raise RuntimeError("the central system is not started")
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    def bind(self, asset_id: uuid.UUID, settings: Mapping[str, Any]) -> None:
        """Learn which charge point (connector) an asset is; raises ValidationError."""
        binding = OcppBindingSettings.model_validate(dict(settings))
        old = self._bindings.get(asset_id)
        if old is not None:
            self._assets.pop((old.charge_point_id, old.connector_id), None)
        self._bindings[asset_id] = binding
        self._assets[(binding.charge_point_id, binding.connector_id)] = asset_id

    def event_counts(self) -> Mapping[str, int]:
        return counts_of(self.counters)

    def health(self) -> AdapterHealth:
        return AdapterHealth(
            healthy=self._server is not None,
            detail=f"{len(self._charge_points)} charge points connected, "
            f"{self.counters.invalid_messages} invalid messages",
            connected_devices=len(self._charge_points),
        )

    def is_connected(self, charge_point_id: str) -> bool:
        return charge_point_id in self._charge_points

    def next_transaction_id(self) -> int:
        return next(self._transaction_ids)

    async def _serve_charge_point(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request is not None else ""
        try:
            charge_point_id = parse_charge_point_id(path)
        except AdapterPayloadError as error:
            self.counters.refused_connections += 1
            logger.warning("ocpp: connection refused: %s", error)
            await connection.close(1008, "no charge point identity in the URL")
            return
        charge_point = CentralChargePoint(charge_point_id, connection, self)
        previous = self._charge_points.get(charge_point_id)
        self._charge_points[charge_point_id] = charge_point
        self.counters.connections += 1
        if previous is not None:  # the charger reconnected: the new socket wins
            await previous.websocket.close(1000, "replaced by a new connection")
        logger.info("ocpp %s: connected", charge_point_id)
        try:
            await charge_point.start()
        except ConnectionClosed:
            pass
        finally:
            if self._charge_points.get(charge_point_id) is charge_point:
                del self._charge_points[charge_point_id]
            logger.info("ocpp %s: disconnected", charge_point_id)

    # -- telemetry ---------------------------------------------------------------------

    def _charger(self, charge_point_id: str) -> ChargerState:
        return self._chargers.setdefault(charge_point_id, ChargerState())

    async def _emit(self, points: list[TelemetryPoint]) -> None:
        if not points:
            return
        try:
            await self.sink.telemetry(points)
        except Exception:
            # The library answers the request with an InternalError, so the charge point
            # knows the values were not taken (and resends transaction meter values).
            self.counters.sink_errors += 1
            logger.exception("ocpp: the sink refused %d readings", len(points))
            raise

    async def report_boot(self, charge_point_id: str) -> None:
        """A (re)booted charger has ended its sessions: power 0 until it reports again."""
        charger = self._charger(charge_point_id)
        charger.power_kw.clear()
        await self.report_presence(charge_point_id, status="online")

    async def report_presence(self, charge_point_id: str, status: str | None) -> None:
        """Boot or heartbeat: a reading (last known power, estimated) per bound asset."""
        charger = self._charger(charge_point_id)
        now = self.clock.now()
        points = []
        for (cp_id, connector), asset_id in self._assets.items():
            if cp_id != charge_point_id:
                continue
            if connector == 0:
                power, last = charger.charger_power_kw(), charger.last_status
            else:
                power, last = charger.power_kw.get(connector, 0.0), charger.status.get(connector)
            points.append(
                TelemetryPoint(
                    asset_id, now, power, status=status or last or "online", quality="estimated"
                )
            )
        await self._emit(points)

    async def report_status(
        self,
        charge_point_id: str,
        connector_id: int,
        status: str,
        timestamp: str | None,
        error_code: str,
    ) -> None:
        """A StatusNotification: the connector's status, and power 0 unless it is charging."""
        try:
            word = parse_status(status)
            ts = self.clock.now() if timestamp is None else parse_ocpp_time(timestamp)
        except AdapterPayloadError as error:
            self._payload_error(charge_point_id, "StatusNotification", error)
            return
        if word == "faulted":
            logger.warning("ocpp %s/%s: faulted (%s)", charge_point_id, connector_id, error_code)
        charger = self._charger(charge_point_id)
        charger.status[connector_id] = word
        charger.last_status = word
        if word not in DRAWING_STATUSES and connector_id in charger.power_kw:
            charger.power_kw[connector_id] = 0.0
        points = []
        exact = self._assets.get((charge_point_id, connector_id))
        if exact is not None:
            power = (
                charger.charger_power_kw()
                if connector_id == 0
                else charger.power_kw.get(connector_id, 0.0)
            )
            points.append(TelemetryPoint(exact, ts, power, status=word, quality="estimated"))
        whole = self._assets.get((charge_point_id, 0))
        if connector_id != 0 and whole is not None:
            points.append(
                TelemetryPoint(
                    whole, ts, charger.charger_power_kw(), status=word, quality="estimated"
                )
            )
        await self._emit(points)

    async def report_meter_values(
        self, charge_point_id: str, connector_id: int, meter_value: list[dict[str, Any]]
    ) -> None:
        """A MeterValues.req: one reading per sample for the connector's asset, and for the
        whole charger's asset (main meter, or the sum of the connectors)."""
        try:
            samples = parse_meter_values(meter_value)
        except AdapterPayloadError as error:
            self._payload_error(charge_point_id, "MeterValues", error)
            return
        charger = self._charger(charge_point_id)
        exact = self._assets.get((charge_point_id, connector_id))
        whole = self._assets.get((charge_point_id, 0)) if connector_id != 0 else None
        points = []
        for sample in samples:
            _remember(charger, connector_id, sample)
            if sample.power_kw is None and sample.energy_kwh is None and sample.soc is None:
                continue
            quality = "good" if sample.power_kw is not None else "estimated"
            if exact is not None:
                power = (
                    charger.charger_power_kw()
                    if connector_id == 0
                    else charger.power_kw.get(connector_id, 0.0)
                )
                points.append(
                    TelemetryPoint(
                        exact,
                        sample.ts,
                        power,
                        soc=sample.soc,
                        energy_kwh=sample.energy_kwh,
                        status=charger.status.get(connector_id),
                        quality=quality,
                    )
                )
            if whole is not None and 0 not in charger.power_kw:
                points.append(
                    TelemetryPoint(
                        whole,
                        sample.ts,
                        charger.charger_power_kw(),
                        energy_kwh=charger.charger_energy_kwh(),
                        status=charger.last_status,
                        quality=quality,
                    )
                )
        await self._emit(points)

    def _payload_error(self, charge_point_id: str, action: str, error: AdapterPayloadError) -> None:
        self.counters.payload_errors += 1
        logger.warning("ocpp %s: %s values dropped: %s", charge_point_id, action, error)

    # -- setpoints ---------------------------------------------------------------------

    async def deliver(self, commands: Sequence[SetpointCommand]) -> Sequence[DeliveryOutcome]:
        return await asyncio.gather(*(self._deliver_one(command) for command in commands))

    async def _deliver_one(self, command: SetpointCommand) -> DeliveryOutcome:
        def outcome(status: DeliveryStatus, detail: str) -> DeliveryOutcome:
            return DeliveryOutcome(command.id, status, detail)

        try:
            binding = command_binding(OcppBindingSettings, command, self._bindings)
        except ValidationError as error:
            return outcome(DeliveryStatus.FAILED, f"invalid binding settings: {error}")
        if binding is None:
            return outcome(DeliveryStatus.FAILED, "asset not bound to the ocpp adapter")
        if command.expires_at <= self.clock.now():
            return outcome(DeliveryStatus.FAILED, "the command expired before delivery")
        if command.power_kw < 0:
            return outcome(
                DeliveryStatus.REJECTED,
                "an OCPP 1.6 charging profile cannot ask a charger to discharge",
            )
        limit_kw = min(command.power_kw, binding.max_power_kw)
        request = build_set_charging_profile(
            connector_id=binding.connector_id,
            limit_kw=limit_kw,
            valid_from=command.interval_start,
            valid_to=command.expires_at,
            purpose=binding.profile_purpose,
            stack_level=binding.stack_level,
            profile_id=binding.profile_id,
        )
        charge_point = self._charge_points.get(binding.charge_point_id)
        if charge_point is None:
            return outcome(DeliveryStatus.RETRY, f"{binding.charge_point_id} is not connected")
        self.counters.calls += 1
        timeout_s = self.options.call_timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                answer = await charge_point.call(request, suppress=False)
            accepted = parse_profile_status(str(answer.status))
        except TimeoutError:
            self.counters.call_timeouts += 1
            return outcome(DeliveryStatus.RETRY, f"no answer within {timeout_s} s")
        except ConnectionClosed:
            return outcome(DeliveryStatus.RETRY, f"{binding.charge_point_id} disconnected")
        except OCPPError as error:
            code = str(getattr(error, "code", "GenericError"))
            self.counters.call_errors += 1
            self.counters.error(code)
            logger.warning("ocpp %s: SetChargingProfile: %s", binding.charge_point_id, error)
            status = (
                DeliveryStatus.RETRY if code in TRANSIENT_CALL_ERRORS else DeliveryStatus.REJECTED
            )
            return outcome(status, f"CallError {code}: {error}")
        except AdapterPayloadError as error:
            self.counters.call_errors += 1
            return outcome(DeliveryStatus.REJECTED, str(error))
        except Exception as error:  # an answer the library cannot even map (unknown code)
            self.counters.call_errors += 1
            logger.exception("ocpp %s: SetChargingProfile failed", binding.charge_point_id)
            return outcome(DeliveryStatus.REJECTED, f"unusable answer: {error}")
        if not accepted:
            return outcome(DeliveryStatus.REJECTED, f"charge point answered {answer.status}")
        capped = " (capped at max_power_kw)" if limit_kw < command.power_kw else ""
        return outcome(
            DeliveryStatus.ACKED,
            f"limit {limit_kw} kW{capped} until {format_ocpp_time(command.expires_at)}",
        )


def _remember(charger: ChargerState, connector_id: int, sample: MeterSample) -> None:
    if sample.power_kw is not None:
        charger.power_kw[connector_id] = sample.power_kw
    if sample.energy_kwh is not None:
        charger.energy_kwh[connector_id] = sample.energy_kwh


__all__ = [
    "CentralChargePoint",
    "OcppAdapter",
    "OcppBindingSettings",
    "OcppConfig",
    "OcppCounters",
]
