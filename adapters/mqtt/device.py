"""The device side of the MQTT contract, for enterprise gateways, tests and benchmarks.

One ``MqttDevice`` is one broker connection serving any number of devices of one
site (a gateway): it subscribes to ``vpp/<site>/+/setpoint``, applies each command
once per ``command_id`` however often it arrives, answers every copy with an ack on
``vpp/<site>/<device>/ack``, and publishes telemetry on
``vpp/<site>/<device>/telemetry``. Acks that cannot be sent while the broker is away
are kept and sent after the reconnect.

    async def apply(device: str, command: SetpointCommand) -> Decision:
        await inverter.set_power(device, command.power_kw)   # the gateway's own code
        return Decision(accepted=True)

    gateway = MqttDevice(ConnectionOptions("broker", 1883, "gw-1", "ent-a", "secret"),
                         site="plant-1", handler=apply)
    await gateway.start()
    await gateway.publish_telemetry("bess-1", [TelemetryReading(now, -250.0, soc=0.5)])
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from adapters.errors import AdapterError, AdapterPayloadError
from adapters.mqtt.connection import (
    Backoff,
    ConnectionOptions,
    Message,
    MqttConnection,
    MqttSession,
)
from adapters.mqtt.payloads import (
    TelemetryReading,
    TopicKind,
    encode_ack,
    encode_telemetry,
    parse_setpoint,
    parse_topic,
    subscription,
    topic,
)
from vpp.domain.commands import SetpointCommand
from vpp.kit.eventloop import cancel_and_wait
from vpp.ports import Clock, SystemClock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Decision:
    """What a device answers to a command."""

    accepted: bool = True
    detail: str = ""


SetpointHandler = Callable[[str, SetpointCommand], Awaitable[Decision]]


async def accept_all(device: str, command: SetpointCommand) -> Decision:
    """The default handler: accept every command (simulated devices)."""
    return Decision(accepted=True)


class MqttDevice:
    """A gateway serving ``devices`` of ``site`` (None: every device of the site).

    ``handler(device, command)`` is awaited once per new ``command_id`` (commands are
    handled one at a time, in arrival order); a command that arrives after its
    ``expires_at`` is answered ``accepted: false`` without calling it. Decisions are
    remembered until ``retention`` after the command's expiry, so a redelivered copy
    gets the same answer without being applied again. ``applied`` lists the
    ``(device, command)`` pairs handed to the handler.
    """

    def __init__(
        self,
        options: ConnectionOptions,
        site: str,
        *,
        devices: Iterable[str] | None = None,
        handler: SetpointHandler = accept_all,
        clock: Clock | None = None,
        publish_timeout_s: float = 5.0,
        retention: timedelta = timedelta(hours=1),
        backoff: Backoff | None = None,
    ) -> None:
        topic(site, "x", TopicKind.SETPOINT)  # validates the site segment
        self.site = site
        self.devices = frozenset(devices) if devices is not None else None
        self.handler = handler
        self.clock = clock or SystemClock()
        self.publish_timeout_s = publish_timeout_s
        self.retention = retention
        self.applied: list[tuple[str, SetpointCommand]] = []
        self.received = 0
        self.duplicates = 0
        self.malformed_payloads = 0
        self._decisions: dict[uuid.UUID, Decision] = {}
        self._expiry_heap: list[tuple[datetime, uuid.UUID]] = []
        self._unsent_acks: dict[uuid.UUID, tuple[str, bytes]] = {}
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._ack_tasks: set[asyncio.Task[None]] = set()
        self._worker: asyncio.Task[None] | None = None
        self.session = MqttSession(
            options,
            subscriptions=[subscription(TopicKind.SETPOINT, site)],
            on_message=self._inbox.put_nowait,
            on_connected=self._resend_acks,
            backoff=backoff,
            name=f"mqtt device {options.client_id}",
        )

    @property
    def connected(self) -> bool:
        return self.session.connected

    async def start(self) -> None:
        await self.session.start()
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        await self.session.stop()
        await cancel_and_wait(self._worker, *self._ack_tasks)
        self._worker = None

    async def __aenter__(self) -> MqttDevice:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def wait_connected(self, timeout_s: float) -> None:
        """Wait until subscribed; raises AdapterTimeoutError after ``timeout_s``."""
        await self.session.wait_connected(timeout_s)

    async def publish_telemetry(self, device: str, readings: Sequence[TelemetryReading]) -> None:
        """Publish readings of ``device`` (QoS 1); raises AdapterError subclasses."""
        await self.session.publish(
            topic(self.site, device, TopicKind.TELEMETRY),
            encode_telemetry(readings),
            qos=1,
            timeout_s=self.publish_timeout_s,
        )

    @property
    def unsent_acks(self) -> int:
        return len(self._unsent_acks)

    # -- internals -------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            message = await self._inbox.get()
            try:
                await self._handle(message)
            except Exception:
                log.exception("device %s: handling %s failed", self.site, message.topic)

    async def _handle(self, message: Message) -> None:
        parsed = parse_topic(message.topic)
        if parsed is None or parsed[0] != self.site or parsed[2] is not TopicKind.SETPOINT:
            return
        device = parsed[1]
        if self.devices is not None and device not in self.devices:
            return
        try:
            command = parse_setpoint(message.payload)
        except AdapterPayloadError as exc:
            self.malformed_payloads += 1
            log.warning("device %s/%s: malformed setpoint: %s", self.site, device, exc)
            return
        self.received += 1
        now = self.clock.now()
        decision = self._decisions.get(command.id)
        if decision is not None:
            self.duplicates += 1
        elif command.expires_at <= now:
            decision = Decision(accepted=False, detail="expired on arrival")
        else:
            # Messages are handled one at a time, so a copy arriving while the handler
            # runs waits in the inbox and then finds the remembered decision.
            try:
                decision = await self.handler(device, command)
            except Exception as exc:
                log.exception("device %s/%s: handler failed", self.site, device)
                decision = Decision(accepted=False, detail=f"handler failed: {exc}")
            self.applied.append((device, command))
            self._remember(command, decision, now)
        self._send_ack(device, command.id, decision)

    def _remember(self, command: SetpointCommand, decision: Decision, now: datetime) -> None:
        self._decisions[command.id] = decision
        heapq.heappush(self._expiry_heap, (command.expires_at + self.retention, command.id))
        while self._expiry_heap and self._expiry_heap[0][0] < now:
            _, old = heapq.heappop(self._expiry_heap)
            self._decisions.pop(old, None)

    def _send_ack(self, device: str, command_id: uuid.UUID, decision: Decision) -> None:
        payload = encode_ack(command_id, decision.accepted, self.clock.now(), decision.detail)
        self._unsent_acks[command_id] = (topic(self.site, device, TopicKind.ACK), payload)
        self._spawn_ack(command_id)

    def _spawn_ack(self, command_id: uuid.UUID) -> None:
        task = asyncio.get_running_loop().create_task(self._publish_ack(command_id))
        self._ack_tasks.add(task)
        task.add_done_callback(self._ack_tasks.discard)

    async def _publish_ack(self, command_id: uuid.UUID) -> None:
        entry = self._unsent_acks.get(command_id)
        if entry is None:
            return
        name, payload = entry
        try:
            await self.session.publish(name, payload, qos=1, timeout_s=self.publish_timeout_s)
        except AdapterError as exc:
            log.info("device %s: ack %s kept for the reconnect (%s)", self.site, command_id, exc)
            return
        if self._unsent_acks.get(command_id) == entry:
            del self._unsent_acks[command_id]

    async def _resend_acks(self, connection: MqttConnection) -> None:
        for command_id in list(self._unsent_acks):
            self._spawn_ack(command_id)
