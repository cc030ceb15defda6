"""Setpoint fan-out over MQTT: 1,000 assets through one Mosquitto, deliver() to every ack.

Devices are simulated by ``adapters.mqtt.device.MqttDevice``: one gateway connection
per enterprise site (10 sites x 100 assets), accepting every command, in a separate
process as real devices would be (``fanout_mqtt_1000_s``) and, for comparison, in
the service's own process. The broker is a throwaway Mosquitto on a loopback port,
configured like production (password per enterprise, ACL per site). Also measured:
the service process's CPU per fan-out, and one setpoint's round trip (deliver -> ack
at the sink) with TCP_NODELAY on and off (clients and broker).

``run(quick)`` returns plain records; ``python -m bench.mqtt_fanout_bench`` prints them.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from adapters.mqtt import ConnectionOptions, MqttAdapter, MqttDevice
from adapters.mqtt.broker import SERVICE_USER, BrokerUser, MosquittoBroker
from bench.core import Benchmark, Context, Result
from vpp.domain.commands import (
    Acknowledgement,
    DeliveryStatus,
    SetpointCommand,
    TelemetryPoint,
)
from vpp.ports import SystemClock

ROOT = Path(__file__).resolve().parents[1]
SITES = 10
ASSETS = 1000
PASSWORD = "bench-only-password"


class TimingSink:
    """Records when each command's ack reached the service."""

    def __init__(self) -> None:
        self.acked_at: dict[uuid.UUID, float] = {}
        self.expected = 0
        self.done = asyncio.Event()

    async def telemetry(self, readings: Sequence[TelemetryPoint]) -> None:
        return None

    async def acknowledged(self, acks: Sequence[Acknowledgement]) -> None:
        now = time.perf_counter()
        for ack in acks:
            self.acked_at.setdefault(ack.command_id, now)
        if len(self.acked_at) >= self.expected:
            self.done.set()

    def expect(self, count: int) -> None:
        self.acked_at.clear()
        self.expected = count
        self.done.clear()


def _percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _ensure_mosquitto() -> str:
    result = subprocess.run(
        [str(ROOT / "scripts" / "ensure-mosquitto")], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"Mosquitto unavailable: {result.stderr.strip()}")
    return result.stdout.strip().splitlines()[-1]


def _sites_assets(assets: int) -> list[tuple[uuid.UUID, dict[str, Any]]]:
    return [
        (uuid.uuid4(), {"site": f"site-{i % SITES:02d}", "device": f"dev-{i:05d}"})
        for i in range(assets)
    ]


def _gateways(host: str, port: int, tcp_nodelay: bool) -> list[MqttDevice]:
    """One gateway connection per site, each serving that site's devices."""
    return [
        MqttDevice(
            ConnectionOptions(
                host,
                port,
                f"gw-{s:02d}-{uuid.uuid4().hex[:6]}",
                f"ent-{s:02d}",
                PASSWORD,
                tcp_nodelay=tcp_nodelay,
            ),
            f"site-{s:02d}",
        )
        for s in range(SITES)
    ]


async def _serve_gateways(host: str, port: int, tcp_nodelay: bool, control: Connection) -> None:
    gateways = _gateways(host, port, tcp_nodelay)
    for gateway in gateways:
        await gateway.start()
    for gateway in gateways:
        await gateway.wait_connected(10)
    control.send("ready")
    await asyncio.get_running_loop().run_in_executor(None, control.recv)  # "stop"
    for gateway in gateways:
        await gateway.stop()
    control.send(sum(g.received for g in gateways))


def _gateway_process(host: str, port: int, tcp_nodelay: bool, control: Connection) -> None:
    asyncio.run(_serve_gateways(host, port, tcp_nodelay, control))


