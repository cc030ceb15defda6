"""PV forecast: solar geometry, clear-sky irradiance, plant output and a learned cloudiness.

The chain, pvlib-style plain functions over numpy / pandas (pvlib itself is not needed for
this accuracy, so it is not a dependency):

1. `solar_position`: NOAA's general solar position equations (declination and equation of
   time from the fractional year; about 0.5° accurate — plenty for 15-minute energy).
2. `clear_sky`: Ineichen-Perez clear-sky GHI / DNI / DHI (W/m²) with the site's altitude and
   a Linke turbidity (Ineichen & Perez 2002, as in pvlib's `clearsky.ineichen`), Kasten-Young
   air mass with the pressure correction for altitude.
3. `plane_of_array`: isotropic-sky transposition onto the tilted panel (W/m²).
4. `clear_sky_power`: DC power = peak_kw × POA / 1000 W/m² with a simple cell-temperature
   correction, system losses, then the inverter limit (kW AC, generation positive).
5. `cloudiness`: the ratio of measured output to clear-sky output over the daylight of
   recent days (a clear-sky index per day, weighted towards the latest days); its spread
   over those days gives the P10/P50/P90.

`forecast_pv` runs the chain for a market day. The park's site (near Zhangye, Gansu: 39° N,
100.5° E, 1,500 m) is `PARK_SITE`. Irradiance is evaluated at each interval's midpoint,
the mean of a 15-minute interval to within a fraction of a percent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd

from vpp.domain import INTERVALS_PER_DAY, PvParams, interval_starts_utc
from vpp.forecast.calendar import FloatArray, to_day_matrix
from vpp.forecast.quality import Confidence

_SOLAR_CONSTANT_W_M2 = 1367.0
_HALF_INTERVAL = pd.Timedelta(minutes=7.5)


@dataclass(frozen=True)
class Site:
    """Where a plant is: WGS84 degrees (east and north positive), metres above sea level."""

    latitude_deg: float = 39.0
    longitude_deg: float = 100.5
    altitude_m: float = 1500.0
    linke_turbidity: float = 3.5
    """Linke turbidity (dimensionless); 3-4 for the dusty, dry Hexi corridor."""
    albedo: float = 0.25
    """Ground reflectance (fraction)."""


PARK_SITE = Site()
"""The zero-carbon park near Zhangye, Gansu."""


def _utc_index(times: pd.DatetimeIndex) -> pd.DatetimeIndex:
    if times.tz is None:
        raise ValueError("times must be timezone-aware")
    return times.tz_convert("UTC")


def solar_position(times: pd.DatetimeIndex, site: Site = PARK_SITE) -> pd.DataFrame:
    """Solar zenith, elevation and azimuth (degrees; azimuth clockwise from north).

    NOAA general solar position equations; `times` are aware instants.
    """
    utc = _utc_index(times)
    doy = np.asarray(utc.dayofyear, dtype=np.float64)
    hours = np.asarray(utc.hour + utc.minute / 60 + utc.second / 3600, dtype=np.float64)
    year_days = np.where(np.asarray(utc.is_leap_year), 366.0, 365.0)
    gamma = 2 * np.pi / year_days * (doy - 1 + (hours - 12) / 24)
    eqtime_min = 229.18 * (
        0.000075
        + 0.001868 * np.cos(gamma)
        - 0.032077 * np.sin(gamma)
        - 0.014615 * np.cos(2 * gamma)
        - 0.040849 * np.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * np.cos(gamma)
        + 0.070257 * np.sin(gamma)
        - 0.006758 * np.cos(2 * gamma)
        + 0.000907 * np.sin(2 * gamma)
        - 0.002697 * np.cos(3 * gamma)
        + 0.00148 * np.sin(3 * gamma)
    )
    true_solar_min = hours * 60 + eqtime_min + 4 * site.longitude_deg
    hour_angle = np.radians(true_solar_min / 4 - 180)
    lat = np.radians(site.latitude_deg)
    cos_zen = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(hour_angle)
    zenith = np.degrees(np.arccos(np.clip(cos_zen, -1.0, 1.0)))
    azimuth = (
        np.degrees(
            np.arctan2(
                np.sin(hour_angle),
                np.cos(hour_angle) * np.sin(lat) - np.tan(decl) * np.cos(lat),
            )
        )
        + 180.0
    ) % 360.0
    return pd.DataFrame(
        {"zenith_deg": zenith, "elevation_deg": 90.0 - zenith, "azimuth_deg": azimuth},
        index=times,
    )


def _extraterrestrial(times: pd.DatetimeIndex) -> FloatArray:
    doy = np.asarray(_utc_index(times).dayofyear, dtype=np.float64)
    return np.asarray(
        _SOLAR_CONSTANT_W_M2 * (1 + 0.033 * np.cos(2 * np.pi * doy / 365.0)), dtype=np.float64
    )


def clear_sky(
    times: pd.DatetimeIndex, site: Site = PARK_SITE, position: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Ineichen-Perez clear-sky irradiance (W/m²): columns ghi, dni, dhi; zero at night."""
    pos = solar_position(times, site) if position is None else position
    zenith = pos["zenith_deg"].to_numpy(dtype=np.float64)
    cos_zen = np.cos(np.radians(zenith))
    day = cos_zen > 0.0
    zen_day = np.where(day, zenith, 89.0)
    cz = np.where(day, cos_zen, 1.0)
    airmass = 1.0 / (cz + 0.50572 * (96.07995 - zen_day) ** -1.6364)  # Kasten-Young 1989
    am_abs = airmass * np.exp(-site.altitude_m / 8434.5)
    tl = site.linke_turbidity
    fh1 = np.exp(-site.altitude_m / 8000.0)
    fh2 = np.exp(-site.altitude_m / 1250.0)
    cg1 = 5.09e-5 * site.altitude_m + 0.868
    cg2 = 3.92e-5 * site.altitude_m + 0.0387
    i0 = _extraterrestrial(times)
    ghi = cg1 * i0 * cz * np.maximum(np.exp(-cg2 * am_abs * (fh1 + fh2 * (tl - 1))), 0.0)
    b = 0.664 + 0.163 / fh1
    bnci = i0 * np.maximum(b * np.exp(-0.09 * am_abs * (tl - 1)), 0.0)
    bnci_2 = ghi * np.clip((1 - (0.1 - 0.2 * np.exp(-tl)) / (0.1 + 0.882 / fh1)) / cz, 0, 1e20)
    dni = np.minimum(bnci, bnci_2)
    dhi = ghi - dni * cz
    return pd.DataFrame(
        {
            "ghi": np.where(day, ghi, 0.0),
            "dni": np.where(day, dni, 0.0),
            "dhi": np.where(day, np.maximum(dhi, 0.0), 0.0),
        },
        index=times,
    )


