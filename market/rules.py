"""The configurable numbers every ladder-bid rule pack shares (units in the field names)."""

from __future__ import annotations

import math
from datetime import time
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, model_validator

from vpp.domain.market import Pricing

MINUTES_PER_DAY = 1440


class Scoring(StrEnum):
    """How delivery against an award is settled (see `market.scoring`)."""

    RESPONSE_RATE = "response_rate"
    """Ancillary-service style: paid for delivery, penalised below a response rate ([C14])."""
    DEVIATION = "deviation"
    """Energy style: the award is the position; deviations outside a band are charged."""


class LadderRules(BaseModel):
    """Every configurable number of a ladder-bid product; product families set the defaults.

    Fields have no defaults here: each family's subclass (`market.peak_shaving`,
    `market.spot`, `market.green_power`) gives every default with a comment citing its
    source in market-rules-china.md, or saying it is an assumption. Unknown keys, NaN and
    infinities are refused, and the numbers are checked for consistency.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    intervals_per_day: int
    """Intervals of one market day (96 = 15 min, 24 = 1 h); must divide 1440 minutes."""
    price_floor_cny_per_mwh: float
    """Lowest price a step may carry (CNY/MWh)."""
    price_cap_cny_per_mwh: float | None
    """Highest price a step may carry (CNY/MWh); None = no cap."""
    clearing_floor_cny_per_mwh: float | None
    """Lowest clearing price (CNY/MWh) the operator publishes; None = no separate limit."""
    clearing_cap_cny_per_mwh: float | None
    """Highest clearing price (CNY/MWh); None = no separate limit."""
    min_quantity_kw: float
    """Smallest non-zero total of one interval's ladder (kW)."""
    quantity_step_kw: float
    """Every step's quantity is a multiple of this (kW; 0 = any)."""
    min_duration_intervals: int
    """Offered intervals come in runs of at least this many consecutive intervals."""
    max_steps: int
    """Most steps one interval's ladder may have."""
    gate_day_offset: int
    """Gate-closure day relative to the market day (-1 = D-1)."""
    gate_time_local: time
    """Gate-closure time of day, Beijing time (naive, read in Asia/Shanghai)."""
    gate_lead_minutes: int | None
    """If set, each interval has its own gate this many minutes before it starts (real time)."""
    pricing: Pricing
    """Uniform marginal pricing or pay-as-bid."""
    scoring: Scoring
    """Response-rate scoring (ancillary services) or deviation settlement (energy)."""
    penalty_threshold: float
    """Response rate (delivered / awarded) below which under-delivery is penalised."""
    penalty_factor: float
    """Multiplier of the penalty: energy short of the threshold × price × factor."""
    payment_band_upper: float
    """Delivery above award × this is not paid (response rate) or is charged (deviation)."""

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        problems: list[str] = []
        n = self.intervals_per_day
        if n <= 0 or MINUTES_PER_DAY % n:
            problems.append(f"intervals_per_day must divide 1440 minutes, got {n}")
        if self.price_floor_cny_per_mwh < 0:
            problems.append("price_floor_cny_per_mwh must be >= 0")
        cap = self.price_cap_cny_per_mwh
        if cap is not None and cap < self.price_floor_cny_per_mwh:
            problems.append(
                f"price_cap_cny_per_mwh {cap:g} is below price_floor_cny_per_mwh "
                f"{self.price_floor_cny_per_mwh:g}"
            )
        low = self.clearing_floor_cny_per_mwh
        high = self.clearing_cap_cny_per_mwh
        if low is not None and high is not None and high < low:
            problems.append(
                f"clearing_cap_cny_per_mwh {high:g} is below clearing_floor_cny_per_mwh {low:g}"
            )
        if self.min_quantity_kw < 0 or self.quantity_step_kw < 0:
            problems.append("min_quantity_kw and quantity_step_kw must be >= 0")
        if self.min_duration_intervals < 1 or self.min_duration_intervals > max(n, 1):
            problems.append(f"min_duration_intervals must be in [1, {n}]")
        if self.max_steps < 1:
            problems.append("max_steps must be >= 1")
        if self.gate_time_local.tzinfo is not None:
            problems.append("gate_time_local must be a naive Beijing time, e.g. 10:00")
        if self.gate_lead_minutes is not None and self.gate_lead_minutes < 0:
            problems.append("gate_lead_minutes must be >= 0")
        if not 0.0 <= self.penalty_threshold <= 1.0:
            problems.append("penalty_threshold must be in [0, 1]")
        if self.penalty_factor < 0:
            problems.append("penalty_factor must be >= 0")
        if self.payment_band_upper < 1.0:
            problems.append("payment_band_upper must be >= 1")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def interval_hours(self) -> float:
        """Length of one interval (h): 0.25 for 96 intervals, 1.0 for 24."""
        return 24.0 / self.intervals_per_day

    @property
    def cap_or_inf(self) -> float:
        """The offer cap (CNY/MWh), +inf when there is none."""
        cap = self.price_cap_cny_per_mwh
        return math.inf if cap is None else cap
