"""MQTT: setpoints, acknowledgements and telemetry through an MQTT 5 broker (see README.md)."""

from adapters.mqtt.adapter import MqttAdapter, MqttBinding, MqttConfig
from adapters.mqtt.connection import Backoff, ConnectionOptions, MqttConnection, MqttSession
from adapters.mqtt.device import Decision, MqttDevice, SetpointHandler
from adapters.mqtt.payloads import (
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

__all__ = [
    "Backoff",
    "ConnectionOptions",
    "Decision",
    "MqttAdapter",
    "MqttBinding",
    "MqttConfig",
    "MqttConnection",
    "MqttDevice",
    "MqttSession",
    "SetpointHandler",
    "TelemetryReading",
    "TopicKind",
    "encode_ack",
    "encode_setpoint",
    "encode_telemetry",
    "parse_ack",
    "parse_setpoint",
    "parse_telemetry",
    "parse_topic",
    "topic",
]
