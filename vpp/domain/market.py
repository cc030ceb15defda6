"""Market vocabulary shared by rule packs, the bid builder and settlement: pure data.

A *product* is one thing a market buys or sells (peak-shaving valley filling, spot
day-ahead energy, day-ahead green power, ...). Its *rule pack* (`vpp.ports.MarketPack`,
implemented in `market/`) validates bids, clears them and scores delivery. Quantities are
kW held over an interval of the product's resolution, prices CNY/MWh, money CNY, and the
side uses the net-load convention of `vpp.domain.units`: ``Direction.UP`` raises the pool's
net load (valley filling, buying energy), ``Direction.DOWN`` lowers it (peak cutting,
selling energy or consuming less).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from vpp.domain.units import Direction


class Pricing(StrEnum):
    """How accepted offers are paid."""

    UNIFORM = "uniform"
    """Every accepted step is paid the marginal (clearing) price of its interval."""
    PAY_AS_BID = "pay_as_bid"
    """Every accepted step is paid its own offer price."""


@dataclass(frozen=True)
class BidStep:
    """One step of an interval's price-quantity ladder."""

    price_cny_per_mwh: float
    quantity_kw: float


@dataclass(frozen=True)
class IntervalOffer:
    """The ladder offered for one interval (0-based index in the product's day)."""

    interval: int
    steps: tuple[BidStep, ...]

    @property
    def quantity_kw(self) -> float:
        return sum(step.quantity_kw for step in self.steps)


@dataclass(frozen=True)
class Bid:
    """A participant's day-ahead offer for one product and market day (Beijing time).

    ``intervals`` holds one entry per interval of the product's day (96 for 15-minute
    products, 24 for hourly ones), in order; an interval not offered has no steps.
    """

    product: str
    day: date
    participant: str
    side: Direction
    intervals: tuple[IntervalOffer, ...]
    submitted_at: datetime | None = None


@dataclass(frozen=True)
class RuleViolation:
    """Why a bid breaks its pack: the rule's name, the offending field and a sentence."""

    rule: str
    field: str
    message: str


@dataclass(frozen=True)
class Demand:
    """What the market operator wants of a product on a day, per interval (kW, >= 0)."""

    product: str
    day: date
    quantity_kw: tuple[float, ...]


@dataclass(frozen=True)
class Award:
    """An accepted quantity for one participant, interval and price (kW, CNY/MWh)."""

    product: str
    day: date
    participant: str
    interval: int
    quantity_kw: float
    price_cny_per_mwh: float


@dataclass(frozen=True)
class Clearing:
    """A product's cleared day: prices per interval and every participant's awards."""

    product: str
    day: date
    pricing: Pricing
    clearing_price_cny_per_mwh: tuple[float, ...]
    """Marginal price per interval; NaN where nothing cleared."""
    cleared_kw: tuple[float, ...]
    demand_kw: tuple[float, ...]
    awards: tuple[Award, ...] = field(default=())

    def awards_of(self, participant: str) -> tuple[Award, ...]:
        return tuple(a for a in self.awards if a.participant == participant)


@dataclass(frozen=True)
class IntervalScore:
    """Performance of one awarded interval against its settlement baseline."""

    interval: int
    awarded_kw: float
    delivered_kw: float
    response_rate: float
    """delivered / awarded (0 when nothing was awarded)."""
    payment_cny: float
    """Money earned for the delivered response (>= 0)."""
    penalty_cny: float
    """Money owed for under-delivery (>= 0)."""


@dataclass(frozen=True)
class OfferLimits:
    """The numbers of a pack that shape an offer, for the bid builder (`vpp.optimize`)."""

    side: Direction
    intervals_per_day: int
    price_floor_cny_per_mwh: float
    price_cap_cny_per_mwh: float
    min_quantity_kw: float
    """Smallest non-zero total quantity of one interval's ladder."""
    quantity_step_kw: float
    """Every step's quantity is a multiple of this (0 = any)."""
    min_duration_intervals: int
    """Offered intervals come in runs of at least this many consecutive intervals."""
    max_steps: int
    """Most steps one interval's ladder may have."""
    pricing: Pricing
    penalty_threshold: float
    """Response rate below which a penalty applies (e.g. 0.5)."""
    penalty_factor: float
    """Penalty = (award × threshold − delivered) × price × factor below the threshold."""


@dataclass(frozen=True)
class Receipt:
    """The market's answer to a submission: accepted, or refused with the rules broken."""

    receipt_id: str
    product: str
    day: date
    participant: str
    received_at: datetime
    accepted: bool
    violations: tuple[RuleViolation, ...] = ()


@dataclass(frozen=True)
class MarketOutlook:
    """What the market operator publishes before gate closure for a product and day."""

    product: str
    day: date
    gate_closure: datetime
    demand_kw: tuple[float, ...]
    """Expected demand per interval (kW)."""
    reference_price_cny_per_mwh: tuple[float, ...]
    """Indicative clearing price per interval (CNY/MWh)."""


@dataclass(frozen=True)
class Instruction:
    """An intraday instruction from the market operator or grid company.

    ``target_kw`` holds one non-negative value per listed interval, in ``direction``.
    """

    instruction_id: str
    product: str
    day: date
    direction: Direction
    intervals: tuple[int, ...]
    target_kw: tuple[float, ...]
    issued_at: datetime


class InstructionStatus(StrEnum):
    """The VPP's answer to an intraday instruction."""

    ACCEPTED = "accepted"
    """The whole target is planned."""
    PARTIAL = "partial"
    """Only ``feasible_kw`` of the target can be planned; that much is."""
    REJECTED = "rejected"
    """Nothing changed; ``reason`` says why."""


@dataclass(frozen=True)
class InstructionAnswer:
    """The answer to an `Instruction`, given at once and repeated for a replayed id.

    ``feasible_kw`` holds one non-negative value per interval of the instruction, in its
    direction: what the re-planned pool delivers (the target where accepted).
    """

    instruction_id: str
    status: InstructionStatus
    feasible_kw: tuple[float, ...]
    reason: str = ""
