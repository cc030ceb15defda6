"""What the simulated operator wants of each product on a day: demand and price anchors."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np

from market.simulator.curtailment import (
    HOURS_PER_DAY,
    INTERVALS_PER_DAY,
    SPOT_CAP_CNY_PER_MWH,
    SPOT_FLOOR_CNY_PER_MWH,
    FloatArray,
    GreenMarket,
    PeakShavingMarket,
    Province,
    ProvinceForecast,
    SpotSegment,
    day_rng,
    forecast_day,
    green_supply,
    month_days,
    peak_cut_demand_kw,
    spot_buy_demand_kw,
    spot_reference_price_cny_per_mwh,
    spot_sell_demand_kw,
    valley_fill_demand_kw,
)
from vpp.domain.market import OfferLimits
from vpp.domain.units import Direction

VALLEY_FILL = "peak_shaving.valley_fill"
PEAK_CUT = "peak_shaving.peak_cut"
DEMAND_QUANTUM_KW = 100.0
_FORECAST_CACHE_DAYS = 64


@dataclass(frozen=True)
class ProductDay:
    """One product's day as the operator sees it (``n`` = the product's intervals per day).

    ``anchor_price_cny_per_mwh`` is the price competitors' costs centre on (spot and green
    energy follow the fundamentals); None for services whose costs spread over the whole
    [floor, cap] range (peak shaving). ``fallback_price_cny_per_mwh`` is the reference
    price published where nothing would clear.
    """

    product: str
    day: date
    demand_kw: FloatArray
    anchor_price_cny_per_mwh: FloatArray | None
    fallback_price_cny_per_mwh: FloatArray


def resample(values: FloatArray, n: int) -> FloatArray:
    """``values`` (equal intervals covering one day) as ``n`` equal intervals: block means
    when ``n`` divides the length, repetition when the length divides ``n``, else linear
    interpolation between interval midpoints."""
    m = values.size
    if n == m:
        return values.astype(np.float64)
    if m % n == 0:
        out: FloatArray = values.reshape(n, m // n).mean(axis=1)
        return out
    if n % m == 0:
        return np.repeat(values, n // m).astype(np.float64)
    source = (np.arange(m) + 0.5) / m
    target = (np.arange(n) + 0.5) / n
    return np.interp(target, source, values).astype(np.float64)


def _quantise(values_kw: FloatArray) -> FloatArray:
    out: FloatArray = np.floor(np.clip(values_kw, 0.0, None) / DEMAND_QUANTUM_KW) * (
        DEMAND_QUANTUM_KW
    )
    return out


def _within(prices: FloatArray, limits: OfferLimits) -> FloatArray:
    cap = limits.price_cap_cny_per_mwh
    high = cap if math.isfinite(cap) else np.inf
    out: FloatArray = np.clip(prices, limits.price_floor_cny_per_mwh, high)
    return out


class Scenario:
    """The province model and market sizes behind every product's demand, for one seed.

    Product families are recognised by name: ``peak_shaving.valley_fill`` and
    ``peak_shaving.peak_cut`` (from the curtailment forecast), ``spot.*.buy`` /
    ``spot.*.sell`` (segment demand, fundamental price; ``real_time`` adds forecast
    error), ``green_power.*.buy`` (the green supply) / ``.sell`` (buyers' demand),
    ``*.monthly.*`` (the month's average day). Any other product gets a flat
    ``generic_demand_kw`` and cost-spread prices.
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        province: Province | None = None,
        peak_shaving: PeakShavingMarket | None = None,
        spot: SpotSegment | None = None,
        green: GreenMarket | None = None,
        spot_floor_cny_per_mwh: float = SPOT_FLOOR_CNY_PER_MWH,
        spot_cap_cny_per_mwh: float = SPOT_CAP_CNY_PER_MWH,
        generic_demand_kw: float = 50_000.0,
    ) -> None:
        self.seed = seed
        self.province = province or Province()
        self.peak_shaving = peak_shaving or PeakShavingMarket()
        self.spot = spot or SpotSegment()
        self.green = green or GreenMarket()
        self.spot_floor_cny_per_mwh = spot_floor_cny_per_mwh
        self.spot_cap_cny_per_mwh = spot_cap_cny_per_mwh
        self.generic_demand_kw = generic_demand_kw
        self._forecasts: dict[date, ProvinceForecast] = {}

    def forecast(self, day: date) -> ProvinceForecast:
        """The province forecast of ``day`` (memoised for recent days)."""
        found = self._forecasts.get(day)
        if found is None:
            if len(self._forecasts) >= _FORECAST_CACHE_DAYS:
                self._forecasts.pop(next(iter(self._forecasts)))
            found = self._forecasts[day] = forecast_day(self.seed, day, self.province)
        return found

    def spot_reference(self, day: date) -> FloatArray:
        """Fundamental spot price of ``day`` (CNY/MWh, 96 intervals)."""
        return spot_reference_price_cny_per_mwh(
            self.forecast(day),
            self.spot_floor_cny_per_mwh,
            self.spot_cap_cny_per_mwh,
            province=self.province,
        )

    def product_day(self, product: str, limits: OfferLimits, day: date) -> ProductDay:
        """Demand (kW) and price anchors of ``product`` on ``day`` at the product's resolution."""
        n = limits.intervals_per_day
        parts = product.split(".")
        family = parts[0]
        floor = np.full(n, limits.price_floor_cny_per_mwh)
        if product in (VALLEY_FILL, PEAK_CUT):
            fc = self.forecast(day)
            wanted = (valley_fill_demand_kw if product == VALLEY_FILL else peak_cut_demand_kw)(
                fc, self.province, self.peak_shaving
            )
            return ProductDay(product, day, _quantise(resample(wanted, n)), None, floor)
        if family == "spot":
            return self._spot(product, limits, day, buying=limits.side is Direction.UP)
        if family == "green_power":
            days = month_days(day) if "monthly" in parts else [day]
            return self._green(product, limits, day, days, buying=limits.side is Direction.UP)
        flat = np.full(n, self.generic_demand_kw)
        return ProductDay(product, day, _quantise(flat), None, floor)

    def _spot(self, product: str, limits: OfferLimits, day: date, *, buying: bool) -> ProductDay:
        n = limits.intervals_per_day
        fc = self.forecast(day)
        demand = (spot_buy_demand_kw if buying else spot_sell_demand_kw)(
            fc, self.spot, self.province
        )
        price = self.spot_reference(day)
        if "real_time" in product.split("."):
            # Real time differs from the day-ahead forecast by a forecast error.
            rng = day_rng(self.seed, day, f"{product}/error")
            demand = demand * np.exp(rng.normal(0.0, 0.08, INTERVALS_PER_DAY))
            price = price * np.exp(rng.normal(0.0, 0.10, INTERVALS_PER_DAY))
        anchor = _within(resample(price, n), limits)
        return ProductDay(product, day, _quantise(resample(demand, n)), anchor, anchor)

    def _green(
        self, product: str, limits: OfferLimits, day: date, days: list[date], *, buying: bool
    ) -> ProductDay:
        n = limits.intervals_per_day
        energies: list[FloatArray] = []
        prices: list[FloatArray] = []
        for d in days:
            supply = green_supply(
                self.seed,
                d,
                self.forecast(d) if len(days) == 1 else forecast_day(self.seed, d, self.province),
                green=self.green,
                province=self.province,
                spot_floor_cny_per_mwh=self.spot_floor_cny_per_mwh,
                spot_cap_cny_per_mwh=self.spot_cap_cny_per_mwh,
            )
            energies.append(supply.energy_kwh)
            prices.append(supply.price_cny_per_mwh)
        # An hour's energy in kWh is its mean power in kW.
        supply_kw = np.mean(energies, axis=0)
        price_hourly = np.mean(prices, axis=0)
        if buying:
            demand_hourly = supply_kw
        else:
            rng = day_rng(self.seed, day, f"{product}/buyers")
            level = float(np.clip(rng.normal(1.0, 0.1), 0.7, 1.3))
            demand_hourly = np.full(HOURS_PER_DAY, self.green.buyer_demand_kw * level)
        anchor = _within(resample(price_hourly, n), limits)
        return ProductDay(product, day, _quantise(resample(demand_hourly, n)), anchor, anchor)
