"""A Gansu-like province's renewable-curtailment forecast and the market demand it implies."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

INTERVALS_PER_DAY = 96
INTERVALS_PER_HOUR = 4
HOURS_PER_DAY = 24
_MIDPOINT_HOURS: FloatArray = (np.arange(INTERVALS_PER_DAY, dtype=np.float64) + 0.5) / 4.0

# Spot offer limits used when no spot pack is at hand: 0.04 and 0.5 CNY/kWh, the
# Gansu capacity-price draft of 2025-07-14 ([C7] in market-rules-china.md, section b3).
SPOT_FLOOR_CNY_PER_MWH = 40.0
SPOT_CAP_CNY_PER_MWH = 500.0


def stream(*parts: int | str) -> list[int]:
    """Entropy for ``numpy.random.default_rng`` from ints and strings, stable across runs.

    Strings go through CRC-32 (Python's ``hash`` is salted per process).
    """
    return [p if isinstance(p, int) else zlib.crc32(p.encode()) for p in parts]


def day_rng(seed: int, day: date, purpose: str) -> np.random.Generator:
    """The random stream of one purpose on one day: the same for the same (seed, day)."""
    return np.random.default_rng(stream(seed, day.toordinal(), purpose))


@dataclass(frozen=True)
class Province:
    """A Gansu-like province: wind-heavy, large solar, exporting over UHVDC (all kW).

    Round numbers of the right order for Gansu (about 30 GW wind, 38 GW solar, a 20 GW
    peak load, 8-12 GW of export); an assumption, not published data.
    """

    latitude_deg: float = 39.0
    """Hexi corridor (Zhangye is at 38.9 N)."""
    longitude_deg: float = 100.5
    """Solar noon is about 13:18 Beijing time at this longitude."""
    wind_capacity_kw: float = 30e6
    solar_capacity_kw: float = 38e6
    peak_load_kw: float = 20e6
    must_run_kw: float = 6e6
    """Thermal units that cannot go lower (heat supply, reserve)."""
    export_day_kw: float = 12e6
    """Export from 07:00 to 24:00, when the receiving provinces need it."""
    export_night_kw: float = 8e6
    """Export from 00:00 to 07:00."""
    storage_charge_kw: float = 3e6
    """Grid-side storage charging from the surplus between 09:00 and 17:00."""
    firm_capacity_kw: float = 30e6
    """Dispatchable capacity (thermal, hydro, storage discharge) for the residual load."""


@dataclass(frozen=True)
class ProvinceForecast:
    """One day's forecast of the province (96 values each, kW).

    ``residual_load_kw`` = load + export - wind - solar: what dispatchable units must
    cover (negative when renewables exceed it). ``curtailment_kw`` is the renewable output
    the grid cannot take: wind + solar + must-run - load - export - storage charging,
    where positive.
    """

    day: date
    load_kw: FloatArray
    wind_kw: FloatArray
    solar_kw: FloatArray
    export_kw: FloatArray
    residual_load_kw: FloatArray
    curtailment_kw: FloatArray
    clearness: float
    """Daily clear-sky index of the solar forecast (0 overcast .. 1 clear)."""
    wind_capacity_factor: float
    """Daily mean wind capacity factor."""


def solar_capacity_factor(day: date, clearness: float, province: Province) -> FloatArray:
    """PV output per unit of installed capacity for each interval (0..1).

    Cosine of the solar zenith angle (Cooper's declination, local solar time from the
    longitude, equation of time neglected) raised to 0.7 to mimic tilted modules, times
    0.85 (inverter and temperature losses) and the day's clearness.
    """
    doy = day.timetuple().tm_yday
    declination = math.radians(23.44) * math.sin(2 * math.pi * (284 + doy) / 365)
    latitude = math.radians(province.latitude_deg)
    solar_time_h = _MIDPOINT_HOURS + (province.longitude_deg - 120.0) / 15.0
    hour_angle = np.radians(15.0 * (solar_time_h - 12.0))
    cos_zenith = math.sin(latitude) * math.sin(declination) + math.cos(latitude) * math.cos(
        declination
    ) * np.cos(hour_angle)
    shape: FloatArray = np.power(np.clip(cos_zenith, 0.0, None), 0.7)
    return 0.85 * clearness * shape


def forecast_day(seed: int, day: date, province: Province | None = None) -> ProvinceForecast:
    """The province's forecast for market ``day``, deterministic per ``(seed, day)``.

    A deliberately simple model that only has to get the *shapes* right: curtailment at
    midday on sunny days and on windy nights (wind in the Hexi corridor peaks at night),
    an evening peak (18:00-22:00) once solar has gone and load is highest. Arrays hold one
    value per 15-minute interval of the Beijing-time day (interval ``k`` starts at
    00:00 + 15·k local), in kW.

    Daily draws: clearness ~ Beta(5, 2) (Gansu is sunny), mean wind capacity factor ~
    0.55·Beta(1.6, 3) (calm days and storms), a load level of ±3 %. Wind peaks at night
    (+35 % at 03:00) with a smooth AR(1) wobble; load has a morning and a larger evening
    peak, 5 % more in winter and summer, 5 % less at weekends.
    """
    p = province or Province()
    rng = day_rng(seed, day, "province")
    clearness = float(rng.beta(5.0, 2.0))
    wind_cf_mean = float(0.55 * rng.beta(1.6, 3.0))
    load_level = float(1.0 + rng.normal(0.0, 0.03))
    wobble = np.empty(INTERVALS_PER_DAY)
    state = 0.0
    for k, shock in enumerate(rng.normal(0.0, 0.06, INTERVALS_PER_DAY)):
        state = 0.95 * state + float(shock)
        wobble[k] = state

    hours = _MIDPOINT_HOURS
    diurnal_wind = 1.0 + 0.35 * np.cos(2 * np.pi * (hours - 3.0) / HOURS_PER_DAY)
    wind_cf = np.clip(wind_cf_mean * diurnal_wind * np.exp(wobble), 0.0, 0.95)
    wind_kw = wind_cf * p.wind_capacity_kw
    solar_kw = solar_capacity_factor(day, clearness, p) * p.solar_capacity_kw

    season = 1.05 if day.month in (12, 1, 2, 7, 8) else 1.0
    weekend = 0.95 if day.weekday() >= 5 else 1.0
    shape = (
        0.70
        + 0.12 * np.exp(-0.5 * ((hours - 10.0) / 1.8) ** 2)
        + 0.30 * np.exp(-0.5 * ((hours - 20.0) / 1.5) ** 2)
    )
    load_kw = p.peak_load_kw * season * weekend * load_level * shape
    export_kw = np.where(hours < 7.0, p.export_night_kw, p.export_day_kw)
    storage_kw = np.where((hours >= 9.0) & (hours < 17.0), p.storage_charge_kw, 0.0)

    residual_kw = load_kw + export_kw - wind_kw - solar_kw
    surplus_kw = wind_kw + solar_kw + p.must_run_kw - load_kw - export_kw - storage_kw
    curtailment_kw = np.clip(surplus_kw, 0.0, wind_kw + solar_kw)
    return ProvinceForecast(
        day=day,
        load_kw=load_kw,
        wind_kw=wind_kw,
        solar_kw=solar_kw,
        export_kw=export_kw,
        residual_load_kw=residual_kw,
        curtailment_kw=curtailment_kw,
        clearness=clearness,
        wind_capacity_factor=wind_cf_mean,
    )


@dataclass(frozen=True)
class PeakShavingMarket:
    """How the operator turns the forecast into load-side peak-shaving demand (kW).

    Sizes are an assumption: tens of MW, the scale of Gansu's VPP target of 250 MW by
    2027 ([C2a] in market-rules-china.md, section b2).
    """

    valley_fill_share: float = 0.02
    """Share of the forecast curtailment bought as valley filling (填谷)."""
    valley_fill_cap_kw: float = 120_000.0
    peak_cut_base_kw: float = 25_000.0
    """Peak cutting (削峰) always wanted at the evening peak, shaped to peak at 20:00."""
    peak_cut_share: float = 0.01
    """Share of the residual load above ``tight_fraction`` of firm capacity added to it."""
    peak_cut_cap_kw: float = 120_000.0
    tight_fraction: float = 0.85
    evening_start_interval: int = 72
    """18:00 Beijing time."""
    evening_end_interval: int = 88
    """22:00 Beijing time (exclusive)."""
    quantum_kw: float = 100.0
    """Demand is rounded down to a multiple of this."""


def evening_mask(market: PeakShavingMarket | None = None) -> BoolArray:
    """True for the intervals of the evening peak window (18:00-22:00 by default)."""
    m = market or PeakShavingMarket()
    k = np.arange(INTERVALS_PER_DAY)
    mask: BoolArray = (k >= m.evening_start_interval) & (k < m.evening_end_interval)
    return mask


def _round_down(values_kw: FloatArray, quantum_kw: float) -> FloatArray:
    if quantum_kw <= 0:
        return values_kw
    rounded: FloatArray = np.floor(values_kw / quantum_kw + 1e-9) * quantum_kw
    return rounded


def valley_fill_demand_kw(
    forecast: ProvinceForecast,
    province: Province | None = None,
    market: PeakShavingMarket | None = None,
) -> FloatArray:
    """Valley-filling demand (kW, 96): a share of the curtailment, zero where none is forecast."""
    m = market or PeakShavingMarket()
    wanted = np.minimum(m.valley_fill_share * forecast.curtailment_kw, m.valley_fill_cap_kw)
    return _round_down(np.where(forecast.curtailment_kw > 0, wanted, 0.0), m.quantum_kw)


def peak_cut_demand_kw(
    forecast: ProvinceForecast,
    province: Province | None = None,
    market: PeakShavingMarket | None = None,
) -> FloatArray:
    """Peak-cutting demand (kW, 96): only in the evening window and where nothing is curtailed.

    A base amount shaped like the evening peak (60 % at the window's edges, 100 % in its
    middle) plus a share of the residual load above ``tight_fraction`` of firm capacity.
    """
    p = province or Province()
    m = market or PeakShavingMarket()
    window = evening_mask(m)
    length = m.evening_end_interval - m.evening_start_interval
    position = (np.arange(INTERVALS_PER_DAY) - m.evening_start_interval + 0.5) / max(length, 1)
    bump = 0.6 + 0.4 * np.sin(np.pi * np.clip(position, 0.0, 1.0))
    tight_kw = np.clip(forecast.residual_load_kw - m.tight_fraction * p.firm_capacity_kw, 0, None)
    wanted = np.minimum(m.peak_cut_base_kw * bump + m.peak_cut_share * tight_kw, m.peak_cut_cap_kw)
    active = window & (forecast.curtailment_kw <= 0)
    return _round_down(np.where(active, wanted, 0.0), m.quantum_kw)


def tightness(forecast: ProvinceForecast, province: Province | None = None) -> FloatArray:
    """Residual load over firm capacity (96; below 0 when renewables exceed load + export)."""
    p = province or Province()
    ratio: FloatArray = forecast.residual_load_kw / p.firm_capacity_kw
    return ratio


def spot_reference_price_cny_per_mwh(
    forecast: ProvinceForecast,
    floor_cny_per_mwh: float = SPOT_FLOOR_CNY_PER_MWH,
    cap_cny_per_mwh: float = SPOT_CAP_CNY_PER_MWH,
    province: Province | None = None,
) -> FloatArray:
    """Fundamental spot price per interval (CNY/MWh, 96), within [floor, cap].

    The floor wherever renewables are curtailed; otherwise rising with the tightness x =
    residual load / firm capacity as floor + (cap - floor)·clip((x - 0.35) / 0.75, 0, 1)^1.6:
    low at the midday solar surplus, near the cap at a calm evening peak.
    """
    x = tightness(forecast, province)
    scarcity = np.clip((x - 0.35) / 0.75, 0.0, 1.0) ** 1.6
    price = floor_cny_per_mwh + (cap_cny_per_mwh - floor_cny_per_mwh) * scarcity
    result: FloatArray = np.where(forecast.curtailment_kw > 0, floor_cny_per_mwh, price)
    return result


@dataclass(frozen=True)
class SpotSegment:
    """The slice of the spot market that aggregators, storage and small plants trade in (kW)."""

    size_kw: float = 150_000.0
    base_share: float = 0.2
    """Share of ``size_kw`` traded in every interval; the rest follows the tightness."""


def spot_sell_demand_kw(
    forecast: ProvinceForecast,
    segment: SpotSegment | None = None,
    province: Province | None = None,
) -> FloatArray:
    """What the market buys from the segment's sellers (kW, 96): most at the evening peak."""
    s = segment or SpotSegment()
    x = np.clip(tightness(forecast, province), 0.0, 1.0)
    result: FloatArray = np.round(s.size_kw * (s.base_share + (1.0 - s.base_share) * x), -2)
    return result


def spot_buy_demand_kw(
    forecast: ProvinceForecast,
    segment: SpotSegment | None = None,
    province: Province | None = None,
) -> FloatArray:
    """What the market sells to the segment's buyers (kW, 96): most at the midday surplus."""
    s = segment or SpotSegment()
    u = np.clip(1.0 - tightness(forecast, province), 0.0, 1.0)
    result: FloatArray = np.round(s.size_kw * (s.base_share + (1.0 - s.base_share) * u), -2)
    return result


@dataclass(frozen=True)
class GreenMarket:
    """Green-power trading (绿电) around the province (energy kWh, prices CNY/MWh).

    Price = energy price + green premium, with the energy price within the coal benchmark
    ± 20 %: the structure of the Anhui pilot ([C18b] in market-rules-china.md, section
    b6). The benchmark (0.3078 CNY/kWh, Gansu's coal benchmark) and the premium's size
    are assumptions to re-verify.
    """

    supply_share: float = 0.003
    """Share of the delivered (not curtailed) wind and solar energy offered for green trading."""
    benchmark_cny_per_mwh: float = 307.8
    energy_price_band: float = 0.2
    premium_cny_per_mwh: float = 30.0
    premium_spread_cny_per_mwh: float = 8.0
    buyer_demand_kw: float = 60_000.0
    """Green-power demand of buyers (export-oriented firms, zero-carbon parks), kW."""


@dataclass(frozen=True)
class GreenSupply:
    """Hourly green-power supply of one day (24 values each)."""

    day: date
    energy_kwh: FloatArray
    """Wind and solar energy available for green trading in each hour (kWh)."""
    price_cny_per_mwh: FloatArray
    """Green-power price of each hour: energy price + premium (CNY/MWh)."""


def hourly_mean(values: FloatArray) -> FloatArray:
    """The 24 hourly means of 96 quarter-hour values."""
    result: FloatArray = values.reshape(HOURS_PER_DAY, INTERVALS_PER_HOUR).mean(axis=1)
    return result


def green_supply(
    seed: int,
    day: date,
    forecast: ProvinceForecast | None = None,
    spot_price_cny_per_mwh: FloatArray | None = None,
    green: GreenMarket | None = None,
    province: Province | None = None,
    spot_floor_cny_per_mwh: float = SPOT_FLOOR_CNY_PER_MWH,
    spot_cap_cny_per_mwh: float = SPOT_CAP_CNY_PER_MWH,
) -> GreenSupply:
    """Hourly green-power supply and prices for ``day``, deterministic per ``(seed, day)``.

    Energy = ``supply_share`` × (wind + solar - curtailment) over each hour (kWh: an
    hour's mean power in kW held for 1 h). Price = energy price + premium ([C18b]): the
    hour's mean spot reference price mapped linearly from [spot floor, spot cap] onto
    benchmark × [1 - band, 1 + band], plus a premium drawn once per day around
    ``premium_cny_per_mwh`` (never negative).
    """
    g = green or GreenMarket()
    fc = forecast or forecast_day(seed, day, province)
    spot = (
        spot_reference_price_cny_per_mwh(
            fc, spot_floor_cny_per_mwh, spot_cap_cny_per_mwh, province=province
        )
        if spot_price_cny_per_mwh is None
        else spot_price_cny_per_mwh
    )
    delivered_kw = np.clip(fc.wind_kw + fc.solar_kw - fc.curtailment_kw, 0.0, None)
    energy_kwh = np.round(g.supply_share * hourly_mean(delivered_kw), -2)
    span = max(spot_cap_cny_per_mwh - spot_floor_cny_per_mwh, 1e-9)
    position = np.clip(2.0 * (hourly_mean(spot) - spot_floor_cny_per_mwh) / span - 1.0, -1.0, 1.0)
    energy_price = g.benchmark_cny_per_mwh * (1.0 + g.energy_price_band * position)
    rng = day_rng(seed, day, "green")
    premium = max(0.0, g.premium_cny_per_mwh + float(rng.normal(0.0, g.premium_spread_cny_per_mwh)))
    price = np.ceil((energy_price + premium) * 10.0) / 10.0
    return GreenSupply(day=day, energy_kwh=energy_kwh, price_cny_per_mwh=price)


def month_days(day: date) -> list[date]:
    """Every day of the month containing ``day``."""
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return [first + timedelta(days=i) for i in range((following - first).days)]
