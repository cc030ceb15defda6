"""MQTT payloads and settings: parse_* on captured device payloads, no broker needed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from adapters.errors import AdapterError, AdapterPayloadError
from adapters.mqtt import (
    MqttAdapter,
    MqttBinding,
    MqttConfig,
    TelemetryReading,
    TopicKind,
    encode_ack,
    encode_setpoint,
    encode_telemetry,
    parse_ack,
    parse_setpoint,
    parse_telemetry,
    parse_topic,
    topic,
)
from adapters.mqtt.connection import Backoff
from adapters.mqtt.payloads import MAX_PAYLOAD_BYTES
from vpp.domain.commands import SetpointCommand

ASSET = uuid.UUID("3f0c6a52-8d4e-4f8e-9a51-2f4b1c7d9e10")
COMMAND = uuid.UUID("b7e1c9d2-4a3f-4c5e-8f6a-1d2e3f4a5b6c")
RECEIVED = datetime(2025, 7, 1, 0, 0, 5, tzinfo=UTC)

# Captured from a storage gateway (Beijing time offsets, a list of readings).
CAPTURED_TELEMETRY_LIST = (
    b'[{"ts":"2025-07-01T08:00:00+08:00","power_kw":-412.5,"soc":0.63,'
    b'"energy_kwh":1260.0,"status":"discharging"},'
    b'{"ts":"2025-07-01T08:00:15+08:00","power_kw":-410,"soc":0.629,"quality":"estimated"}]'
)
# Captured from an electric-boiler controller: one object, UTC "Z", integers.
CAPTURED_TELEMETRY_ONE = b'{"ts": "2025-07-01T00:00:00Z", "power_kw": 1800}'
CAPTURED_ACK = (
    b'{"command_id":"b7e1c9d2-4a3f-4c5e-8f6a-1d2e3f4a5b6c","accepted":true,'
    b'"at":"2025-07-01T08:00:01.250+08:00"}'
)
CAPTURED_NACK = (
    b'{"command_id":"b7e1c9d2-4a3f-4c5e-8f6a-1d2e3f4a5b6c","accepted":false,'
    b'"detail":"soc below reserve"}'
)


def test_parse_telemetry_list_converts_to_utc_and_keeps_the_sign() -> None:
    points = parse_telemetry(CAPTURED_TELEMETRY_LIST, ASSET)
    assert [p.ts for p in points] == [
        datetime(2025, 7, 1, 0, 0, 0, tzinfo=UTC),
        datetime(2025, 7, 1, 0, 0, 15, tzinfo=UTC),
    ]
    assert all(p.ts.utcoffset() == timedelta(0) for p in points)
    assert [p.power_kw for p in points] == [-412.5, -410.0]  # injection stays negative
    assert points[0].soc == 0.63
    assert points[0].energy_kwh == 1260.0
    assert points[0].status == "discharging"
    assert [p.quality for p in points] == ["good", "estimated"]
    assert {p.asset_id for p in points} == {ASSET}


def test_parse_telemetry_single_object() -> None:
    (point,) = parse_telemetry(CAPTURED_TELEMETRY_ONE, ASSET)
    assert point.ts == datetime(2025, 7, 1, tzinfo=UTC)
    assert point.power_kw == 1800.0
    assert point.soc is None
    assert point.quality == "good"


def test_parse_ack_with_and_without_at() -> None:
    ack = parse_ack(CAPTURED_ACK, RECEIVED)
    assert ack.command_id == COMMAND
    assert ack.accepted is True
    assert ack.at == datetime(2025, 7, 1, 0, 0, 1, 250000, tzinfo=UTC)
    assert ack.detail == ""
    nack = parse_ack(CAPTURED_NACK, RECEIVED)
    assert nack.accepted is False
    assert nack.detail == "soc below reserve"
    assert nack.at == RECEIVED


MALFORMED_TELEMETRY = {
    "not json": b"power=5",
    "empty": b"",
    "json but not an object": b'"hello"',
    "missing ts": b'{"power_kw": 1.0}',
    "missing power": b'{"ts": "2025-07-01T00:00:00Z"}',
    "naive ts": b'{"ts": "2025-07-01T00:00:00", "power_kw": 1.0}',
    "epoch ts": b'{"ts": 1751328000, "power_kw": 1.0}',
    "power as string": b'{"ts": "2025-07-01T00:00:00Z", "power_kw": "5"}',
    "power as bool": b'{"ts": "2025-07-01T00:00:00Z", "power_kw": true}',
    "power NaN": b'{"ts": "2025-07-01T00:00:00Z", "power_kw": NaN}',
    "soc as percent": b'{"ts": "2025-07-01T00:00:00Z", "power_kw": 1, "soc": 63}',
    "unknown quality": b'{"ts": "2025-07-01T00:00:00Z", "power_kw": 1, "quality": "ok"}',
    "misspelt field": b'{"ts": "2025-07-01T00:00:00Z", "power_kw": 1, "power_w": 1000}',
    "empty list": b"[]",
    "bad item in list": b'[{"ts": "2025-07-01T00:00:00Z", "power_kw": 1}, {"ts": "x"}]',
    "status too long": b'{"ts": "2025-07-01T00:00:00Z", "power_kw": 1, "status": "'
    + b"x" * 40
    + b'"}',
}


@pytest.mark.parametrize("payload", MALFORMED_TELEMETRY.values(), ids=MALFORMED_TELEMETRY.keys())
def test_parse_telemetry_refuses_malformed_payloads(payload: bytes) -> None:
    with pytest.raises(AdapterPayloadError, match="telemetry"):
        parse_telemetry(payload, ASSET)


def test_parse_telemetry_names_the_field() -> None:
    with pytest.raises(AdapterPayloadError, match=r"ts: .*timezone"):
        parse_telemetry(MALFORMED_TELEMETRY["naive ts"], ASSET)


def test_parse_telemetry_limits() -> None:
    reading = {"ts": "2025-07-01T00:00:00Z", "power_kw": 1.0}
    with pytest.raises(AdapterPayloadError, match="1 to 1000"):
        parse_telemetry(json.dumps([reading] * 1001).encode(), ASSET)
    with pytest.raises(AdapterPayloadError, match="exceeds"):
        parse_telemetry(b" " * (MAX_PAYLOAD_BYTES + 1), ASSET)
    assert len(parse_telemetry(json.dumps([reading] * 1000).encode(), ASSET)) == 1000


MALFORMED_ACKS = {
    "not json": b"ok",
    "missing accepted": b'{"command_id": "b7e1c9d2-4a3f-4c5e-8f6a-1d2e3f4a5b6c"}',
    "missing command_id": b'{"accepted": true}',
    "bad uuid": b'{"command_id": "42", "accepted": true}',
    "accepted as string": (
        b'{"command_id": "b7e1c9d2-4a3f-4c5e-8f6a-1d2e3f4a5b6c", "accepted": "yes"}'
    ),
    "accepted as int": b'{"command_id": "b7e1c9d2-4a3f-4c5e-8f6a-1d2e3f4a5b6c", "accepted": 1}',
    "naive at": (
        b'{"command_id": "b7e1c9d2-4a3f-4c5e-8f6a-1d2e3f4a5b6c", "accepted": true,'
        b' "at": "2025-07-01T08:00:00"}'
    ),
    "unknown key": (
        b'{"command_id": "b7e1c9d2-4a3f-4c5e-8f6a-1d2e3f4a5b6c", "accepted": true, "ok": 1}'
    ),
}


@pytest.mark.parametrize("payload", MALFORMED_ACKS.values(), ids=MALFORMED_ACKS.keys())
def test_parse_ack_refuses_malformed_payloads(payload: bytes) -> None:
    with pytest.raises(AdapterPayloadError, match="ack"):
        parse_ack(payload, RECEIVED)


def test_payload_error_is_an_adapter_error() -> None:
    assert issubclass(AdapterPayloadError, AdapterError)


def command(**overrides: object) -> SetpointCommand:
    values: dict[str, object] = {
        "id": COMMAND,
        "asset_id": ASSET,
        "interval_start": datetime(2025, 7, 1, 8, 0, tzinfo=UTC),
        "power_kw": -250.0,
        "expires_at": datetime(2025, 7, 1, 8, 15, tzinfo=UTC),
        "attempt": 2,
    }
    values.update(overrides)
    return SetpointCommand(**values)  # type: ignore[arg-type]


def test_setpoint_payload_schema_and_round_trip() -> None:
    payload = encode_setpoint(command())
    assert json.loads(payload) == {
        "command_id": str(COMMAND),
        "asset_id": str(ASSET),
        "interval_start": "2025-07-01T08:00:00+00:00",
        "power_kw": -250.0,
        "expires_at": "2025-07-01T08:15:00+00:00",
        "attempt": 2,
    }
    assert parse_setpoint(payload) == command()


def test_setpoint_receiver_ignores_unknown_keys_but_not_bad_values() -> None:
    body = json.loads(encode_setpoint(command()))
    assert parse_setpoint(json.dumps({**body, "priority": "high"}).encode()) == command()
    with pytest.raises(AdapterPayloadError, match="expires_at"):
        parse_setpoint(json.dumps({**body, "expires_at": "2025-07-01T08:15:00"}).encode())


def test_encode_setpoint_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(ValueError, match="finite"):
        encode_setpoint(command(power_kw=float("nan")))
    with pytest.raises(ValueError, match="naive"):
        encode_setpoint(command(expires_at=datetime(2025, 7, 1, 8, 15)))


def test_device_side_encoders_round_trip_through_the_parsers() -> None:
    at = datetime(2025, 7, 1, 8, 0, 1, tzinfo=UTC)
    ack = parse_ack(encode_ack(COMMAND, False, at, "busy"), RECEIVED)
    assert (ack.command_id, ack.accepted, ack.at, ack.detail) == (COMMAND, False, at, "busy")
    readings = [
        TelemetryReading(at, -100.0, soc=0.5, energy_kwh=50.0, status="ok"),
        TelemetryReading(at + timedelta(seconds=15), 20.0, quality="suspect"),
    ]
    points = parse_telemetry(encode_telemetry(readings), ASSET)
    assert [(p.ts, p.power_kw, p.soc, p.quality) for p in points] == [
        (at, -100.0, 0.5, "good"),
        (at + timedelta(seconds=15), 20.0, None, "suspect"),
    ]
    assert len(parse_telemetry(encode_telemetry(readings[:1]), ASSET)) == 1


def test_topics() -> None:
    assert topic("site-a", "bess-1", TopicKind.SETPOINT) == "vpp/site-a/bess-1/setpoint"
    assert parse_topic("vpp/site-a/bess-1/ack") == ("site-a", "bess-1", TopicKind.ACK)
    for other in ("vpp/site-a/ack", "vpp/a/b/c/ack", "x/site-a/b/ack", "vpp/a/b/reboot"):
        assert parse_topic(other) is None
    with pytest.raises(ValueError, match="MQTT-safe"):
        topic("site/a", "b", TopicKind.ACK)


@pytest.mark.parametrize("segment", ["", "a/b", "+", "#", "$SYS", "a b", "-x", "x" * 65, "é"])
def test_binding_settings_refuse_unsafe_topic_segments(segment: str) -> None:
    with pytest.raises(ValidationError):
        MqttAdapter.validate_settings({"site": segment})
    with pytest.raises(ValidationError):
        MqttAdapter.validate_settings({"site": "ok", "device": segment})


def test_binding_settings() -> None:
    assert MqttAdapter.validate_settings({"site": "plant-1", "device": "bess_1.a"}) == {
        "site": "plant-1",
        "device": "bess_1.a",
    }
    binding = MqttBinding(site="plant-1")
    assert binding.device_segment(ASSET) == str(ASSET)
    with pytest.raises(ValidationError):
        MqttAdapter.validate_settings({"site": "plant-1", "qos": 2})
    with pytest.raises(ValidationError):
        MqttAdapter.validate_settings({})


def test_config_keys_and_defaults() -> None:
    config = MqttConfig.model_validate(
        {"host": "broker", "port": "8883", "tls": "on", "username": "vpp", "password": "s3cret"}
    )
    assert (config.port, config.tls, config.keepalive) == (8883, True, 30)
    assert "s3cret" not in repr(config)
    options = config.connection_options()
    assert options.password == "s3cret"
    assert options.tls_context is not None
    assert options.tcp_nodelay is True
    assert MqttConfig().tls_context() is None
    with pytest.raises(ValidationError):
        MqttConfig.model_validate({"hots": "typo"})
    with pytest.raises(ValidationError):
        MqttConfig.model_validate({"port": 0})


def test_backoff_grows_exponentially_to_its_cap() -> None:
    backoff = Backoff(initial_s=0.1, max_s=1.0)
    backoff.reset()
    delays = [backoff.next_delay() for _ in range(8)]
    for delay, base in zip(delays, [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0], strict=True):
        assert base * 0.8 <= delay <= base * 1.2
    backoff.reset()
    assert backoff.next_delay() <= 0.12
