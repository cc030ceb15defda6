"""The MQTT asset adapter: setpoints out, acknowledgements and telemetry in, through one broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import ssl
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from adapters.errors import (
    AdapterConnectionError,
    AdapterPayloadError,
    AdapterRejectedError,
    AdapterTimeoutError,
)
from adapters.mqtt.connection import (
    NO_MATCHING_SUBSCRIBERS,
    Backoff,
    ConnectionOptions,
    Message,
    MqttSession,
    SharedProperties,
)
from adapters.mqtt.payloads import (
    SEGMENT_PATTERN,
    TopicKind,
    encode_setpoint,
    parse_ack,
    parse_telemetry,
    parse_topic,
    subscription,
    topic,
)
from vpp.domain.commands import (
    Acknowledgement,
    DeliveryOutcome,
    DeliveryStatus,
    SetpointCommand,
    TelemetryPoint,
)
from vpp.kit.eventloop import cancel_and_wait
from vpp.ports import AdapterHealth, AdapterSink, AssetAdapter, BindingSettings, Clock

log = logging.getLogger(__name__)


class MqttBinding(BindingSettings):
    """Where one asset lives on the broker: ``vpp/<site>/<device>/...``.

    ``site`` is the enterprise's topic namespace (its broker ACL grants it
    ``vpp/<site>/#``); ``device`` names the asset within it and defaults to the
    asset's id. Both are MQTT-safe segments: letters, digits, ``_ . -``, at most 64
    characters, starting with a letter or digit."""

    site: str = Field(pattern=SEGMENT_PATTERN, description="Topic segment of the site.")
    device: str | None = Field(
        default=None,
        pattern=SEGMENT_PATTERN,
        description="Topic segment of the device; default: the asset id.",
    )

    def device_segment(self, asset_id: uuid.UUID) -> str:
        return self.device or str(asset_id)


class MqttConfig(BaseModel):
    """Adapter-wide settings (``config`` of the adapter). Times in seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    client_id: str = Field(default="vpp-service", min_length=1, max_length=64)
    keepalive: int = Field(default=30, ge=5, le=65535, description="Keepalive, s.")
    tls: bool = Field(default=False, description="TLS to the broker (system CAs).")
    tls_ca_file: str | None = Field(default=None, description="CA bundle for TLS.")
    connect_timeout_s: float = Field(default=5.0, gt=0)
    publish_timeout_s: float = Field(default=5.0, gt=0, description="Wait for a PUBACK.")
    reconnect_initial_s: float = Field(default=0.2, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    session_expiry_s: int = Field(
        default=3600,
        ge=0,
        description="Broker keeps our session (queued acks, telemetry) this long offline.",
    )
    max_inflight: int = Field(default=1000, ge=1, le=65535)
    tcp_nodelay: bool = True
    telemetry_flush_s: float = Field(default=0.1, gt=0)
    telemetry_batch: int = Field(default=500, ge=1)

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=self.tls_ca_file)

    def connection_options(self) -> ConnectionOptions:
        return ConnectionOptions(
            host=self.host,
            port=self.port,
            client_id=self.client_id,
            username=self.username,
            password=self.password.get_secret_value() if self.password else None,
            keepalive_s=self.keepalive,
            tls_context=self.tls_context(),
            tcp_nodelay=self.tcp_nodelay,
            connect_timeout_s=self.connect_timeout_s,
            # A persistent session: acks and telemetry published while we reconnect
            # (or restart) wait for us at the broker.
            clean_start=self.session_expiry_s == 0,
            session_expiry_s=self.session_expiry_s,
            max_inflight=self.max_inflight,
        )


