"""The ports that adapters, markets and clocks implement (DESIGN.md section 4).

Each port is a small abstract interface; ``adapters/`` and ``market/`` provide
implementations found through entry points, and every port has an in-memory
implementation used by the tests and the simulated park.
"""

from __future__ import annotations

import asyncio
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from vpp.domain.commands import Acknowledgement, DeliveryOutcome, SetpointCommand, TelemetryPoint
from vpp.domain.market import (
    Bid,
    Clearing,
    Demand,
    Instruction,
    IntervalScore,
    MarketOutlook,
    OfferLimits,
    Receipt,
    RuleViolation,
)

ADAPTER_ENTRY_POINTS = "vpp.adapters"
MARKET_ENTRY_POINTS = "vpp.markets"


class Clock(ABC):
    """Where time comes from; the simulated park runs on a faster one."""

    @abstractmethod
    def now(self) -> datetime:
        """The current time, UTC-aware."""

    @abstractmethod
    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class AcceleratedClock(Clock):
    """Runs ``speed`` times faster than the wall clock from ``start`` (demo days in minutes)."""

    def __init__(self, start: datetime, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.speed = speed
        self._loop_start = datetime.now(UTC)

    def now(self) -> datetime:
        return self.start + (datetime.now(UTC) - self._loop_start) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)


class ManualClock(Clock):
    """A clock that moves only when told to: the tests' clock.

    ``sleep`` waits until ``advance`` has moved the clock past the sleeper's wake-up
    time, so background tasks run exactly as often as the test's time allows.
    """

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        waiting = []
        for wake_at, future in self._sleepers:
            if wake_at <= self._now:
                if not future.done():
                    future.set_result(None)
            else:
                waiting.append((wake_at, future))
        self._sleepers = waiting

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + timedelta(seconds=seconds), future))
        await future


class AdapterSink(Protocol):
    """What the service offers adapters: somewhere to put readings and answers."""

    async def telemetry(self, readings: Sequence[TelemetryPoint]) -> None: ...

    async def acknowledged(self, acks: Sequence[Acknowledgement]) -> None: ...


class BindingSettings(BaseModel):
    """Base of every adapter's per-asset settings: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


B = TypeVar("B", bound=BaseModel)


@dataclass(frozen=True)
class BoundAsset:
    """An asset as an adapter learns it: its kind and physical parameters (for
    simulators and protocol maps that need them) and its binding's settings."""

    asset_id: uuid.UUID
    kind: str
    params: Mapping[str, Any]
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class AdapterHealth:
    healthy: bool
    detail: str = ""
    connected_devices: int = 0


