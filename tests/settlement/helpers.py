"""Small settlement scenarios with hand-computed answers, shared by the settlement tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np

from market.peak_shaving import PeakCutting, ValleyFilling
from vpp.domain.market import IntervalScore
from vpp.domain.units import Direction, FloatArray
from vpp.ports import MarketPack
from vpp.settlement.core import DayInputs, ProductDay, Scorer
from vpp.settlement.measurement import BaselineRule
from vpp.settlement.sharing import Agreement

DAY = date(2026, 3, 11)
"""A Wednesday."""
PACKS: dict[str, MarketPack] = {p.product: p for p in (PeakCutting(), ValleyFilling())}
EVENT = slice(72, 77)
"""18:00-19:15 Beijing: five awarded intervals."""


def pack_scorer(packs: dict[str, MarketPack] = PACKS) -> Scorer:
    def score(
        product: str, awarded: FloatArray, delivered: FloatArray, price: FloatArray
    ) -> Sequence[IntervalScore]:
        return packs[product].score(awarded.tolist(), delivered.tolist(), price.tolist())

    return score


def history_days(day: date = DAY, n: int = 14) -> tuple[date, ...]:
    return tuple(day - timedelta(days=n - i) for i in range(n + 1))


def flat_history(levels_kw: Sequence[float], day: date = DAY, n: int = 14) -> FloatArray:
    """(days, assets, 96): every asset at its constant level on every day."""
    days = history_days(day, n)
    return np.broadcast_to(
        np.asarray(levels_kw, dtype=np.float64)[None, :, None], (len(days), len(levels_kw), 96)
    ).copy()


def two_enterprise_inputs(measured_on_day: FloatArray, **overrides: object) -> DayInputs:
    """Three assets (E1: 800 kW and 500 kW, E2: 600 kW flat baselines), a 1,000 kW peak-cut
    award at 400 CNY/MWh in intervals 72-76, allocations E1 400 + 200, E2 400 kW."""
    values = flat_history([800.0, 500.0, 600.0])
    values[-1] = measured_on_day
    award = np.zeros(96)
    award[EVENT] = 1000.0
    price = np.full(96, 400.0)
    alloc = np.zeros((3, 96))
    alloc[0, EVENT] = 400.0
    alloc[1, EVENT] = 200.0
    alloc[2, EVENT] = 400.0
    fields: dict[str, object] = {
        "day": DAY,
        "days": history_days(),
        "values_kw": values,
        "filled": np.zeros((3, 96), dtype=bool),
        "asset_account": np.array([0, 0, 1]),
        "accounts": ("E1", "E2"),
        "agreements": (Agreement(2000, 0), Agreement(1000, 1000)),
        "products": (ProductDay("peak_shaving.peak_cut", Direction.DOWN, award, price, alloc),),
        "rule": BaselineRule(),
        "event_days": frozenset({DAY}),
        "asset_ids": ("a0", "a1", "a2"),
    }
    fields.update(overrides)
    return DayInputs(**fields)  # type: ignore[arg-type]


def hand_day() -> FloatArray:
    """The measured day of the hand-computed case (kW, assets x 96)."""
    day = np.tile(np.array([800.0, 500.0, 600.0])[:, None], (1, 96))
    # interval: (asset0, asset1, asset2) measured kW; responses are baseline - measured
    day[:, 72] = (400.0, 300.0, 200.0)  # 400 + 200 + 400 = 1000: rate 1
    day[:, 73] = (200.0, 300.0, 200.0)  # 600 + 200 + 400 = 1200: the band's upper edge
    day[:, 74] = (0.0, 200.0, 200.0)  # 800 + 300 + 400 = 1500: paid for 1200 only
    day[:, 75] = (800.0, 400.0, 700.0)  # 0 + 100 - 100 = 0: penalty
    day[:, 76] = (600.0, 400.0, 400.0)  # 200 + 100 + 200 = 500: exactly R1 = 50 %, no penalty
    return day
