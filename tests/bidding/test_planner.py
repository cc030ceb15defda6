"""The planner (pure): no counter-positions in response windows; bids explain themselves."""

from __future__ import annotations

import uuid
from datetime import date

import numpy as np

from vpp.bidding.planner import PoolAsset, plan_bids, without_counter_positions
from vpp.bidding.registry import load_packs
from vpp.domain.assets import BatteryParams, flexibility_of
from vpp.domain.market import MarketOutlook


def test_firm_schedules_cannot_move_against_an_open_response_window() -> None:
    lo = np.array([[-100.0, -100.0, -100.0, -100.0], [0.0, 0.0, 0.0, 0.0]])
    hi = np.array([[80.0, 80.0, 80.0, 80.0], [50.0, 50.0, 50.0, 50.0]])
    up_open = np.array([True, False, True, False])
    down_open = np.array([False, True, True, False])
    new_lo, new_hi = without_counter_positions(lo, hi, up_open, down_open)
    # Interval 0 (valley filling only): nothing may fall below the baseline.
    assert new_lo[:, 0].tolist() == [0.0, 0.0] and new_hi[:, 0].tolist() == [80.0, 50.0]
    # Interval 1 (peak cutting only): nothing may rise above it.
    assert new_hi[:, 1].tolist() == [0.0, 0.0] and new_lo[:, 1].tolist() == [-100.0, 0.0]
    # Both open, or neither: the asset's own bounds.
    for t in (2, 3):
        assert (new_lo[:, t] == lo[:, t]).all() and (new_hi[:, t] == hi[:, t]).all()
    assert (new_lo <= new_hi).all()


def test_a_product_without_published_demand_says_why_it_offers_nothing() -> None:
    packs = load_packs()
    day = date(2026, 11, 28)
    battery = BatteryParams(capacity_kwh=2000, charge_power_kw=1000, discharge_power_kw=1000)
    model = flexibility_of(battery)
    asset = PoolAsset(
        asset_id=uuid.UUID(int=1),
        account_id=uuid.UUID(int=2),
        params=battery,
        battery=model,
        lo_kw=np.full(96, -1000.0),
        hi_kw=np.full(96, 1000.0),
        baseline_kw=np.zeros(96),
    )
    evening = tuple(2000.0 if 72 <= t < 84 else 0.0 for t in range(96))
    outlooks = {
        product: MarketOutlook(
            product, day, packs[product].gate_closure(day), demand, (300.0,) * 96
        )
        for product, demand in (
            ("peak_shaving.valley_fill", (0.0,) * 96),
            ("peak_shaving.peak_cut", evening),
        )
    }
    bids = {b.product: b for b in plan_bids([asset], packs, outlooks).bids}
    valley, peak = bids["peak_shaving.valley_fill"], bids["peak_shaving.peak_cut"]
    assert not valley.allocation_kw.any()
    assert valley.detail.endswith("; the market publishes no demand for this product on this day")
    assert peak.allocation_kw.any()
    assert "no demand" not in peak.detail