class Park:
    """The adapter and the simulated gateways of one measurement; the gateways run in
    this process or, like real devices, in another (``separate_devices``)."""

    def __init__(
        self, broker: MosquittoBroker, assets: int, tcp_nodelay: bool, separate_devices: bool
    ) -> None:
        self.broker = broker
        self.tcp_nodelay = tcp_nodelay
        self.separate_devices = separate_devices
        self.sink = TimingSink()
        self.adapter = MqttAdapter(
            SystemClock(),
            {
                "host": broker.host,
                "port": broker.port,
                "username": SERVICE_USER,
                "password": PASSWORD,
                "client_id": f"vpp-bench-{uuid.uuid4().hex[:6]}",
                "tcp_nodelay": tcp_nodelay,
                "session_expiry_s": 0,
            },
        )
        self.assets = _sites_assets(assets)
        self.gateways: list[MqttDevice] = []
        self._process: BaseProcess | None = None
        self._control: Connection | None = None

    async def __aenter__(self) -> Park:
        for asset_id, settings in self.assets:
            self.adapter.bind(asset_id, settings)
        await self.adapter.start(self.sink)
        await self.adapter.wait_connected(10)
        if self.separate_devices:
            context = multiprocessing.get_context("spawn")
            self._control, child = context.Pipe()
            self._process = context.Process(
                target=_gateway_process,
                args=(self.broker.host, self.broker.port, self.tcp_nodelay, child),
                daemon=True,
            )
            self._process.start()
            control = self._control
            if not await asyncio.to_thread(control.poll, 30):
                raise RuntimeError("the gateway process did not start")
            control.recv()
        else:
            self.gateways = _gateways(self.broker.host, self.broker.port, self.tcp_nodelay)
            for gateway in self.gateways:
                await gateway.start()
            for gateway in self.gateways:
                await gateway.wait_connected(10)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for gateway in self.gateways:
            await gateway.stop()
        if self._process is not None and self._control is not None:
            self._control.send("stop")
            await asyncio.to_thread(self._process.join, 10)
            if self._process.is_alive():
                self._process.kill()
            self._control.close()
        await self.adapter.stop()

    def commands(self, assets: Sequence[tuple[uuid.UUID, dict[str, Any]]]) -> list[SetpointCommand]:
        now = datetime.now(UTC)
        return [
            SetpointCommand(
                id=uuid.uuid4(),
                asset_id=asset_id,
                interval_start=now,
                power_kw=-100.0,
                expires_at=now + timedelta(minutes=15),
                settings=settings,
            )
            for asset_id, settings in assets
        ]

    async def fan_out(self, assets: Sequence[tuple[uuid.UUID, dict[str, Any]]]) -> list[float]:
        """Deliver one command per asset; seconds from deliver() to each ack."""
        commands = self.commands(assets)
        self.sink.expect(len(commands))
        started = time.perf_counter()
        outcomes = await self.adapter.deliver(commands)
        refused = [o for o in outcomes if o.status is not DeliveryStatus.SENT]
        if refused:
            raise RuntimeError(f"{len(refused)} commands not sent, e.g. {refused[0]}")
        async with asyncio.timeout(30):
            await self.sink.done.wait()
        return [self.sink.acked_at[c.id] - started for c in commands]


def _users() -> list[BrokerUser]:
    users = [BrokerUser(SERVICE_USER, PASSWORD, service=True)]
    users += [BrokerUser(f"ent-{s:02d}", PASSWORD, sites=(f"site-{s:02d}",)) for s in range(SITES)]
    return users


async def _fanout(
    workdir: Path, binary: str, repeats: int, separate_devices: bool
) -> tuple[float, list[float], float]:
    """Median seconds from deliver() of 1,000 commands to their last ack, every
    command's seconds from deliver() to its ack, and the median CPU seconds this
    process spent per fan-out."""
    layout = "apart" if separate_devices else "together"
    broker = MosquittoBroker(workdir / f"fanout-{layout}", _users(), binary=binary)
    totals: list[float] = []
    latencies: list[float] = []
    cpu: list[float] = []
    with broker:
        async with Park(broker, ASSETS, True, separate_devices) as park:
            await park.fan_out(park.assets[:100])  # warm up connections and caches
            for _ in range(repeats):
                cpu_started = time.process_time()
                seconds = await park.fan_out(park.assets)
                cpu.append(time.process_time() - cpu_started)
                totals.append(max(seconds))
                latencies.extend(seconds)
    return statistics.median(totals), latencies, statistics.median(cpu)


