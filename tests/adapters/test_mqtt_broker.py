"""The MQTT adapter against a real Mosquitto: round trip, ACLs, broker faults, bad payloads."""

# The fixtures are imported from conftest_mqtt, so test arguments "redefine" them.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from adapters.errors import AdapterRejectedError
from adapters.mqtt import (
    Decision,
    MqttAdapter,
    MqttConnection,
    MqttDevice,
    TelemetryReading,
    parse_setpoint,
)
from adapters.mqtt.connection import Backoff, Message
from tests.adapters.conftest_mqtt import (  # noqa: F401  (fixtures)
    SITE_A,
    SITE_B,
    BrokerEnv,
    Changes,
    RecordingHandler,
    RecordingSink,
    anyio_backend,
    make_command,
    mosquitto_binary,
    mqtt_broker,
    mqtt_tls_broker,
    new_adapter,
    wait_until,
)
from vpp.domain.commands import DeliveryStatus
from vpp.ports import ManualClock, SystemClock

pytestmark = pytest.mark.anyio

A1, A2 = uuid.uuid4(), uuid.uuid4()
A1_SETTINGS = {"site": SITE_A, "device": "bess-1"}
A2_SETTINGS = {"site": SITE_B}  # device segment defaults to the asset id


async def start(adapter: MqttAdapter, sink: RecordingSink, *devices: MqttDevice) -> None:
    adapter.bind(A1, A1_SETTINGS)
    adapter.bind(A2, A2_SETTINGS)
    await adapter.start(sink)
    await adapter.wait_connected(5)
    for device in devices:
        await device.start()
        await device.wait_connected(5)


async def stop(adapter: MqttAdapter, *devices: MqttDevice) -> None:
    for device in devices:
        await device.stop()
    await adapter.stop()


