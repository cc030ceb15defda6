"""Sun elevation from date, time and place (NOAA's low-precision formulae, ~0.1 deg)."""

from __future__ import annotations

import math
from datetime import UTC, datetime


def sun_elevation_deg(when: datetime, latitude_deg: float, longitude_deg: float) -> float:
    """Elevation of the sun's centre above the horizon, degrees (negative at night).

    Uses the fractional-year series of the NOAA Global Monitoring Laboratory's
    "General Solar Position Calculations" for declination and the equation of time.
    """
    t = when.astimezone(UTC)
    day_of_year = t.timetuple().tm_yday
    hours = t.hour + t.minute / 60 + t.second / 3600
    gamma = 2 * math.pi / 365 * (day_of_year - 1 + (hours - 12) / 24)
    eq_time_min = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    declination = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    true_solar_min = hours * 60 + eq_time_min + 4 * longitude_deg
    hour_angle = math.radians(true_solar_min / 4 - 180)
    lat = math.radians(latitude_deg)
    cos_zenith = math.sin(lat) * math.sin(declination) + math.cos(lat) * math.cos(
        declination
    ) * math.cos(hour_angle)
    return math.degrees(math.asin(max(-1.0, min(1.0, cos_zenith))))


def clear_sky_fraction(elevation_deg: float) -> float:
    """Plane-of-array output as a fraction of peak under clear sky, 0 at night.

    A deliberately simple air-mass model (Meinel & Meinel: 1.353·0.7^(AM^0.678) kW/m²)
    scaled so the sun at zenith gives 1.0; good enough for a simulator's daily shape.
    """
    if elevation_deg <= 0:
        return 0.0
    zenith = math.radians(90 - elevation_deg)
    # Kasten & Young (1989) air mass.
    air_mass = 1.0 / (math.cos(zenith) + 0.50572 * (96.07995 - math.degrees(zenith)) ** -1.6364)
    direct = math.pow(0.7, math.pow(air_mass, 0.678))
    fraction = direct / 0.7 * math.pow(math.sin(math.radians(elevation_deg)), 0.3)
    return max(0.0, min(1.0, fraction))
