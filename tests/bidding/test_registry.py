"""The pack registry: every installed product found through entry points, with rule overrides."""

from __future__ import annotations

import json
from datetime import time

import pytest

from market.green_power import DayAheadGreenBuy, DayAheadGreenSell, MonthlyGreenBuy
from market.packs import LadderPack
from market.peak_shaving import PeakCutting, ValleyFilling
from market.rules import LadderRules
from market.spot import DayAheadBuy, DayAheadSell, RealTimeBuy, RealTimeSell
from vpp.bidding.registry import MarketCatalogError, load_packs, pack_classes
from vpp.domain.market import Pricing
from vpp.domain.units import Direction

EXPECTED: dict[str, tuple[type[LadderPack], Direction, int]] = {
    "peak_shaving.valley_fill": (ValleyFilling, Direction.UP, 96),
    "peak_shaving.peak_cut": (PeakCutting, Direction.DOWN, 96),
    "spot.day_ahead.buy": (DayAheadBuy, Direction.UP, 96),
    "spot.day_ahead.sell": (DayAheadSell, Direction.DOWN, 96),
    "spot.real_time.buy": (RealTimeBuy, Direction.UP, 96),
    "spot.real_time.sell": (RealTimeSell, Direction.DOWN, 96),
    "green_power.day_ahead.buy": (DayAheadGreenBuy, Direction.UP, 24),
    "green_power.day_ahead.sell": (DayAheadGreenSell, Direction.DOWN, 24),
    "green_power.monthly.buy": (MonthlyGreenBuy, Direction.UP, 24),
}


def test_all_nine_products_are_found() -> None:
    packs = load_packs()
    assert set(packs) == set(EXPECTED)
    assert set(pack_classes()) == set(EXPECTED)
    for product, (cls, side, n) in EXPECTED.items():
        pack = packs[product]
        assert type(pack) is cls
        assert pack.product == product
        assert pack.version == "gansu-2025.1"
        limits = pack.limits()
        assert (limits.side, limits.intervals_per_day) == (side, n)


def test_describe_is_json_ready() -> None:
    for product, pack in load_packs().items():
        described = json.loads(json.dumps(pack.describe(), allow_nan=False))
        assert described["product"] == product
        assert described["rules"]["gate_time_local"] == "10:00:00"
        assert "price_floor_cny_per_mwh" in described["rules"]


def test_peak_shaving_defaults() -> None:
    packs = load_packs()
    valley = packs["peak_shaving.valley_fill"].limits()
    peak = packs["peak_shaving.peak_cut"].limits()
    assert (valley.price_floor_cny_per_mwh, valley.price_cap_cny_per_mwh) == (100.0, 200.0)
    assert peak.price_cap_cny_per_mwh == 1500.0
    assert (peak.min_quantity_kw, peak.quantity_step_kw) == (1000.0, 100.0)
    assert (peak.min_duration_intervals, peak.max_steps) == (4, 5)
    assert (peak.pricing, peak.penalty_threshold, peak.penalty_factor) == (
        Pricing.UNIFORM,
        0.5,
        0.5,
    )


def test_overrides_are_applied_per_product() -> None:
    packs = load_packs(
        {
            "peak_shaving.peak_cut": {"price_cap_cny_per_mwh": 2000, "pricing": "pay_as_bid"},
            "spot.real_time.sell": {"gate_lead_minutes": 30, "gate_time_local": "09:30"},
        }
    )
    cut = packs["peak_shaving.peak_cut"].limits()
    assert (cut.price_cap_cny_per_mwh, cut.pricing) == (2000.0, Pricing.PAY_AS_BID)
    rules = packs["spot.real_time.sell"].rules
    assert isinstance(rules, LadderRules)
    assert (rules.gate_lead_minutes, rules.gate_time_local) == (30, time(9, 30))
    assert packs["peak_shaving.valley_fill"].limits().price_cap_cny_per_mwh == 200.0


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"peak_shaving.nowhere": {}}, "unknown product"),
        ({"spot.day_ahead.buy": {"price_cap": 600}}, "spot.day_ahead.buy"),
        ({"spot.day_ahead.buy": {"price_cap_cny_per_mwh": 10}}, "below price_floor"),
        ({"spot.day_ahead.buy": {"price_cap_cny_per_mwh": "lots"}}, "price_cap_cny_per_mwh"),
        ({"spot.day_ahead.buy": {"intervals_per_day": 7}}, "divide 1440"),
        ({"spot.day_ahead.buy": {"penalty_factor": float("nan")}}, "penalty_factor"),
        ({"peak_shaving.peak_cut": {"penalty_threshold": 1.5}}, "penalty_threshold"),
        ({"green_power.monthly.buy": {"gate_day_of_previous_month": 0}}, "gate_day_of_previous"),
        ({"green_power.day_ahead.buy": {"energy_price_band": 1.2}}, "energy_price_band"),
    ],
)
def test_bad_overrides_are_refused(overrides: dict[str, dict[str, object]], match: str) -> None:
    with pytest.raises(MarketCatalogError, match=match):
        load_packs(overrides)


def test_hourly_and_quarter_hour_interval_lengths() -> None:
    packs = load_packs()
    assert packs["peak_shaving.peak_cut"].describe()["interval_hours"] == 0.25
    assert packs["green_power.monthly.buy"].describe()["interval_hours"] == 1.0