class MqttAdapter(AssetAdapter):
    """Reaches devices through an MQTT 5 broker (topics and payloads: ``payloads``).

    ``deliver`` publishes each setpoint with QoS 1 and answers SENT once the broker
    has taken it (PUBACK), RETRY while disconnected, on a timeout, or when no device
    is subscribed to the topic, FAILED for an invalid binding or an expired command.
    Acks go to ``sink.acknowledged`` as they arrive; telemetry goes to
    ``sink.telemetry`` in batches (every ``telemetry_flush_s`` or
    ``telemetry_batch`` readings). Telemetry of devices no binding names and
    malformed payloads are logged, counted (``unknown_topics``,
    ``malformed_payloads``) and dropped.
    """

    name = "mqtt"
    settings_model = MqttBinding

    def __init__(self, clock: Clock, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(clock, config)
        self.settings = MqttConfig.model_validate(self.config)
        self.malformed_payloads = 0
        self.unknown_topics = 0
        self.sink_errors = 0
        self.readings_received = 0
        self.acks_received = 0
        self._assets: dict[tuple[str, str], uuid.UUID] = {}
        self._topics: dict[uuid.UUID, tuple[str, str]] = {}
        self._telemetry: list[TelemetryPoint] = []
        self._acks: list[Acknowledgement] = []
        self._flush_now = asyncio.Event()
        self._acks_ready = asyncio.Event()
        self._session: MqttSession | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- port ------------------------------------------------------------------------

    async def start(self, sink: AdapterSink) -> None:
        await super().start(sink)
        s = self.settings
        self._session = MqttSession(
            s.connection_options(),
            subscriptions=[subscription(TopicKind.TELEMETRY), subscription(TopicKind.ACK)],
            on_message=self._on_message,
            backoff=Backoff(initial_s=s.reconnect_initial_s, max_s=s.reconnect_max_s),
            name=f"mqtt adapter {s.client_id}",
        )
        await self._session.start()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._telemetry_loop(), name="mqtt telemetry flush"),
            loop.create_task(self._ack_loop(), name="mqtt ack forward"),
        ]

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.stop()
        await cancel_and_wait(*self._tasks)
        self._tasks = []
        await self._flush_telemetry()
        await self._forward_acks()

    def bind(self, asset_id: uuid.UUID, settings: Mapping[str, Any]) -> None:
        binding = MqttBinding.model_validate(dict(settings))
        self._remember(asset_id, binding)

    async def deliver(self, commands: Sequence[SetpointCommand]) -> Sequence[DeliveryOutcome]:
        session = self._session
        if session is None:
            return [
                DeliveryOutcome(c.id, DeliveryStatus.RETRY, "adapter not started") for c in commands
            ]
        now = self.clock.now()
        # One properties object per expiry value: paho's Properties are slow to build
        # and every command of a dispatch round usually shares its expiry.
        expiry_properties: dict[int, Properties] = {}
        return await asyncio.gather(
            *(self._deliver_one(session, c, now, expiry_properties) for c in commands)
        )

    def health(self) -> AdapterHealth:
        s = self.settings
        session = self._session
        if session is not None and session.connected:
            return AdapterHealth(healthy=True, detail=f"connected to {s.host}:{s.port}")
        reason = session.last_error if session is not None else "not started"
        return AdapterHealth(healthy=False, detail=f"not connected to {s.host}:{s.port}: {reason}")

    # -- extras ----------------------------------------------------------------------

    async def wait_connected(self, timeout_s: float) -> None:
        """Wait until subscribed at the broker; raises AdapterTimeoutError after ``timeout_s``."""
        if self._session is None:
            raise AdapterConnectionError("adapter not started")
        await self._session.wait_connected(timeout_s)

    @property
    def session(self) -> MqttSession | None:
        """The broker session (None before ``start``)."""
        return self._session

    def event_counts(self) -> dict[str, int]:
        return self.counters

    @property
    def counters(self) -> dict[str, int]:
        """Running totals, for metrics."""
        return {
            "readings_received": self.readings_received,
            "acks_received": self.acks_received,
            "malformed_payloads": self.malformed_payloads,
            "unknown_topics": self.unknown_topics,
            "sink_errors": self.sink_errors,
            "connects": self._session.connects if self._session is not None else 0,
        }

    # -- internals -------------------------------------------------------------------

    def _remember(self, asset_id: uuid.UUID, binding: MqttBinding) -> None:
        key = (binding.site, binding.device_segment(asset_id))
        old = self._topics.get(asset_id)
        if old == key:
            return
        if old is not None and self._assets.get(old) == asset_id:
            del self._assets[old]
        self._assets[key] = asset_id
        self._topics[asset_id] = key

    async def _deliver_one(
        self,
        session: MqttSession,
        command: SetpointCommand,
        now: datetime,
        expiry_properties: dict[int, Properties],
    ) -> DeliveryOutcome:
        try:
            binding = MqttBinding.model_validate(command.settings)
        except ValidationError as exc:
            return DeliveryOutcome(command.id, DeliveryStatus.FAILED, f"invalid binding: {exc}")
        self._remember(command.asset_id, binding)
        seconds_left = math.ceil((command.expires_at - now).total_seconds())
        if seconds_left <= 0:
            return DeliveryOutcome(command.id, DeliveryStatus.FAILED, "expired before delivery")
        try:
            payload = encode_setpoint(command)
        except ValueError as exc:
            return DeliveryOutcome(command.id, DeliveryStatus.FAILED, f"cannot encode: {exc}")
        name = topic(binding.site, binding.device_segment(command.asset_id), TopicKind.SETPOINT)
        properties = expiry_properties.get(seconds_left)
        if properties is None:
            properties = SharedProperties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.MessageExpiryInterval = seconds_left
            expiry_properties[seconds_left] = properties
        try:
            code = await session.publish(
                name,
                payload,
                qos=1,
                properties=properties,
                timeout_s=self.settings.publish_timeout_s,
            )
        except (AdapterConnectionError, AdapterTimeoutError) as exc:
            return DeliveryOutcome(command.id, DeliveryStatus.RETRY, str(exc))
        except AdapterRejectedError as exc:
            # The service user may not publish there: a broker ACL mistake, not transient.
            return DeliveryOutcome(command.id, DeliveryStatus.FAILED, str(exc))
        if code is not None and code.value == NO_MATCHING_SUBSCRIBERS:
            return DeliveryOutcome(
                command.id, DeliveryStatus.RETRY, f"no device subscribed to {name}"
            )
        return DeliveryOutcome(command.id, DeliveryStatus.SENT)

    def _on_message(self, message: Message) -> None:
        parsed = parse_topic(message.topic)
        try:
            if parsed is not None and parsed[2] is TopicKind.ACK:
                # Any site's ack topic will do: the command id (a UUID only that site
                # could read, given the ACL) identifies the command, and acks queued
                # in our session before bind() ran after a restart are not lost.
                ack = parse_ack(message.payload, received_at=self.clock.now())
                self.acks_received += 1
                self._acks.append(ack)
                self._acks_ready.set()
                return
            asset_id = None
            if parsed is not None and parsed[2] is TopicKind.TELEMETRY:
                asset_id = self._assets.get((parsed[0], parsed[1]))
            if asset_id is None:
                self.unknown_topics += 1
                log.warning("mqtt: message on %s (no bound asset); dropped", message.topic)
                return
            points = parse_telemetry(message.payload, asset_id)
            self.readings_received += len(points)
            self._telemetry.extend(points)
            if len(self._telemetry) >= self.settings.telemetry_batch:
                self._flush_now.set()
        except AdapterPayloadError as exc:
            self.malformed_payloads += 1
            log.warning("mqtt: malformed payload on %s: %s", message.topic, exc)

    async def _telemetry_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.telemetry_flush_s):
                    await self._flush_now.wait()
            self._flush_now.clear()
            await self._flush_telemetry()

    async def _flush_telemetry(self) -> None:
        size = self.settings.telemetry_batch
        while self._telemetry:
            batch, self._telemetry = self._telemetry[:size], self._telemetry[size:]
            try:
                await self.sink.telemetry(batch)
            except Exception:
                self.sink_errors += 1
                log.exception("mqtt: the sink refused %d readings; dropped", len(batch))

    async def _ack_loop(self) -> None:
        while True:
            await self._acks_ready.wait()
            self._acks_ready.clear()
            await self._forward_acks()

    async def _forward_acks(self) -> None:
        # Acks that arrive while the sink works are forwarded together next round.
        while self._acks:
            batch, self._acks = self._acks, []
            try:
                await self.sink.acknowledged(batch)
            except Exception:
                self.sink_errors += 1
                log.exception("mqtt: the sink refused %d acks; dropped", len(batch))
