"""Units and the net-load sign convention, stated once for the whole service.

Units: power kW, energy kWh, price CNY/MWh (the Chinese market convention), money CNY,
emissions kg CO2. Every field name carries its unit (`power_kw`, `price_cny_per_mwh`).

Sign: net load is positive when power is drawn from the grid (consumption) and negative
when it is injected (generation, battery discharge). Flexibility is two non-negative
numbers per interval:

- `up_kw`: how much the asset can RAISE its net load (valley filling, 填谷);
- `down_kw`: how much it can LOWER its net load (peak cutting, 削峰).
"""

from __future__ import annotations

from enum import StrEnum
from typing import overload

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
KWH_PER_MWH = 1000.0


class Direction(StrEnum):
    """Direction of a flexibility offer or instruction: UP raises net load, DOWN lowers it."""

    UP = "up"
    DOWN = "down"


@overload
def kwh_from_kw(power_kw: float, hours: float) -> float: ...
@overload
def kwh_from_kw(power_kw: FloatArray, hours: float) -> FloatArray: ...
def kwh_from_kw(power_kw: float | FloatArray, hours: float) -> float | FloatArray:
    """Energy (kWh) of holding `power_kw` (kW) for `hours` (h); signs follow the power."""
    return power_kw * hours


@overload
def cny_from_price(energy_kwh: float, price_cny_per_mwh: float) -> float: ...
@overload
def cny_from_price(energy_kwh: FloatArray, price_cny_per_mwh: float | FloatArray) -> FloatArray: ...
@overload
def cny_from_price(energy_kwh: float, price_cny_per_mwh: FloatArray) -> FloatArray: ...
def cny_from_price(
    energy_kwh: float | FloatArray, price_cny_per_mwh: float | FloatArray
) -> float | FloatArray:
    """Money (CNY) for `energy_kwh` (kWh) at `price_cny_per_mwh` (CNY/MWh): kWh × price / 1000."""
    return energy_kwh * price_cny_per_mwh / KWH_PER_MWH


@overload
def split_flexibility(lo_kw: float, hi_kw: float) -> tuple[float, float]: ...
@overload
def split_flexibility(lo_kw: FloatArray, hi_kw: FloatArray) -> tuple[FloatArray, FloatArray]: ...
def split_flexibility(
    lo_kw: float | FloatArray, hi_kw: float | FloatArray
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """Split deviation bounds lo_kw <= p <= hi_kw (kW) into non-negative (up_kw, down_kw).

    up_kw = max(hi_kw, 0) and down_kw = max(-lo_kw, 0): a bound on the wrong side of zero
    (the asset must deviate) offers no flexibility in that direction.
    """
    if isinstance(lo_kw, np.ndarray) or isinstance(hi_kw, np.ndarray):
        up = np.maximum(np.asarray(hi_kw, dtype=np.float64), 0.0)
        down = np.maximum(-np.asarray(lo_kw, dtype=np.float64), 0.0)
        return up, down
    return max(float(hi_kw), 0.0), max(-float(lo_kw), 0.0)