def plane_of_array(
    irradiance: pd.DataFrame,
    position: pd.DataFrame,
    tilt_deg: float,
    azimuth_deg: float,
    albedo: float = PARK_SITE.albedo,
) -> pd.Series:
    """Irradiance on a panel (W/m²) by the isotropic-sky model: beam + sky + ground."""
    poa = _poa(_SkyArrays.of(position, irradiance), tilt_deg, azimuth_deg, albedo)
    return pd.Series(poa, index=irradiance.index, name="poa_w_m2")


@dataclass(frozen=True)
class _SkyArrays:
    """Sun (radians) and clear-sky irradiance (W/m²) at a run of instants, as arrays."""

    zenith: FloatArray
    azimuth: FloatArray
    ghi: FloatArray
    dni: FloatArray
    dhi: FloatArray

    @classmethod
    def of(cls, position: pd.DataFrame, irradiance: pd.DataFrame) -> _SkyArrays:
        def column(frame: pd.DataFrame, name: str) -> FloatArray:
            return np.asarray(frame[name].to_numpy(dtype=np.float64), dtype=np.float64)

        return cls(
            np.radians(column(position, "zenith_deg")),
            np.radians(column(position, "azimuth_deg")),
            column(irradiance, "ghi"),
            column(irradiance, "dni"),
            column(irradiance, "dhi"),
        )

    @classmethod
    def concat(cls, parts: Sequence[_SkyArrays]) -> _SkyArrays:
        return cls(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__)
        )


def _poa(sky: _SkyArrays, tilt_deg: float, azimuth_deg: float, albedo: float) -> FloatArray:
    tilt, panel_az = np.radians(tilt_deg), np.radians(azimuth_deg)
    cos_aoi = np.cos(sky.zenith) * np.cos(tilt) + np.sin(sky.zenith) * np.sin(tilt) * np.cos(
        sky.azimuth - panel_az
    )
    beam = sky.dni * np.maximum(cos_aoi, 0.0)
    diffuse = sky.dhi * (1 + np.cos(tilt)) / 2
    ground = sky.ghi * albedo * (1 - np.cos(tilt)) / 2
    return np.asarray(beam + diffuse + ground, dtype=np.float64)