class AssetAdapter(ABC):
    """A protocol that reaches assets: delivers setpoints, reports readings and acks.

    Implementations are library-shaped: injected clients and connections, explicit
    timeouts, transient errors reported as ``DeliveryStatus.RETRY`` (the engine owns
    retries and backoff), vendor vocabulary translated at the edge. ``config`` is the
    adapter-wide configuration (broker address, listen port, ...); per-asset settings
    are validated by ``settings_model``.
    """

    name: ClassVar[str]
    settings_model: ClassVar[type[BindingSettings]] = BindingSettings
    commands_carry_settings: ClassVar[bool] = True
    """Whether ``SetpointCommand.settings`` must hold the binding (False for adapters
    that keep what ``bind_asset`` taught them, which spares the engine a look-up)."""

    def __init__(self, clock: Clock, config: Mapping[str, Any] | None = None) -> None:
        self.clock = clock
        self.config = dict(config or {})

    @classmethod
    def validate_settings(cls, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Check one binding's settings; raises pydantic.ValidationError if invalid."""
        return cls.settings_model.model_validate(dict(raw)).model_dump(mode="json")

    def validate_binding(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Check one binding under this adapter's configuration (its URL policy, its
        secret store, ...); by default the same as ``validate_settings``."""
        return self.validate_settings(raw)

    async def start(self, sink: AdapterSink) -> None:
        """Connect, listen, start polling; readings and acks go to ``sink``.

        Subclasses call ``super().start(sink)`` first."""
        self.sink = sink

    async def stop(self) -> None:  # noqa: B027  (optional hook)
        """Disconnect and stop every task the adapter started."""

    def bind(self, asset_id: uuid.UUID, settings: Mapping[str, Any]) -> None:  # noqa: B027  (optional hook)
        """Learn (or re-learn) an asset this adapter serves; default: nothing to do."""

    def bind_asset(self, asset: BoundAsset) -> None:
        """Like ``bind`` with the asset's kind and parameters; override when needed."""
        self.bind(asset.asset_id, asset.settings)

    @abstractmethod
    async def deliver(self, commands: Sequence[SetpointCommand]) -> Sequence[DeliveryOutcome]:
        """Send a batch of commands; one outcome per command, in any order."""

    def health(self) -> AdapterHealth:
        return AdapterHealth(healthy=True)

    def event_counts(self) -> Mapping[str, int]:
        """Monotonic counts of notable events (malformed payloads, protocol errors,
        timeouts) since start, by name; exported as ``vpp_adapter_events_total``."""
        return {}


def counts_of(counters: object) -> dict[str, int]:
    """A counters dataclass as flat ``name -> count`` (nested dicts as ``name.key``)."""
    out: dict[str, int] = {}
    for name, value in vars(counters).items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            out[name] = value
        elif isinstance(value, Mapping):
            out.update({f"{name}.{key}": int(count) for key, count in value.items()})
    return out


def command_binding(
    model: type[B], command: SetpointCommand, bound: Mapping[uuid.UUID, B]
) -> B | None:
    """The binding a command is delivered under: the settings it carries if any, else
    what ``bind`` taught the adapter (None if neither). Raises pydantic's
    ValidationError for carried settings that do not fit ``model``."""
    if command.settings:
        return model.model_validate(command.settings)
    return bound.get(command.asset_id)


class MarketPack(ABC):
    """One market product's versioned rule set: validates bids, clears, scores delivery.

    Packs live in ``market/`` and are found through the ``vpp.markets`` entry-point group,
    so adding a province or a product is adding a pack. ``rules_model`` holds the
    configurable numbers, each default citing the published rule it follows
    (market-rules-china.md); ``rules`` overrides them.
    """

    product: ClassVar[str]
    """Stable product name, e.g. ``peak_shaving.valley_fill``."""
    version: ClassVar[str]
    """Version of the rule set, e.g. ``gansu-2025.1``."""
    rules_model: ClassVar[type[BaseModel]]

    def __init__(self, rules: Mapping[str, Any] | None = None) -> None:
        self.rules = self.rules_model.model_validate(dict(rules or {}))

    @abstractmethod
    def limits(self) -> OfferLimits:
        """The numbers that shape an offer (side, resolution, floor, cap, step, ...)."""

    def describe(self) -> dict[str, Any]:
        """The pack as JSON-ready data: product, version and every rule's value."""
        return {
            "product": self.product,
            "version": self.version,
            "rules": self.rules.model_dump(mode="json"),
        }

    @abstractmethod
    def gate_closure(self, day: date) -> datetime:
        """The last moment (UTC) a bid for market day ``day`` is accepted."""

    @abstractmethod
    def validate(self, bid: Bid, now: datetime) -> list[RuleViolation]:
        """Every rule the bid breaks (empty if it may be submitted at ``now``)."""

    @abstractmethod
    def clear(self, demand: Demand, bids: Sequence[Bid]) -> Clearing:
        """Merit-order clearing of valid bids against the operator's demand."""

    @abstractmethod
    def score(
        self,
        awarded_kw: Sequence[float],
        delivered_kw: Sequence[float],
        price_cny_per_mwh: Sequence[float],
    ) -> list[IntervalScore]:
        """Payment and penalty per interval from the response rate (delivered/awarded)."""


class MarketClient(ABC):
    """How the service talks to an exchange: the simulated market or a real adapter."""

    participant: str

    @abstractmethod
    async def outlook(self, product: str, day: date) -> MarketOutlook:
        """Published demand and indicative prices for a product and day."""

    @abstractmethod
    async def submit(self, bid: Bid, idempotency_key: str) -> Receipt:
        """Submit a bid; the same key returns the first receipt and changes nothing."""

    @abstractmethod
    async def clearing(self, product: str, day: date) -> Clearing | None:
        """The cleared day with this participant's awards only; None before clearing."""

    @abstractmethod
    async def instructions(self, since: datetime) -> Sequence[Instruction]:
        """Intraday instructions issued after ``since``, oldest first."""
