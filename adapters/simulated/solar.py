"""The sun for the simulated park: its elevation, and the clear-sky share of peak output."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import lru_cache

import pandas as pd

from vpp.forecast.pv import Site, solar_position


@lru_cache(maxsize=1024)
def sun_elevation_deg(when: datetime, latitude_deg: float, longitude_deg: float) -> float:
    """Elevation of the sun's centre above the horizon, degrees (negative at night), from
    the forecast's NOAA solar-position model (one model of the sun for the whole service).

    Cached: a park's PV plants share a site and every step asks for the same instant."""
    site = Site(latitude_deg=latitude_deg, longitude_deg=longitude_deg)
    position = solar_position(pd.DatetimeIndex([when.astimezone(UTC)]), site)
    return float(position["elevation_deg"].iloc[0])


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
