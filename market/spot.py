"""Spot energy packs (day-ahead and real-time, buy and sell) with [C7] price limits."""

from __future__ import annotations

from datetime import time
from typing import ClassVar

from market.packs import LadderPack
from market.rules import LadderRules, Scoring
from vpp.domain.market import Pricing
from vpp.domain.units import Direction


class SpotRules(LadderRules):
    """Defaults of the day-ahead spot products.

    Buying energy raises the pool's net load (UP) and the participant pays: bids fall step by
    step and clear dearest first. Selling lowers it (DOWN) and the participant is paid: offers
    rise and clear cheapest first. Day-ahead offers close at one D-1 gate; real-time offers
    close interval by interval, ``gate_lead_minutes`` before each interval starts.

    Spot is not scored by response rate but by deviation settlement (`market.scoring.
    score_deviation`): the award is a position settled at its price (a seller is paid awarded
    kWh × price; a buyer's bill is left to the clearing), and the deviation |award − delivered|
    (outside the band [penalty_threshold × award, payment_band_upper × award], by default no
    band) is charged at the award's price × ``penalty_factor`` (assumption: Gansu's deviation
    price rules were not found; factor 1 charges deviations at the clearing price).
    """

    # Assumption: 15-min / 96-point norm ([C8], [C-HN]); Gansu spot granularity not verified.
    intervals_per_day: int = 96
    # [C7] Gansu capacity-price draft (2025-07-14): offer floor 0.04 元/kWh, cap 0.5 元/kWh.
    price_floor_cny_per_mwh: float = 40.0
    price_cap_cny_per_mwh: float | None = 500.0
    # [C7]: clearing floor 0.04 元/kWh, clearing cap 1.0 元/kWh.
    clearing_floor_cny_per_mwh: float | None = 40.0
    clearing_cap_cny_per_mwh: float | None = 1000.0
    # Assumption: no published Gansu rule found; any positive multiple of the step.
    min_quantity_kw: float = 0.0
    # Assumption: no published Gansu rule found; 0.1 MW ticks.
    quantity_step_kw: float = 100.0
    # Assumption: no published Gansu rule found; single intervals may be offered.
    min_duration_intervals: int = 1
    # Assumption: no published Gansu rule found.
    max_steps: int = 5
    # Assumption: no Gansu spot gate closure found ([b3]); D-1 10:00 Beijing time.
    gate_day_offset: int = -1
    gate_time_local: time = time(10, 0)
    gate_lead_minutes: int | None = None
    # Assumption: spot clears at a uniform marginal price per interval.
    pricing: Pricing = Pricing.UNIFORM
    # Deviation settlement, see the class docstring.
    scoring: Scoring = Scoring.DEVIATION
    # Assumption: no tolerance band; every kW short of the award is a deviation.
    penalty_threshold: float = 1.0
    # Assumption: deviations charged at the award's price × 1.
    penalty_factor: float = 1.0
    # Assumption: no tolerance band; every kW above the award is a deviation.
    payment_band_upper: float = 1.0


class RealTimeSpotRules(SpotRules):
    """Defaults of the real-time spot products."""

    # Assumption: no published Gansu rule found; each interval closes 60 min before it starts.
    gate_lead_minutes: int | None = 60


class DayAheadBuy(LadderPack):
    """``spot.day_ahead.buy``: buy energy for market day D (UP, participant pays)."""

    product: ClassVar[str] = "spot.day_ahead.buy"
    version: ClassVar[str] = "gansu-2025.1"
    side: ClassVar[Direction] = Direction.UP
    participant_pays: ClassVar[bool] = True
    rules_model: ClassVar[type[LadderRules]] = SpotRules


class DayAheadSell(LadderPack):
    """``spot.day_ahead.sell``: sell energy (consume less or inject) on day D (DOWN, paid)."""

    product: ClassVar[str] = "spot.day_ahead.sell"
    version: ClassVar[str] = "gansu-2025.1"
    side: ClassVar[Direction] = Direction.DOWN
    rules_model: ClassVar[type[LadderRules]] = SpotRules


class RealTimeBuy(LadderPack):
    """``spot.real_time.buy``: buy energy interval by interval (UP, participant pays)."""

    product: ClassVar[str] = "spot.real_time.buy"
    version: ClassVar[str] = "gansu-2025.1"
    side: ClassVar[Direction] = Direction.UP
    participant_pays: ClassVar[bool] = True
    rules_model: ClassVar[type[LadderRules]] = RealTimeSpotRules


class RealTimeSell(LadderPack):
    """``spot.real_time.sell``: sell energy interval by interval (DOWN, paid)."""

    product: ClassVar[str] = "spot.real_time.sell"
    version: ClassVar[str] = "gansu-2025.1"
    side: ClassVar[Direction] = Direction.DOWN
    rules_model: ClassVar[type[LadderRules]] = RealTimeSpotRules
