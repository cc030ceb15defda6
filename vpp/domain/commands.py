"""Setpoint commands, acknowledgements and readings as plain values (what adapters speak)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class CommandState(StrEnum):
    """Life of a setpoint command (DESIGN.md section 6).

    pending -> sent -> acked | rejected; pending/sent -> expired (no ack before the
    expiry) or failed (the adapter cannot deliver it at all); pending/sent -> superseded
    (a re-plan replaced it with a newer command for the same asset and interval, which
    wins; a pending command no sender has taken yet is revised in place instead). Only
    pending and sent are open; the others are final and never change again.
    """

    PENDING = "pending"
    SENT = "sent"
    ACKED = "acked"
    REJECTED = "rejected"
    EXPIRED = "expired"
    FAILED = "failed"
    SUPERSEDED = "superseded"

    @property
    def is_open(self) -> bool:
        return self in (CommandState.PENDING, CommandState.SENT)


@dataclass(frozen=True, slots=True)
class SetpointCommand:
    """Hold ``power_kw`` (net-load sign) at an asset from ``interval_start`` until
    ``expires_at``; after the expiry the device falls back to its own default.

    ``settings`` are the asset binding's adapter settings, already validated by the
    adapter's settings model; ``attempt`` counts deliveries (1 on the first).
    Receivers dedupe by ``id``: the same command may arrive more than once.
    """

    id: uuid.UUID
    asset_id: uuid.UUID
    interval_start: datetime
    power_kw: float
    expires_at: datetime
    attempt: int = 1
    settings: dict[str, Any] = field(default_factory=dict)


class DeliveryStatus(StrEnum):
    """What an adapter could say at once about one command it was handed."""

    SENT = "sent"  # on its way; an acknowledgement will follow (or not)
    ACKED = "acked"  # the protocol acknowledged it synchronously
    REJECTED = "rejected"  # the device refused it; do not retry
    RETRY = "retry"  # a transient failure (connection, timeout); retry with backoff
    FAILED = "failed"  # it can never be delivered (bad binding); do not retry


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    command_id: uuid.UUID
    status: DeliveryStatus
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """A device's answer to a command, which may arrive long after delivery."""

    command_id: uuid.UUID
    accepted: bool
    at: datetime
    detail: str = ""


@dataclass(frozen=True, slots=True)
class TelemetryPoint:
    """One measurement read or received by an adapter (kW, net-load sign)."""

    asset_id: uuid.UUID
    ts: datetime
    power_kw: float
    soc: float | None = None
    energy_kwh: float | None = None
    status: str | None = None
    quality: str = "good"
