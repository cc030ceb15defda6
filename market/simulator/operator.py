"""The simulated market operator: outlooks, idempotent submissions, clearing, instructions."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Generic, TypeVar

import numpy as np

from market.simulator.competitors import COMPETITOR_PREFIX, competitor_bids
from market.simulator.curtailment import stream
from market.simulator.scenario import ProductDay, Scenario
from vpp.domain.market import (
    Bid,
    Clearing,
    Demand,
    Instruction,
    MarketOutlook,
    Receipt,
    RuleViolation,
)
from vpp.domain.time import day_bounds_utc, ensure_aware
from vpp.ports import Clock, MarketPack

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
"""An idempotency key: 1 to 255 visible ASCII characters (a UUID fits)."""
INSTRUCTION_PREFIX = "peak_shaving."
_MEMO_SIZE = 256
_INSTRUCTION_QUANTUM_KW = 100.0
_INSTRUCTION_NAMESPACE = uuid.UUID("8f5b7a1e-2c1d-4b7e-9a8e-6f0d3c2b1a90")

K = TypeVar("K")
V = TypeVar("V")


class SimulatorError(Exception):
    """Base of the simulated operator's errors."""


class UnknownProductError(SimulatorError, LookupError):
    """No pack is loaded for the product."""

    def __init__(self, product: str, known: Collection[str]) -> None:
        super().__init__(f"unknown product {product!r}; products: {', '.join(sorted(known))}")
        self.product = product


class GateOpenError(SimulatorError):
    """A clearing was asked for a product and day whose gate has not closed yet."""

    def __init__(self, product: str, day: date, gate_closure: datetime, now: datetime) -> None:
        super().__init__(
            f"{product} for {day.isoformat()} cannot be cleared before its gate closes at "
            f"{gate_closure.isoformat()} (now {now.isoformat()})"
        )
        self.product = product
        self.day = day
        self.gate_closure = gate_closure


class InvalidRequestError(SimulatorError, ValueError):
    """A request the market cannot process (a malformed idempotency key, a day the
    product does not trade); ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Submission:
    """A submission's receipt and whether it is the replay of an earlier one (same key)."""

    receipt: Receipt
    replayed: bool


class _Memo(Generic[K, V]):
    """A dict that forgets its oldest entries beyond ``size``."""

    def __init__(self, size: int = _MEMO_SIZE) -> None:
        self.size = size
        self._data: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        return self._data.get(key)

    def put(self, key: K, value: V) -> V:
        if key not in self._data and len(self._data) >= self.size:
            self._data.pop(next(iter(self._data)))
        self._data[key] = value
        return value


