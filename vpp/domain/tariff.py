"""The time-of-use energy tariff the pool's enterprises pay (CNY/MWh per interval)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vpp.domain.time import INTERVALS_PER_DAY
from vpp.domain.units import FloatArray

INTERVALS_PER_HOUR = 4


@dataclass(frozen=True)
class TimeOfUseTariff:
    """Flat price times a factor for peak and valley hours (Beijing time, whole hours).

    The defaults are an assumption shaped like north-west China's recent reforms (a
    midday valley where solar is abundant, evening peaks): flat 400 CNY/MWh, x1.5 at
    peak, x0.5 in the valley. Re-verify against the provincial tariff notice before use.
    """

    flat_cny_per_mwh: float = 400.0
    peak_factor: float = 1.5
    valley_factor: float = 0.5
    peak_hours: tuple[int, ...] = (7, 8, 17, 18, 19, 20, 21, 22)
    valley_hours: tuple[int, ...] = (10, 11, 12, 13, 14, 15, 0, 1, 2, 3)

    def price_cny_per_mwh(self, intervals: int = INTERVALS_PER_DAY) -> FloatArray:
        """Price per interval of a market day ((intervals,) CNY/MWh)."""
        hourly = np.full(24, self.flat_cny_per_mwh)
        hourly[list(self.peak_hours)] *= self.peak_factor
        hourly[list(self.valley_hours)] *= self.valley_factor
        return np.repeat(hourly, intervals // 24)
