"""Green-power packs (绿电, wind/solar energy with its certificates): day-ahead and monthly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar, Self

from pydantic import model_validator

from market import gates
from market.packs import LadderPack
from market.rules import LadderRules, Scoring
from vpp.domain.market import Bid, Clearing, Demand, Pricing, RuleViolation
from vpp.domain.units import Direction


class GreenRules(LadderRules):
    """Defaults of the day-ahead green-power products.

    ``price_floor_cny_per_mwh`` defaults to benchmark × (1 − band) ([C18b]), computed from
    the (possibly overridden) benchmark and band when not given.
    """

    # ASSUMPTION to re-verify: Gansu coal-fired benchmark price 0.3078 元/kWh; the
    # reference notes do not carry it.
    benchmark_cny_per_mwh: float = 307.8
    # [C18b] (Anhui pilot): energy price within benchmark ± 20 %.
    energy_price_band: float = 0.2
    # [C18b]: no cap on the green premium, hence no cap on the all-in price.
    price_cap_cny_per_mwh: float | None = None
    # Assumption: no published clearing limits for green power.
    clearing_floor_cny_per_mwh: float | None = None
    clearing_cap_cny_per_mwh: float | None = None
    # Hourly green-power products (one trade volume per hour).
    intervals_per_day: int = 24
    # Assumption: no published Gansu green-power rule found.
    min_quantity_kw: float = 0.0
    # Assumption: no published Gansu rule found; 0.1 MWh per hour.
    quantity_step_kw: float = 100.0
    # Assumption: no published Gansu rule found; single hours may be offered.
    min_duration_intervals: int = 1
    # Assumption: no published Gansu rule found.
    max_steps: int = 5
    # Assumption: no published Gansu green gate found; D-1 10:00 Beijing time.
    gate_day_offset: int = -1
    gate_time_local: time = time(10, 0)
    gate_lead_minutes: int | None = None
    # Assumption: matched trades are settled at their own prices.
    pricing: Pricing = Pricing.PAY_AS_BID
    # Energy product: deviation settlement like spot.
    scoring: Scoring = Scoring.DEVIATION
    # Assumption: no tolerance band, deviations charged at the trade price × 1.
    penalty_threshold: float = 1.0
    penalty_factor: float = 1.0
    payment_band_upper: float = 1.0

    @model_validator(mode="before")
    @classmethod
    def _derive_floor(cls, data: Any) -> Any:
        if isinstance(data, dict) and "price_floor_cny_per_mwh" not in data:
            fields = cls.model_fields
            benchmark = data.get("benchmark_cny_per_mwh", fields["benchmark_cny_per_mwh"].default)
            band = data.get("energy_price_band", fields["energy_price_band"].default)
            if isinstance(benchmark, int | float) and isinstance(band, int | float):
                data = {**data, "price_floor_cny_per_mwh": benchmark * (1.0 - band)}
        return data

    @model_validator(mode="after")
    def _check_band(self) -> Self:
        if self.benchmark_cny_per_mwh <= 0 or not 0 <= self.energy_price_band < 1:
            raise ValueError("benchmark_cny_per_mwh must be > 0 and energy_price_band in [0, 1)")
        return self


class MonthlyGreenRules(GreenRules):
    """Defaults of the monthly green-power product (a typical-day profile for a month)."""

    # Assumption: no published Gansu rule found; the gate is the 25th of the previous
    # month at 10:00 Beijing time.
    gate_day_of_previous_month: int | None = 25
    # Used only when gate_day_of_previous_month is None: days from the first day of the
    # delivery month (assumption: 5 days before).
    gate_day_offset: int = -5

    @model_validator(mode="after")
    def _check_gate_day(self) -> Self:
        day = self.gate_day_of_previous_month
        if day is not None and not 1 <= day <= 31:
            raise ValueError(f"gate_day_of_previous_month must be in [1, 31], got {day}")
        return self


@dataclass(frozen=True)
class GreenMatch:
    """One matched hour of green power: everything a green-power record needs."""

    product: str
    participant: str
    side: Direction
    day: date
    interval: int
    """Interval (the hour, for 24-interval products) of ``day``, Beijing time."""
    energy_kwh: float
    price_cny_per_mwh: float
    """All-in price = energy price + premium."""
    energy_price_cny_per_mwh: float
    premium_cny_per_mwh: float


def split_green_price(
    price_cny_per_mwh: float, benchmark_cny_per_mwh: float
) -> tuple[float, float]:
    """(energy price, green premium) of an all-in price (CNY/MWh).

    Assumption: a bid carries one all-in price, so the premium is taken as the part above
    the benchmark and the energy price as the rest (at most the benchmark). A trade priced
    at or below the benchmark carries no premium.
    """
    premium = max(price_cny_per_mwh - benchmark_cny_per_mwh, 0.0)
    return price_cny_per_mwh - premium, premium


class GreenPack(LadderPack):
    """Hourly green-power product; adds the price split and the matched-volume records.

    A step's price is the all-in price = energy price + green
    premium ([C18b]): the energy price lies within the coal benchmark ± 20 % and the premium
    has no cap, so an offer may not go below benchmark × (1 − band) and has no price cap.
    Buying (UP: the participant buys wind/solar energy with its GECs) clears against the green
    supply on offer, dearest bid first; selling (DOWN: on-site PV surplus) clears cheapest
    first. Delivery is settled by deviation, like spot (`market.scoring.score_deviation`).

    Matched volumes become green-power records: `GreenPack.matches` turns a clearing's awards
    into kWh per participant, day and hour with the price split into energy and premium, and
    `market.certificates.certificates_for` counts the GECs of monthly totals.
    """

    rules: GreenRules

    def delivery_days(self, day: date) -> list[date]:
        """The days an award for market day ``day`` is delivered on: that day alone."""
        return [day]

    def matches(self, clearing: Clearing) -> list[GreenMatch]:
        """Every award of ``clearing`` as kWh per participant, delivery day and interval."""
        if clearing.product != self.product:
            raise ValueError(f"clearing is for {clearing.product!r}, not {self.product!r}")
        hours = self.interval_hours
        out: list[GreenMatch] = []
        for award in clearing.awards:
            energy, premium = split_green_price(
                award.price_cny_per_mwh, self.rules.benchmark_cny_per_mwh
            )
            out.extend(
                GreenMatch(
                    product=self.product,
                    participant=award.participant,
                    side=self.side,
                    day=day,
                    interval=award.interval,
                    energy_kwh=award.quantity_kw * hours,
                    price_cny_per_mwh=award.price_cny_per_mwh,
                    energy_price_cny_per_mwh=energy,
                    premium_cny_per_mwh=premium,
                )
                for day in self.delivery_days(clearing.day)
            )
        return out


class DayAheadGreenBuy(GreenPack):
    """``green_power.day_ahead.buy``: buy wind/solar energy with its GECs (UP, pays)."""

    product: ClassVar[str] = "green_power.day_ahead.buy"
    version: ClassVar[str] = "gansu-2025.1"
    side: ClassVar[Direction] = Direction.UP
    participant_pays: ClassVar[bool] = True
    rules_model: ClassVar[type[LadderRules]] = GreenRules


class DayAheadGreenSell(GreenPack):
    """``green_power.day_ahead.sell``: sell on-site PV surplus as green power (DOWN, paid)."""

    product: ClassVar[str] = "green_power.day_ahead.sell"
    version: ClassVar[str] = "gansu-2025.1"
    side: ClassVar[Direction] = Direction.DOWN
    rules_model: ClassVar[type[LadderRules]] = GreenRules


class MonthlyGreenBuy(GreenPack):
    """``green_power.monthly.buy``: a month of green power bought as a typical-day profile.

    ``Bid.day`` (and ``Demand.day``) is the first day of the delivery month; the hourly
    volumes apply to every day of that month. Product-specific rule ``delivery_month``
    (field ``day``): the day must be a month's first day.
    """

    product: ClassVar[str] = "green_power.monthly.buy"
    version: ClassVar[str] = "gansu-2025.1"
    side: ClassVar[Direction] = Direction.UP
    participant_pays: ClassVar[bool] = True
    rules_model: ClassVar[type[LadderRules]] = MonthlyGreenRules
    rules: MonthlyGreenRules

    def gate_closure(self, day: date) -> datetime:
        """The gate (UTC) for the month of ``day``: by default the 25th of the month before."""
        return gates.month_gate(
            day,
            self.rules.gate_time_local,
            day_of_previous_month=self.rules.gate_day_of_previous_month,
            day_offset=self.rules.gate_day_offset,
        )

    def check_product(self, bid: Bid) -> list[RuleViolation]:
        if bid.day.day != 1:
            return [
                RuleViolation(
                    "delivery_month",
                    "day",
                    f"monthly bids name the first day of the delivery month "
                    f"({bid.day.replace(day=1)}), got {bid.day}",
                )
            ]
        return []

    def clear(self, demand: Demand, bids: Sequence[Bid]) -> Clearing:
        """Clear the month's typical day; ``demand.day`` must be the month's first day."""
        if demand.day.day != 1:
            raise ValueError(
                f"monthly demand must name the first day of the month, got {demand.day}"
            )
        return super().clear(demand, bids)

    def delivery_days(self, day: date) -> list[date]:
        """Every day of the month starting on ``day``."""
        first = gates.month_start(day)
        return [first + timedelta(days=d) for d in range(gates.days_in_month(first))]