class SimulatedMarket:
    """A market operator for every product in ``packs``, on ``clock``'s time.

    - ``outlook``: the day's demand (from the curtailment forecast, `scenario`) and the
      expected clearing price: the competitors' bids cleared against that demand.
    - ``submit``: validated by the pack at ``clock.now()``; the same participant and
      idempotency key return the first receipt and change nothing, even if the body
      differs; a later accepted bid for the same product and day replaces the earlier
      one (a refused one leaves it in place).
    - ``clear``: only after the gate (``now > gate_closure(day)``), competitors included,
      once: clearing again returns the same result. ``clear_due`` clears every product
      and day that has been asked about or bid for and whose gate has passed.
    - ``instructions``: on cleared peak-shaving days, with ``instruction_probability``
      an extra response for 2-6 consecutive intervals of the demand window, issued 30-60
      min ahead to every participant holding awards of that product and day.

    Participant names starting with ``competitor.`` are reserved for the competitors.
    All state lives in memory; every method that touches it takes one asyncio lock, so
    concurrent requests see a consistent market. Randomness is deterministic per
    ``(seed, product, day)``.
    """

    def __init__(
        self,
        packs: Mapping[str, MarketPack],
        clock: Clock,
        seed: int = 0,
        *,
        scenario: Scenario | None = None,
        competitors: int = 10,
        instruction_products: Collection[str] | None = None,
        instruction_probability: float = 0.5,
    ) -> None:
        for name, pack in packs.items():
            if pack.product != name:
                raise ValueError(f"pack for {pack.product!r} registered as {name!r}")
        if not 0.0 <= instruction_probability <= 1.0:
            raise ValueError("instruction_probability must be in [0, 1]")
        self.packs = dict(packs)
        self.clock = clock
        self.seed = seed
        self.scenario = scenario or _spot_scenario(seed, self.packs)
        self.competitor_count = competitors
        self.instruction_products = frozenset(
            instruction_products
            if instruction_products is not None
            else (p for p in self.packs if p.startswith(INSTRUCTION_PREFIX))
        )
        self.instruction_probability = instruction_probability
        self._lock = asyncio.Lock()
        self._receipts: dict[tuple[str, str], Receipt] = {}
        self._history: dict[str, list[Receipt]] = {}
        self._bids: dict[tuple[str, date], dict[str, Bid]] = {}
        self._clearings: dict[tuple[str, date], Clearing] = {}
        self._instructions: dict[tuple[str, date], tuple[tuple[str, Instruction], ...]] = {}
        self._pending: set[tuple[str, date]] = set()
        self._product_days: _Memo[tuple[str, date], ProductDay] = _Memo()
        self._competitors: _Memo[tuple[str, date], tuple[Bid, ...]] = _Memo()
        self._outlooks: _Memo[tuple[str, date], MarketOutlook] = _Memo()

    # -- look-ups (pure, no lock needed) -------------------------------------------------

    @property
    def products(self) -> tuple[str, ...]:
        """Every product traded, sorted."""
        return tuple(sorted(self.packs))

    def pack(self, product: str) -> MarketPack:
        """The rule pack of ``product``; UnknownProductError if none is loaded."""
        found = self.packs.get(product)
        if found is None:
            raise UnknownProductError(product, self.packs)
        return found

    def product_day(self, product: str, day: date) -> ProductDay:
        """Demand (kW) and price anchors (CNY/MWh) of ``product`` on ``day``."""
        key = (product, day)
        found = self._product_days.get(key)
        if found is None:
            pack = self.pack(product)
            found = self._product_days.put(
                key, self.scenario.product_day(product, pack.limits(), day)
            )
        return found

    def demand(self, product: str, day: date) -> Demand:
        """What the operator buys (or sells) of ``product`` on ``day``, per interval (kW)."""
        wanted = self.product_day(product, day).demand_kw
        return Demand(product, day, tuple(float(q) for q in wanted))

    def competitor_bids(self, product: str, day: date) -> tuple[Bid, ...]:
        """The synthetic competitors' bids for ``product`` on ``day`` (valid for its pack)."""
        key = (product, day)
        found = self._competitors.get(key)
        if found is None:
            pack = self.pack(product)
            plan = self.product_day(product, day)
            bids = competitor_bids(
                self.seed,
                product,
                day,
                pack.limits(),
                plan.demand_kw,
                plan.anchor_price_cny_per_mwh,
                descending=_participant_pays(pack),
                size=self.competitor_count,
            )
            found = self._competitors.put(key, tuple(bids))
        return found

    # -- the operator's services ----------------------------------------------------------

    async def outlook(self, product: str, day: date) -> MarketOutlook:
        """Published demand (kW) and indicative clearing prices (CNY/MWh) of a product's day.

        The indicative price of an interval is the competitors' clearing price against
        the demand; where nothing would clear, the scenario's fallback (the floor for
        services, the fundamental price for energy).
        """
        pack = self.pack(product)
        async with self._lock:
            found = self._outlooks.get((product, day))
            if found is None:
                expected = self._clear_pack(pack, day, self.competitor_bids(product, day))
                plan = self.product_day(product, day)
                prices = np.asarray(expected.clearing_price_cny_per_mwh, dtype=np.float64)
                reference = np.where(np.isnan(prices), plan.fallback_price_cny_per_mwh, prices)
                found = self._outlooks.put(
                    (product, day),
                    MarketOutlook(
                        product=product,
                        day=day,
                        gate_closure=pack.gate_closure(day),
                        demand_kw=expected.demand_kw,
                        reference_price_cny_per_mwh=tuple(float(p) for p in reference),
                    ),
                )
            if (product, day) not in self._clearings:
                self._pending.add((product, day))
            return found

    async def submit(self, bid: Bid, idempotency_key: str) -> Receipt:
        """Validate and record ``bid``; see ``submit_or_replay``."""
        return (await self.submit_or_replay(bid, idempotency_key)).receipt

    async def submit_or_replay(self, bid: Bid, idempotency_key: str) -> Submission:
        """Record ``bid`` under ``(bid.participant, idempotency_key)`` or replay that key.

        A replay returns the first receipt whatever the body now says. Otherwise the pack
        validates the bid at ``clock.now()``; the market adds ``participant`` (a reserved
        competitor name) and ``market_cleared`` (the day is already cleared). An accepted
        bid replaces the participant's earlier bid for the product and day. Raises
        InvalidRequestError for a malformed key, UnknownProductError for an unknown product.
        """
        if not IDEMPOTENCY_KEY_PATTERN.fullmatch(idempotency_key):
            raise InvalidRequestError(
                "Idempotency-Key", "must be 1 to 255 visible ASCII characters (e.g. a UUID)"
            )
        async with self._lock:
            first = self._receipts.get((bid.participant, idempotency_key))
            if first is not None:
                return Submission(first, replayed=True)
            pack = self.pack(bid.product)
            now = self.clock.now()
            violations = list(pack.validate(bid, now))
            if bid.participant.startswith(COMPETITOR_PREFIX):
                violations.append(
                    RuleViolation(
                        "participant",
                        "participant",
                        f"names starting with {COMPETITOR_PREFIX!r} are reserved for the "
                        "simulated competitors",
                    )
                )
            key = (bid.product, bid.day)
            if key in self._clearings:
                violations.append(
                    RuleViolation(
                        "market_cleared",
                        "day",
                        f"{bid.product} for {bid.day.isoformat()} is already cleared",
                    )
                )
            receipt = Receipt(
                receipt_id=str(uuid.uuid4()),
                product=bid.product,
                day=bid.day,
                participant=bid.participant,
                received_at=now,
                accepted=not violations,
                violations=tuple(violations),
            )
            self._receipts[(bid.participant, idempotency_key)] = receipt
            self._history.setdefault(bid.participant, []).append(receipt)
            if receipt.accepted:
                self._bids.setdefault(key, {})[bid.participant] = replace(bid, submitted_at=now)
            if key not in self._clearings:
                self._pending.add(key)
            return Submission(receipt, replayed=False)

    async def clear(self, product: str, day: date) -> Clearing:
        """Clear ``product`` for ``day`` (every participant's awards); the same result on
        every call. GateOpenError before the gate has closed."""
        pack = self.pack(product)
        async with self._lock:
            return self._clear(pack, day)

    async def clearing(self, product: str, day: date, participant: str) -> Clearing | None:
        """The cleared day with ``participant``'s awards only; None before clearing."""
        self.pack(product)
        async with self._lock:
            found = self._clearings.get((product, day))
        if found is None:
            return None
        return replace(found, awards=found.awards_of(participant))

    async def clear_due(self) -> list[Clearing]:
        """Clear every pending product and day whose gate has passed; the new clearings."""
        done: list[Clearing] = []
        async with self._lock:
            now = self.clock.now()
            for product, day in sorted(self._pending):
                pack = self.packs[product]
                if now <= pack.gate_closure(day):
                    continue
                try:
                    done.append(self._clear(pack, day))
                except InvalidRequestError as exc:
                    log.warning("cannot clear %s for %s: %s", product, day, exc)
                    self._pending.discard((product, day))
        return done

    async def instructions(
        self, since: datetime, participant: str | None = None
    ) -> list[Instruction]:
        """Instructions issued after ``since`` and by now, oldest first; only those
        addressed to ``participant`` unless it is None (the operator's view)."""
        since = ensure_aware(since, "since")
        async with self._lock:
            now = self.clock.now()
            found = [
                instruction
                for issued in self._instructions.values()
                for holder, instruction in issued
                if (participant is None or holder == participant)
                and since < instruction.issued_at <= now
            ]
        return sorted(found, key=lambda i: (i.issued_at, i.instruction_id))

    async def receipts(self, participant: str) -> list[Receipt]:
        """Every receipt ``participant`` was given (replays excluded), oldest first."""
        async with self._lock:
            return list(self._history.get(participant, ()))

    async def accepted_bid(self, product: str, day: date, participant: str) -> Bid | None:
        """The bid of ``participant`` that stands for ``product`` and ``day``, if any."""
        async with self._lock:
            return self._bids.get((product, day), {}).get(participant)

    # -- internals (lock held) -------------------------------------------------------------

    def _clear_pack(self, pack: MarketPack, day: date, bids: Collection[Bid]) -> Clearing:
        try:
            return pack.clear(self.demand(pack.product, day), list(bids))
        except ValueError as exc:
            raise InvalidRequestError("day", str(exc)) from exc

    def _clear(self, pack: MarketPack, day: date) -> Clearing:
        key = (pack.product, day)
        done = self._clearings.get(key)
        if done is not None:
            return done
        now = self.clock.now()
        gate = pack.gate_closure(day)
        if now <= gate:
            raise GateOpenError(pack.product, day, gate, now)
        standing = self._bids.get(key, {})
        bids = [*self.competitor_bids(pack.product, day), *(standing[p] for p in sorted(standing))]
        clearing = self._clear_pack(pack, day, bids)
        self._clearings[key] = clearing
        self._pending.discard(key)
        self._instructions[key] = self._draw_instructions(pack, clearing)
        return clearing

    def _draw_instructions(
        self, pack: MarketPack, clearing: Clearing
    ) -> tuple[tuple[str, Instruction], ...]:
        """At most one event per product and day: the window and timing depend on the seed
        and day only, each addressee's target on its awards (kW, 10-30 % of its largest)."""
        if pack.product not in self.instruction_products:
            return ()
        limits = pack.limits()
        n = limits.intervals_per_day
        day = clearing.day
        rng = np.random.default_rng(stream(self.seed, pack.product, day.toordinal(), "instr"))
        happens = rng.uniform() < self.instruction_probability
        length = int(rng.integers(2, 7))
        lead_intervals = int(rng.integers(2, 5))
        fraction = float(rng.uniform(0.1, 0.3))
        pick = float(rng.uniform())
        window = np.flatnonzero(np.asarray(clearing.demand_kw) > 0)
        if not happens or window.size == 0:
            return ()
        start = int(window[min(int(pick * window.size), window.size - 1)])
        intervals = tuple(range(start, min(n, start + length)))
        step = timedelta(minutes=1440 // n)
        issued_at = day_bounds_utc(day)[0] + start * step - lead_intervals * timedelta(minutes=15)
        largest: dict[str, float] = {}
        per_interval: dict[tuple[str, int], float] = {}
        for award in clearing.awards:
            if award.participant.startswith(COMPETITOR_PREFIX):
                continue
            slot = (award.participant, award.interval)
            per_interval[slot] = per_interval.get(slot, 0.0) + award.quantity_kw
        for (holder, _), kw in per_interval.items():
            largest[holder] = max(largest.get(holder, 0.0), kw)
        out: list[tuple[str, Instruction]] = []
        for holder in sorted(largest):
            target = max(
                _INSTRUCTION_QUANTUM_KW,
                math.floor(fraction * largest[holder] / _INSTRUCTION_QUANTUM_KW)
                * _INSTRUCTION_QUANTUM_KW,
            )
            name = f"{self.seed}/{pack.product}/{day.isoformat()}/{holder}"
            out.append(
                (
                    holder,
                    Instruction(
                        instruction_id=str(uuid.uuid5(_INSTRUCTION_NAMESPACE, name)),
                        product=pack.product,
                        day=day,
                        direction=limits.side,
                        intervals=intervals,
                        target_kw=tuple(target for _ in intervals),
                        issued_at=issued_at,
                    ),
                )
            )
        return tuple(out)


def _participant_pays(pack: MarketPack) -> bool:
    """Whether the pack's bids are demand bids (dearest first, falling ladders), read
    from ``describe()["merit_order"]``; supply offers when the pack does not say."""
    return pack.describe().get("merit_order") == "highest_price_first"


def _spot_scenario(seed: int, packs: Mapping[str, MarketPack]) -> Scenario:
    """The default scenario, its fundamental spot prices within the floor and cap (CNY/MWh)
    of the first spot pack loaded (the scenario's defaults otherwise)."""
    for name in sorted(packs):
        if name.startswith("spot."):
            limits = packs[name].limits()
            if math.isfinite(limits.price_cap_cny_per_mwh):
                return Scenario(
                    seed,
                    spot_floor_cny_per_mwh=limits.price_floor_cny_per_mwh,
                    spot_cap_cny_per_mwh=limits.price_cap_cny_per_mwh,
                )
    return Scenario(seed)
