"""Load-side peak-shaving packs (调峰): valley filling (UP) and peak cutting (DOWN), Gansu."""

from __future__ import annotations

from datetime import time
from typing import ClassVar

from market.packs import LadderPack
from market.rules import LadderRules, Scoring
from vpp.domain.market import Pricing
from vpp.domain.units import Direction


class PeakShavingRules(LadderRules):
    """Defaults shared by both peak-shaving directions.

    Both are supply offers of a service: the aggregator is paid for raising (valley filling,
    when wind and solar would otherwise be curtailed) or lowering (peak cutting, evening peak)
    its net load, scored by response rate with the [C14] penalty. Gansu's 2025-12 ancillary
    rules body was not retrieved, so most numbers follow the nearest published template; the
    source codes refer to market-rules-china.md.
    """

    # 96-point (15-min) metering and settlement: [C8] (Sichuan), [C-HN]; Gansu not verified.
    intervals_per_day: int = 96
    # Set per direction below.
    price_floor_cny_per_mwh: float = 0.0
    price_cap_cny_per_mwh: float | None = None
    # Assumption: no published Gansu clearing limits beyond the offer limits.
    clearing_floor_cny_per_mwh: float | None = None
    clearing_cap_cny_per_mwh: float | None = None
    # [C8] Sichuan: users with >= 1,000 kW response capacity may bid (aggregated minimum).
    min_quantity_kw: float = 1000.0
    # Assumption: no published Gansu rule found; 0.1 MW ticks.
    quantity_step_kw: float = 100.0
    # [C8] Sichuan >= 1 h response, [C9] Hunan >= 1 h continuous response: 4 × 15 min.
    min_duration_intervals: int = 4
    # Assumption: no published Gansu rule found.
    max_steps: int = 5
    # Assumption: no published Gansu gate closure found ([b3]); D-1 10:00 Beijing time.
    gate_day_offset: int = -1
    gate_time_local: time = time(10, 0)
    # Day-ahead product: one gate for the whole day.
    gate_lead_minutes: int | None = None
    # Assumption: uniform marginal pricing; pay-as-bid is configurable.
    pricing: Pricing = Pricing.UNIFORM
    # [C14]: ancillary-service response-rate assessment.
    scoring: Scoring = Scoring.RESPONSE_RATE
    # [C14]: R1 = 50 % of the award.
    penalty_threshold: float = 0.5
    # [C14]: M = 0.5; penalty = (award × R1 − actual) × clearing price × M.
    penalty_factor: float = 0.5
    # Assumption: no published Gansu rule found; delivery above 120 % of the award is unpaid.
    payment_band_upper: float = 1.2


class ValleyFillingRules(PeakShavingRules):
    # [C5] Gansu user-side storage peak-shaving: floor 0.1 元/kWh, cap 0.2 元/kWh
    # (Hainan's day-ahead valley-filling cap is 0.3 元/kWh = 300 CNY/MWh, [C12]).
    price_floor_cny_per_mwh: float = 100.0
    price_cap_cny_per_mwh: float | None = 200.0


class PeakCuttingRules(PeakShavingRules):
    # Assumption: no published floor for load-side peak cutting.
    price_floor_cny_per_mwh: float = 0.0
    # [C12] Hainan day-ahead peak-shaving cap 1.5 元/kWh, used as the template.
    price_cap_cny_per_mwh: float | None = 1500.0


class ValleyFilling(LadderPack):
    """``peak_shaving.valley_fill``: raise net load in renewable-surplus hours (UP, paid)."""

    product: ClassVar[str] = "peak_shaving.valley_fill"
    version: ClassVar[str] = "gansu-2025.1"
    side: ClassVar[Direction] = Direction.UP
    rules_model: ClassVar[type[LadderRules]] = ValleyFillingRules


class PeakCutting(LadderPack):
    """``peak_shaving.peak_cut``: lower net load at the evening peak (DOWN, paid)."""

    product: ClassVar[str] = "peak_shaving.peak_cut"
    version: ClassVar[str] = "gansu-2025.1"
    side: ClassVar[Direction] = Direction.DOWN
    rules_model: ClassVar[type[LadderRules]] = PeakCuttingRules