async def _round_trip_ms(workdir: Path, binary: str, tcp_nodelay: bool, count: int) -> float:
    """Median ms of one setpoint's deliver() -> device -> ack at the sink, one at a time.

    ``tcp_nodelay`` applies to the adapter, the gateway and the broker alike."""
    name = "nodelay" if tcp_nodelay else "nagle"
    broker = MosquittoBroker(workdir / name, _users(), binary=binary, tcp_nodelay=tcp_nodelay)
    samples: list[float] = []
    with broker:
        async with Park(broker, SITES, tcp_nodelay, separate_devices=False) as park:
            asset = park.assets[:1]
            await park.fan_out(asset)
            for _ in range(count):
                samples.extend(await park.fan_out(asset))
    return statistics.median(samples) * 1000


async def run(quick: bool) -> list[dict[str, Any]]:
    """Fan-out of 1,000 setpoints (seconds; per-command p50 / p99 ms) with the devices in
    another process (the target) and in this one (for information), and one setpoint's
    round trip with TCP_NODELAY on and off (ms)."""
    binary = _ensure_mosquitto()
    repeats = 3 if quick else 7
    with tempfile.TemporaryDirectory(prefix="mqtt-bench-") as tmp:
        workdir = Path(tmp)
        total, latencies, cpu = await _fanout(workdir, binary, repeats, separate_devices=True)
        together, _, _ = await _fanout(workdir, binary, repeats, separate_devices=False)
        count = 10 if quick else 40
        nodelay = await _round_trip_ms(workdir, binary, True, count)
        nagle = await _round_trip_ms(workdir, binary, False, count)
    return [
        {
            "name": "fanout_mqtt_1000_s",
            "value": total,
            "unit": "s",
            "target": 1.0,
        },
        {
            "name": "fanout_mqtt_1000_p50_ms",
            "value": _percentile(latencies, 50) * 1000,
            "unit": "ms",
            "target": None,
        },
        {
            "name": "fanout_mqtt_1000_p99_ms",
            "value": _percentile(latencies, 99) * 1000,
            "unit": "ms",
            "target": None,
        },
        {
            # What the VPP side costs, whatever else the machine runs.
            "name": "fanout_mqtt_1000_service_cpu_s",
            "value": cpu,
            "unit": "s",
            "target": None,
        },
        {
            "name": "fanout_mqtt_1000_devices_in_process_s",
            "value": together,
            "unit": "s",
            "target": None,
        },
        {"name": "mqtt_roundtrip_nodelay_ms", "value": nodelay, "unit": "ms", "target": None},
        {"name": "mqtt_roundtrip_nagle_ms", "value": nagle, "unit": "ms", "target": None},
    ]


NOTES = {
    "fanout_mqtt_1000_devices_in_process_s": "the same with the gateways in the service's process",
    "mqtt_roundtrip_nodelay_ms": "one setpoint at a time, TCP_NODELAY at the clients and broker",
    "mqtt_roundtrip_nagle_ms": "one setpoint at a time, Nagle (no TCP_NODELAY) everywhere",
}


def run_benchmark(ctx: Context) -> list[Result]:
    note = (
        f"{ASSETS} assets on {SITES} site gateways (one connection each, another process), "
        "paho-mqtt, Mosquitto on loopback"
    )
    return [
        Result(r["name"], r["value"], r["unit"], r["target"], "<=", NOTES.get(r["name"], note))
        for r in asyncio.run(run(ctx.quick))
    ]


BENCHMARKS = [
    Benchmark(
        "fanout_mqtt",
        (
            "fanout_mqtt_1000_s",
            "fanout_mqtt_1000_p50_ms",
            "fanout_mqtt_1000_p99_ms",
            "fanout_mqtt_1000_service_cpu_s",
            "fanout_mqtt_1000_devices_in_process_s",
            "mqtt_roundtrip_nodelay_ms",
            "mqtt_roundtrip_nagle_ms",
        ),
        run_benchmark,
        description="setpoints to 1,000 assets over MQTT through Mosquitto, to every ack",
        tags=("fanout", "mqtt"),
    ),
]


if __name__ == "__main__":
    import sys

    for record in asyncio.run(run(quick="--quick" in sys.argv)):
        print(f"{record['name']:40} {record['value']:10.3f} {record['unit']}")