@dataclass(frozen=True)
class PvLosses:
    """Simple loss model of a PV plant."""

    temperature_coefficient_per_k: float = -0.004
    """Relative DC power change per kelvin of cell temperature above 25 °C."""
    ambient_temp_c: float = 15.0
    """Air temperature (°C) assumed when no forecast is given."""
    cell_rise_k_per_kw_m2: float = 30.0
    """Cell temperature above ambient per kW/m² of plane-of-array irradiance (K)."""
    system_loss: float = 0.10
    """Wiring, soiling, mismatch (fraction)."""
    inverter_efficiency: float = 0.97


def clear_sky_power(
    times: pd.DatetimeIndex,
    plant: PvParams,
    site: Site = PARK_SITE,
    losses: PvLosses = PvLosses(),
) -> pd.Series:
    """Clear-sky AC output (kW, generation positive) of `plant` for intervals starting at `times`.

    Irradiance at each interval's midpoint; output clipped at the inverter rating.
    """
    mid = times + _HALF_INTERVAL
    pos = solar_position(mid, site)
    poa = plane_of_array(
        clear_sky(mid, site, pos), pos, plant.tilt_deg, plant.azimuth_deg, site.albedo
    ).to_numpy(dtype=np.float64)
    return pd.Series(_ac_power(poa, plant, losses), index=times, name="clear_sky_kw")


def _ac_power(poa_w_m2: FloatArray, plant: PvParams, losses: PvLosses) -> FloatArray:
    """AC output (kW) of `plant` under plane-of-array irradiance (W/m²)."""
    cell_c = losses.ambient_temp_c + losses.cell_rise_k_per_kw_m2 * poa_w_m2 / 1000.0
    dc = (
        plant.peak_kw
        * poa_w_m2
        / 1000.0
        * (1 + losses.temperature_coefficient_per_k * (cell_c - 25))
    )
    ac = dc * (1 - losses.system_loss) * losses.inverter_efficiency
    inverter = plant.inverter_kw if plant.inverter_kw is not None else plant.peak_kw
    return np.asarray(np.clip(ac, 0.0, inverter), dtype=np.float64)


@lru_cache(maxsize=256)
def _day_sky(day: date, site: Site) -> _SkyArrays:
    # Every plant of a site shares its sky: a forecast of thousands of plants over the
    # same eleven days computes it eleven times, not eleven times per plant.
    mid = interval_starts_utc(day) + _HALF_INTERVAL
    position = solar_position(mid, site)
    sky = _SkyArrays.of(position, clear_sky(mid, site, position))
    for name in _SkyArrays.__dataclass_fields__:
        getattr(sky, name).setflags(write=False)  # shared by every caller
    return sky


def _clear_sky_days(
    days: Sequence[date], plant: PvParams, site: Site, losses: PvLosses
) -> FloatArray:
    """Clear-sky AC output (kW) of `plant` on market `days`, shape (len(days), 96); the
    same numbers as `clear_sky_power` for those days' interval starts."""
    sky = _SkyArrays.concat([_day_sky(day, site) for day in days])
    poa = _poa(sky, plant.tilt_deg, plant.azimuth_deg, site.albedo)
    return _ac_power(poa, plant, losses).reshape(len(days), INTERVALS_PER_DAY)


@dataclass(frozen=True)
class Cloudiness:
    """Clear-sky index learned from recent measurements: measured / clear-sky output."""

    factor: float
    """Weighted mean clear-sky index used for the forecast (fraction, 0..1.2)."""
    quantiles: dict[float, float]
    """Clear-sky index quantiles over the recent days (the forecast band)."""
    days_used: int
    confidence: Confidence
    reason: str = ""
    """Why it has its confidence, in words."""