class Observer(Changes):
    """A raw client that records every message it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[Message] = []

    def __call__(self, message: Message) -> None:
        self.messages.append(message)
        self.notify()

    def topics(self) -> list[str]:
        return [m.topic for m in self.messages]


async def test_round_trip_telemetry_setpoint_ack(mqtt_broker: BrokerEnv) -> None:
    sink = RecordingSink()
    handler_a = RecordingHandler()
    handler_b = RecordingHandler(decide=lambda device, c: Decision(False, "soc below reserve"))
    adapter = new_adapter(mqtt_broker)
    gateway_a = MqttDevice(mqtt_broker.options("ent-a"), SITE_A, handler=handler_a)
    gateway_b = MqttDevice(mqtt_broker.options("ent-b"), SITE_B, handler=handler_b)
    await start(adapter, sink, gateway_a, gateway_b)
    try:
        assert adapter.health().healthy
        for session in (adapter.session, gateway_a.session):
            assert session is not None and session.connection is not None
            assert session.connection.tcp_nodelay
        # Telemetry in: two readings in one message, Beijing offsets, injection.
        t0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
        await gateway_a.publish_telemetry(
            "bess-1",
            [
                TelemetryReading(t0, -400.0, soc=0.6),
                TelemetryReading(t0 + timedelta(seconds=15), -395.5, soc=0.59),
            ],
        )
        await gateway_b.publish_telemetry(str(A2), [TelemetryReading(t0, 120.0)])
        await sink.wait_for(lambda: len(sink.readings) == 3)
        by_asset = {(p.asset_id, p.ts): p for p in sink.readings}
        assert by_asset[(A1, t0)].power_kw == -400.0
        assert by_asset[(A1, t0)].soc == 0.6
        assert by_asset[(A1, t0 + timedelta(seconds=15))].power_kw == -395.5
        assert by_asset[(A2, t0)].power_kw == 120.0

        # Setpoints out, acks back.
        c1 = make_command(A1, A1_SETTINGS, power_kw=-300.0)
        c2 = make_command(A2, A2_SETTINGS, power_kw=50.0)
        outcomes = await adapter.deliver([c1, c2])
        assert {o.command_id: o.status for o in outcomes} == {
            c1.id: DeliveryStatus.SENT,
            c2.id: DeliveryStatus.SENT,
        }
        await sink.wait_for(lambda: bool(sink.acked(c1.id) and sink.acked(c2.id)))
        (ack1,) = sink.acked(c1.id)
        (ack2,) = sink.acked(c2.id)
        assert ack1.accepted and ack1.at.tzinfo is not None
        assert (ack2.accepted, ack2.detail) == (False, "soc below reserve")
        # Each device got exactly its own command, intact.
        assert [(d, c.id, c.power_kw) for d, c in handler_a.applied] == [("bess-1", c1.id, -300.0)]
        assert [(d, c.id) for d, c in handler_b.applied] == [(str(A2), c2.id)]
        assert handler_a.applied[0][1].expires_at == c1.expires_at
        assert adapter.counters["malformed_payloads"] == 0
    finally:
        await stop(adapter, gateway_a, gateway_b)
    assert not adapter.health().healthy


async def test_delivery_outcomes_without_a_device(mqtt_broker: BrokerEnv) -> None:
    sink = RecordingSink()
    adapter = new_adapter(mqtt_broker)
    not_started = await adapter.deliver([make_command(A1, A1_SETTINGS)])
    assert not_started[0].status is DeliveryStatus.RETRY
    await start(adapter, sink)
    try:
        nobody = make_command(A1, A1_SETTINGS)
        bad_binding = make_command(A1, {"site": "a/b"})
        expired = make_command(A1, A1_SETTINGS, expires_in_s=-1)
        outcomes = {o.command_id: o for o in await adapter.deliver([nobody, bad_binding, expired])}
        assert outcomes[nobody.id].status is DeliveryStatus.RETRY
        assert "no device subscribed" in outcomes[nobody.id].detail
        assert outcomes[bad_binding.id].status is DeliveryStatus.FAILED
        assert outcomes[expired.id].status is DeliveryStatus.FAILED
    finally:
        await stop(adapter)


async def test_enterprises_cannot_reach_each_others_topics(mqtt_broker: BrokerEnv) -> None:
    watcher = Observer()  # the service user sees everything under vpp/
    service = MqttConnection(mqtt_broker.options("service"), on_message=watcher)
    spy = Observer()
    ent_a = MqttConnection(mqtt_broker.options("ent-a"), on_message=spy)
    await service.connect()
    await ent_a.connect()
    try:
        await service.subscribe(["vpp/#"])
        # Publishing on B's topics is refused (MQTT 5 PUBACK 0x87) and reaches nobody.
        for name in (f"vpp/{SITE_B}/{A2}/telemetry", f"vpp/{SITE_B}/{A2}/ack"):
            with pytest.raises(AdapterRejectedError, match="Not authorized"):
                await ent_a.publish(name, b'{"ts": "2025-07-01T00:00:00Z", "power_kw": 1}')
        # A's own topic works; the broker forwards one client's messages in order, so
        # once the watcher has it, the refused ones would have arrived before it.
        own = f"vpp/{SITE_A}/bess-1/telemetry"
        await ent_a.publish(own, b'{"ts": "2025-07-01T00:00:00Z", "power_kw": 1}')
        await watcher.wait_for(lambda: own in watcher.topics())
        assert watcher.topics() == [own]

        # Subscribing to B's topics yields nothing: refused, or granted and filtered.
        # (Mosquitto 2.0 grants such filters and checks each message against the ACL.)
        await ent_a.subscribe([f"vpp/{SITE_B}/#", "vpp/+/+/setpoint"])
        await ent_a.subscribe([f"vpp/{SITE_A}/#"])
        for name in (f"vpp/{SITE_B}/{A2}/setpoint", f"vpp/{SITE_A}/bess-1/setpoint"):
            await service.publish(name, b"{}")
        await spy.wait_for(lambda: f"vpp/{SITE_A}/bess-1/setpoint" in spy.topics())
        assert not any(name.startswith(f"vpp/{SITE_B}/") for name in spy.topics())
    finally:
        await ent_a.close()
        await service.close()

    # Wrong password and no credentials at all are refused at CONNECT.
    wrong = dataclasses.replace(mqtt_broker.options("ent-a"), password="guess")
    anonymous = dataclasses.replace(mqtt_broker.options("ent-a"), username=None, password=None)
    for options in (wrong, anonymous):
        with pytest.raises(AdapterRejectedError, match="refused the login"):
            await MqttConnection(options).connect()


async def test_broker_killed_and_restarted(mqtt_broker: BrokerEnv) -> None:
    sink = RecordingSink()
    handler = RecordingHandler()
    adapter = new_adapter(mqtt_broker)
    gateway = MqttDevice(
        mqtt_broker.options("ent-a"), SITE_A, handler=handler, backoff=Backoff(0.05, 0.5)
    )
    await start(adapter, sink, gateway)
    try:
        c1 = make_command(A1, A1_SETTINGS)
        assert (await adapter.deliver([c1]))[0].status is DeliveryStatus.SENT
        await sink.wait_for(lambda: bool(sink.acked(c1.id)))

        mqtt_broker.broker.kill()
        await wait_until(lambda: not adapter.health().healthy and not gateway.connected)
        c2 = make_command(A1, A1_SETTINGS)
        during = await adapter.deliver([c2, dataclasses.replace(c1, attempt=2)])
        assert [o.status for o in during] == [DeliveryStatus.RETRY, DeliveryStatus.RETRY]
        assert "not connected" in adapter.health().detail

        mqtt_broker.broker.start()
        await adapter.wait_connected(5)
        await gateway.wait_connected(5)
        # The engine retries both: c2 for the first time on the wire, c1 a second
        # time (as if its ack had been lost); the device applies each once.
        again = await adapter.deliver(
            [dataclasses.replace(c2, attempt=2), dataclasses.replace(c1, attempt=3)]
        )
        assert [o.status for o in again] == [DeliveryStatus.SENT, DeliveryStatus.SENT]
        await sink.wait_for(lambda: bool(sink.acked(c2.id)) and len(sink.acked(c1.id)) == 2)
        assert handler.times_applied(c1.id) == 1
        assert handler.times_applied(c2.id) == 1
        assert gateway.duplicates == 1
        assert all(a.accepted for a in sink.acks)
        assert adapter.counters["connects"] == 2
    finally:
        await stop(adapter, gateway)


async def test_broker_stall_times_out_then_the_late_copy_is_applied_once(
    mqtt_broker: BrokerEnv,
) -> None:
    sink = RecordingSink()
    handler = RecordingHandler()
    adapter = new_adapter(mqtt_broker, publish_timeout_s=0.3)
    gateway = MqttDevice(mqtt_broker.options("ent-a"), SITE_A, handler=handler)
    await start(adapter, sink, gateway)
    try:
        command = make_command(A1, A1_SETTINGS)
        mqtt_broker.broker.freeze()
        try:
            (outcome,) = await adapter.deliver([command])
        finally:
            mqtt_broker.broker.thaw()
        assert outcome.status is DeliveryStatus.RETRY
        assert "PUBACK" in outcome.detail
        # The stalled copy still goes through once the broker wakes up ...
        await sink.wait_for(lambda: bool(sink.acked(command.id)))
        # ... and the engine's retry is answered again but not applied again.
        (retry,) = await adapter.deliver([dataclasses.replace(command, attempt=2)])
        assert retry.status is DeliveryStatus.SENT
        await sink.wait_for(lambda: len(sink.acked(command.id)) == 2)
        assert handler.times_applied(command.id) == 1
    finally:
        await stop(adapter, gateway)


async def test_malformed_payloads_are_counted_and_skipped(mqtt_broker: BrokerEnv) -> None:
    sink = RecordingSink()
    adapter = new_adapter(mqtt_broker)
    device = MqttConnection(mqtt_broker.options("ent-a"))
    await start(adapter, sink)
    await device.connect()
    telemetry = f"vpp/{SITE_A}/bess-1/telemetry"
    ack = f"vpp/{SITE_A}/bess-1/ack"
    good_id = uuid.uuid4()
    try:
        bad = [
            (telemetry, b"not json at all"),
            (telemetry, b'{"power_kw": 5.0}'),  # missing ts
            (telemetry, b'{"ts": "2025-07-01T08:00:00", "power_kw": 5.0}'),  # naive
            (telemetry, b'{"ts": "2025-07-01T00:00:00Z", "power_kw": "5.0"}'),  # wrong type
            (telemetry, b'[{"ts": "2025-07-01T00:00:00Z", "power_kw": 1}, {"ts": 7}]'),
            (ack, b'{"command_id": "not-a-uuid", "accepted": true}'),
            (ack, b'{"command_id": "' + str(good_id).encode() + b'"}'),  # missing accepted
        ]
        for name, payload in bad:
            await device.publish(name, payload)
        # A device of no bound asset: counted separately, dropped.
        await device.publish(
            f"vpp/{SITE_A}/unknown-device/telemetry",
            b'{"ts": "2025-07-01T00:00:00Z", "power_kw": 1}',
        )
        await device.publish(telemetry, b'{"ts": "2025-07-01T00:00:00+00:00", "power_kw": -7.5}')
        await device.publish(
            ack, b'{"command_id": "' + str(good_id).encode() + b'", "accepted": true}'
        )
        await sink.wait_for(lambda: bool(sink.readings) and bool(sink.acks))
        assert [(p.asset_id, p.power_kw) for p in sink.readings] == [(A1, -7.5)]
        assert [a.command_id for a in sink.acks] == [good_id]
        assert adapter.malformed_payloads == len(bad)
        assert adapter.unknown_topics == 1
        assert adapter.health().healthy
    finally:
        await device.close()
        await stop(adapter)


async def test_setpoints_carry_message_expiry(mqtt_broker: BrokerEnv) -> None:
    sink = RecordingSink()
    clock = ManualClock(datetime.now(UTC))
    adapter = new_adapter(mqtt_broker, clock=clock)
    watcher = Observer()
    device = MqttConnection(mqtt_broker.options("ent-a"), on_message=watcher)
    await start(adapter, sink)
    await device.connect()
    try:
        await device.subscribe([f"vpp/{SITE_A}/+/setpoint"])
        command = make_command(A1, A1_SETTINGS, clock=clock, expires_in_s=90.5)
        assert (await adapter.deliver([command]))[0].status is DeliveryStatus.SENT
        await watcher.wait_for(lambda: bool(watcher.messages))
        (message,) = watcher.messages
        assert message.topic == f"vpp/{SITE_A}/bess-1/setpoint"
        assert message.properties is not None
        # 91 s (rounded up) at publish; the broker counts down what it held it for.
        assert 89 <= getattr(message.properties, "MessageExpiryInterval", 0) <= 91
        assert parse_setpoint(message.payload).id == command.id
    finally:
        await device.close()
        await stop(adapter)


async def test_broker_drops_a_setpoint_that_expired_in_its_queue(mqtt_broker: BrokerEnv) -> None:
    sink = RecordingSink()
    clock = ManualClock(datetime.now(UTC))
    adapter = new_adapter(mqtt_broker, clock=clock)
    handler = RecordingHandler()
    # A gateway with a persistent session: the broker queues its setpoints while it is away.
    options = mqtt_broker.options("ent-a", clean_start=False, session_expiry_s=60)
    await start(adapter, sink)
    gateway = MqttDevice(options, SITE_A, handler=handler)
    await gateway.start()
    await gateway.wait_connected(5)
    await gateway.stop()
    try:
        short = make_command(A1, A1_SETTINGS, clock=clock, expires_in_s=1)
        long = make_command(A1, A1_SETTINGS, clock=clock, expires_in_s=60)
        assert (await adapter.deliver([short]))[0].status is DeliveryStatus.SENT  # queued
        await asyncio.sleep(2.1)  # the broker's 1 s expiry, counted in whole seconds
        assert (await adapter.deliver([long]))[0].status is DeliveryStatus.SENT
        gateway = MqttDevice(options, SITE_A, handler=handler)
        await gateway.start()
        # Queued messages come in order: had ``short`` survived it would come first.
        await handler.wait_for(lambda: handler.times_applied(long.id) == 1)
        await sink.wait_for(lambda: bool(sink.acked(long.id)))
        assert gateway.received == 1  # ``short`` never reached the gateway
        assert not sink.acked(short.id)
    finally:
        await stop(adapter, gateway)


async def test_telemetry_is_batched_by_size_and_flushed_on_stop(mqtt_broker: BrokerEnv) -> None:
    sink = RecordingSink()
    adapter = new_adapter(mqtt_broker, telemetry_flush_s=60, telemetry_batch=3)
    gateway = MqttDevice(mqtt_broker.options("ent-a"), SITE_A)
    await start(adapter, sink, gateway)
    t0 = datetime(2025, 7, 1, tzinfo=UTC)
    readings = [TelemetryReading(t0 + timedelta(seconds=15 * i), float(i)) for i in range(4)]
    try:
        for reading in readings[:3]:
            await gateway.publish_telemetry("bess-1", [reading])
        # Three readings fill a batch long before the 60 s flush interval.
        await sink.wait_for(lambda: len(sink.readings) >= 3)
        assert [p.power_kw for p in sink.readings] == [0.0, 1.0, 2.0]
        await gateway.publish_telemetry("bess-1", readings[3:])
        await wait_until(lambda: adapter.readings_received == 4)
        assert len(sink.readings) == 3
    finally:
        await stop(adapter, gateway)
    # The fourth was still buffered: stop() hands it over.
    assert [p.power_kw for p in sink.readings] == [0.0, 1.0, 2.0, 3.0]


async def test_wrong_credentials_show_in_health_and_deliveries_retry(
    mqtt_broker: BrokerEnv,
) -> None:
    adapter = new_adapter(mqtt_broker, password="wrong")
    await adapter.start(RecordingSink())
    try:
        await wait_until(lambda: "refused the login" in adapter.health().detail)
        assert not adapter.health().healthy
        (outcome,) = await adapter.deliver([make_command(A1, A1_SETTINGS)])
        assert outcome.status is DeliveryStatus.RETRY
    finally:
        await adapter.stop()


async def test_acks_sent_while_the_service_is_down_wait_in_its_session(
    mqtt_broker: BrokerEnv,
) -> None:
    config = mqtt_broker.adapter_config(session_expiry_s=60)
    first = MqttAdapter(SystemClock(), config)
    await first.start(RecordingSink())
    await first.wait_connected(5)
    await first.stop()  # the broker keeps the session and its subscriptions
    device = MqttConnection(mqtt_broker.options("ent-a"))
    await device.connect()
    command_id = uuid.uuid4()
    try:
        ack = b'{"command_id": "' + str(command_id).encode() + b'", "accepted": true}'
        await device.publish(f"vpp/{SITE_A}/bess-1/ack", ack)
    finally:
        await device.close()
    # A restarted service (same client id), before any bind(), gets the queued ack.
    sink = RecordingSink()
    second = MqttAdapter(SystemClock(), config)
    await second.start(sink)
    try:
        await sink.wait_for(lambda: bool(sink.acked(command_id)))
    finally:
        await second.stop()


async def test_tls_round_trip_and_an_untrusted_broker(mqtt_tls_broker: BrokerEnv) -> None:
    env = mqtt_tls_broker
    assert env.broker.tls is not None
    ca = str(env.broker.tls.cafile)
    sink = RecordingSink()
    adapter = new_adapter(env, tls="on", tls_ca_file=ca)
    gateway = MqttDevice(
        env.options("ent-a", tls_context=ssl.create_default_context(cafile=ca)), SITE_A
    )
    await start(adapter, sink, gateway)
    try:
        command = make_command(A1, A1_SETTINGS)
        assert (await adapter.deliver([command]))[0].status is DeliveryStatus.SENT
        await sink.wait_for(lambda: bool(sink.acked(command.id)))
    finally:
        await stop(adapter, gateway)
    # Without our CA the broker's certificate is not trusted: no connection.
    untrusted = new_adapter(env, tls="on")
    await untrusted.start(RecordingSink())
    try:
        await wait_until(lambda: "certificate" in untrusted.health().detail.lower())
        assert not untrusted.health().healthy
    finally:
        await untrusted.stop()
