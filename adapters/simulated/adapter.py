"""The simulated adapter: delivers setpoints to simulated devices and reports their telemetry."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from adapters.simulated.physics import Device, make_device
from vpp.domain.commands import DeliveryOutcome, DeliveryStatus, SetpointCommand, TelemetryPoint
from vpp.kit.eventloop import cancel_and_wait
from vpp.ports import AdapterHealth, AdapterSink, AssetAdapter, BindingSettings, BoundAsset, Clock

log = logging.getLogger(__name__)

PARK_LATITUDE = 38.93
PARK_LONGITUDE = 100.45


class SimulatedSettings(BindingSettings):
    """Per-asset settings of a simulated device."""

    seed: int = Field(default=0, description="Noise seed; the same seed replays the same day.")
    latitude: float = Field(default=PARK_LATITUDE, ge=-90, le=90, description="Degrees north.")
    longitude: float = Field(default=PARK_LONGITUDE, ge=-180, le=180, description="Degrees east.")


class SimulatedAdapter(AssetAdapter):
    """Simulated devices for every bound asset, stepped on the adapter's clock.

    Config: ``telemetry_interval_s`` (clock seconds between readings, default 60).
    Devices acknowledge at once and apply each command id once (a redelivery is
    acknowledged again but not re-applied). ``set_offline`` makes a device silent,
    as a real one that lost its link: commands to it are sent but never acknowledged.
    """

    name = "simulated"
    settings_model = SimulatedSettings
    commands_carry_settings = False

    def __init__(self, clock: Clock, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(clock, config)
        self.interval_s = float(self.config.get("telemetry_interval_s", 60.0))
        self.devices: dict[uuid.UUID, Device] = {}
        self.applied: dict[uuid.UUID, set[uuid.UUID]] = {}
        self.offline: set[uuid.UUID] = set()
        self._task: asyncio.Task[None] | None = None
        self._last_step = clock.now()

    def bind_asset(self, asset: BoundAsset) -> None:
        settings = SimulatedSettings.model_validate(dict(asset.settings))
        self.devices[asset.asset_id] = make_device(
            asset.kind, asset.params, settings.seed, settings.latitude, settings.longitude
        )
        self.applied.setdefault(asset.asset_id, set())

    def set_offline(self, asset_id: uuid.UUID, offline: bool = True) -> None:
        (self.offline.add if offline else self.offline.discard)(asset_id)

    async def start(self, sink: AdapterSink) -> None:
        await super().start(sink)
        self._last_step = self.clock.now()
        self._task = asyncio.create_task(self._report_forever(), name="simulated-telemetry")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def deliver(self, commands: Sequence[SetpointCommand]) -> Sequence[DeliveryOutcome]:
        outcomes = []
        for command in commands:
            device = self.devices.get(command.asset_id)
            if device is None:
                outcomes.append(
                    DeliveryOutcome(command.id, DeliveryStatus.FAILED, "no such device")
                )
            elif command.asset_id in self.offline:
                outcomes.append(DeliveryOutcome(command.id, DeliveryStatus.SENT))
            else:
                seen = self.applied[command.asset_id]
                if command.id not in seen:
                    seen.add(command.id)
                    device.set_target(command.power_kw, command.expires_at)
                outcomes.append(DeliveryOutcome(command.id, DeliveryStatus.ACKED))
        return outcomes

    def read_all(self) -> list[TelemetryPoint]:
        """Step every online device to the clock's now and read it."""
        now = self.clock.now()
        dt_s = max(1.0, (now - self._last_step).total_seconds())
        self._last_step = now
        readings = []
        for asset_id, device in self.devices.items():
            state = device.step(now, dt_s)
            if asset_id in self.offline:
                continue
            readings.append(
                TelemetryPoint(
                    asset_id, now, state.power_kw, state.soc, state.energy_kwh, state.status
                )
            )
        return readings

    async def _report_forever(self) -> None:
        while True:
            await self.clock.sleep(self.interval_s)
            try:
                await self.sink.telemetry(self.read_all())
            except Exception:
                log.exception("simulated telemetry could not be stored")

    def health(self) -> AdapterHealth:
        online = len(self.devices) - len(self.offline & self.devices.keys())
        return AdapterHealth(
            healthy=True, detail=f"{online} simulated devices", connected_devices=online
        )