def cloudiness(
    measured_kw: pd.Series,
    plant: PvParams,
    day: date,
    *,
    site: Site = PARK_SITE,
    window_days: int = 10,
    half_life_days: float = 2.0,
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9),
    min_days: int = 3,
    losses: PvLosses = PvLosses(),
) -> Cloudiness:
    """Estimate the clear-sky index for `day` from the `window_days` days before it.

    measured_kw: the plant's measured generation (kW, positive; a net-load series of a
    PV-only meter can be passed negated), UTC-aware, cleaned. Per day, the index is
    Σ measured / Σ clear-sky over intervals where clear-sky output exceeds 10 % of the AC
    capacity (dawn and dusk carry little energy and much model error); a day with any of
    those intervals missing is skipped. The forecast factor weights the days by
    0.5^(age / half_life_days); with fewer than `min_days` days the factor falls back to
    0.75 with a wide band and confidence LOW (no days at all: NONE).

    The index also absorbs what the clear-sky model gets wrong about this plant (soiling,
    orientation, shading) — which is what a learned factor is for. Curtailed intervals must
    be removed from `measured_kw` first, or the index will read curtailment as cloud.
    """
    first = day - timedelta(days=window_days)
    last = day - timedelta(days=1)
    days, matrix = to_day_matrix(measured_kw, first, last)
    clear = _clear_sky_days(days, plant, site, losses)
    capacity = plant.ac_capacity_kw
    mask = clear > 0.1 * capacity
    usable = mask.any(axis=1) & (np.isfinite(matrix) | ~mask).all(axis=1)
    measured = np.where(mask, matrix, 0.0)[usable].sum(axis=1)
    possible = np.where(mask, clear, 0.0)[usable].sum(axis=1)
    indices = np.clip(measured / possible, 0.0, 1.2).tolist()
    ages = (len(days) - np.flatnonzero(usable)).tolist()
    if len(indices) < min_days:
        level = Confidence.LOW if indices else Confidence.NONE
        mean = float(np.mean(indices)) if indices else 0.75
        band = {q: float(np.clip(mean + (q - 0.5) * 1.2, 0.0, 1.0)) for q in quantiles}
        reason = (
            f"{len(indices)} day(s) with complete daylight readings in the last {window_days} "
            f"(< {min_days}); clear-sky index {mean:.2f} assumed with a wide band"
        )
        return Cloudiness(mean, band, len(indices), level, reason)
    weights = 0.5 ** (np.asarray(ages, dtype=np.float64) / half_life_days)
    values = np.asarray(indices)
    factor = float(np.sum(weights * values) / np.sum(weights))
    spread = {q: float(np.quantile(values, q)) for q in quantiles}
    # Centre the band on the weighted factor: recent weather, historical spread.
    median = float(np.median(values))
    band = {q: float(np.clip(v - median + factor, 0.0, 1.2)) for q, v in spread.items()}
    reason = f"clear-sky index from {len(values)} day(s) of the last {window_days}"
    return Cloudiness(factor, band, len(values), Confidence.OK, reason)


@dataclass(frozen=True)
class PvForecast:
    """Forecast generation of one plant for the 96 intervals of a market day."""

    day: date
    generation_kw: FloatArray
    """Expected AC generation (kW, >= 0), shape (96,)."""
    quantiles: tuple[float, ...]
    quantile_kw: FloatArray
    """Generation quantiles (kW), shape (len(quantiles), 96)."""
    clear_sky_kw: FloatArray
    """Clear-sky AC output (kW), shape (96,)."""
    cloudiness: Cloudiness

    @property
    def net_load_kw(self) -> FloatArray:
        """The forecast as net load (kW): generation is negative (vpp.domain.units)."""
        return -self.generation_kw


def forecast_pv(
    day: date,
    plant: PvParams,
    measured_kw: pd.Series | None = None,
    *,
    site: Site = PARK_SITE,
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9),
    losses: PvLosses = PvLosses(),
) -> PvForecast:
    """Day-ahead PV forecast: clear-sky output of `day` scaled by the learned cloudiness.

    measured_kw: recent measured generation (kW, positive), or None for a new plant (then
    the factor is the fallback 0.75 with a wide band, confidence NONE).
    """
    clear = _clear_sky_days([day], plant, site, losses)[0]
    if measured_kw is None:
        band = {q: float(np.clip(0.75 + (q - 0.5) * 1.2, 0.0, 1.0)) for q in quantiles}
        cloud = Cloudiness(
            0.75, band, 0, Confidence.NONE, "no readings; clear-sky index 0.75 assumed"
        )
    else:
        cloud = cloudiness(measured_kw, plant, day, site=site, quantiles=quantiles, losses=losses)
    capacity = plant.ac_capacity_kw
    generation = np.minimum(clear * cloud.factor, capacity)
    quant = np.stack([np.minimum(clear * cloud.quantiles[q], capacity) for q in quantiles])
    return PvForecast(day, generation, quantiles, np.sort(quant, axis=0), clear, cloud)
