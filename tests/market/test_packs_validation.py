"""Bid validation: every rule produced by a crafted bid, naming its rule and field."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.green_power import DayAheadGreenBuy, MonthlyGreenBuy
from market.peak_shaving import PeakCutting, ValleyFilling
from market.spot import DayAheadBuy, DayAheadSell, RealTimeSell
from market.validation import RULES
from tests.market import AT_GATE, BEFORE_GATE, DAY, Ladder, make_bid, run
from vpp.domain.errors import NaiveDatetimeError
from vpp.domain.market import Bid, IntervalOffer, RuleViolation
from vpp.domain.units import Direction

VALLEY = ValleyFilling()
GOOD: Ladder = [(120.0, 600.0), (150.0, 400.0)]


def valley_bid(offers: dict[int, Ladder] | None = None, *, intervals: int = 96) -> Bid:
    ladders = run(40, 4, GOOD) if offers is None else offers
    return make_bid(VALLEY.product, Direction.UP, ladders, intervals=intervals)


def only(violations: list[RuleViolation]) -> RuleViolation:
    assert len(violations) == 1, violations
    return violations[0]


def rules_of(violations: list[RuleViolation]) -> list[tuple[str, str]]:
    return [(v.rule, v.field) for v in violations]


def test_a_valid_bid_breaks_no_rule() -> None:
    assert VALLEY.validate(valley_bid(), BEFORE_GATE) == []


def test_a_bid_at_the_exact_gate_is_accepted_and_a_second_later_refused() -> None:
    assert VALLEY.validate(valley_bid(), AT_GATE) == []
    v = only(VALLEY.validate(valley_bid(), AT_GATE + timedelta(seconds=1)))
    assert (v.rule, v.field) == ("gate_closure", "day")
    assert "2026-03-09T02:00:00+00:00" in v.message


def test_an_empty_bid_is_valid() -> None:
    assert VALLEY.validate(valley_bid({}), BEFORE_GATE) == []


def test_naive_now_is_refused() -> None:
    with pytest.raises(NaiveDatetimeError):
        VALLEY.validate(valley_bid(), datetime(2026, 3, 9, 1))


def test_wrong_product_side_and_participant() -> None:
    bid = dataclasses.replace(
        valley_bid(), product="spot.day_ahead.buy", side=Direction.DOWN, participant=" "
    )
    assert rules_of(VALLEY.validate(bid, BEFORE_GATE)) == [
        ("product", "product"),
        ("side", "side"),
        ("participant", "participant"),
    ]


def test_wrong_interval_count() -> None:
    v = only(VALLEY.validate(valley_bid(intervals=95), BEFORE_GATE))
    assert (v.rule, v.field) == ("interval_count", "intervals")
    assert "expected 96" in v.message
    assert "got 95" in v.message


def test_duplicate_and_misplaced_interval_indices() -> None:
    bid = valley_bid()
    offers = list(bid.intervals)
    offers[5] = IntervalOffer(4, ())
    offers[7] = IntervalOffer(9, ())
    found = VALLEY.validate(dataclasses.replace(bid, intervals=tuple(offers)), BEFORE_GATE)
    assert rules_of(found) == [
        ("interval_count", "intervals[5].interval"),
        ("interval_count", "intervals[7].interval"),
    ]
    assert "duplicate" in found[0].message


def test_price_floor_names_the_step_and_both_numbers() -> None:
    offers = run(40, 4, GOOD)
    offers[41] = [(90.0, 600.0), (150.0, 400.0)]
    v = only(VALLEY.validate(valley_bid(offers), BEFORE_GATE))
    assert (v.rule, v.field) == ("price_floor", "intervals[41].steps[0].price_cny_per_mwh")
    assert v.message == "price 90 CNY/MWh is below the floor 100 CNY/MWh"


def test_price_cap() -> None:
    offers = run(40, 4, GOOD)
    offers[43] = [(120.0, 600.0), (250.0, 400.0)]
    v = only(VALLEY.validate(valley_bid(offers), BEFORE_GATE))
    assert (v.rule, v.field) == ("price_cap", "intervals[43].steps[1].price_cny_per_mwh")
    assert "250" in v.message
    assert "200" in v.message


def test_peak_cutting_cap_is_1500() -> None:
    pack = PeakCutting()
    ok = make_bid(pack.product, Direction.DOWN, run(72, 4, [(1500.0, 1000.0)]))
    high = make_bid(pack.product, Direction.DOWN, run(72, 4, [(1500.1, 1000.0)]))
    assert pack.validate(ok, BEFORE_GATE) == []
    assert [v.rule for v in pack.validate(high, BEFORE_GATE)] == ["price_cap"] * 4


def test_non_finite_numbers() -> None:
    offers = run(40, 4, GOOD)
    offers[40] = [(float("nan"), 600.0), (150.0, 400.0)]
    offers[42] = [(120.0, float("inf")), (150.0, 400.0)]
    found = VALLEY.validate(valley_bid(offers), BEFORE_GATE)
    assert ("finite_number", "intervals[40].steps[0].price_cny_per_mwh") in rules_of(found)
    assert ("finite_number", "intervals[42].steps[0].quantity_kw") in rules_of(found)


def test_min_quantity_flags_a_small_non_zero_total() -> None:
    offers = run(40, 4, GOOD)
    offers[42] = [(120.0, 500.0), (150.0, 400.0)]
    v = only(VALLEY.validate(valley_bid(offers), BEFORE_GATE))
    assert (v.rule, v.field) == ("min_quantity", "intervals[42]")
    assert "900 kW" in v.message
    assert "1000 kW" in v.message


def test_quantity_step() -> None:
    offers = run(40, 4, GOOD)
    offers[40] = [(120.0, 650.0), (150.0, 400.0)]
    v = only(VALLEY.validate(valley_bid(offers), BEFORE_GATE))
    assert (v.rule, v.field) == ("quantity_step", "intervals[40].steps[0].quantity_kw")
    assert "650" in v.message
    assert "100 kW" in v.message


def test_negative_quantity() -> None:
    offers = run(40, 4, GOOD)
    offers[40] = [(120.0, 1200.0), (150.0, -200.0)]
    v = only(VALLEY.validate(valley_bid(offers), BEFORE_GATE))
    assert (v.rule, v.field) == ("negative_quantity", "intervals[40].steps[1].quantity_kw")


def test_min_duration_flags_each_short_run() -> None:
    offers = {**run(10, 3, GOOD), **run(40, 4, GOOD), **run(60, 1, GOOD)}
    found = VALLEY.validate(valley_bid(offers), BEFORE_GATE)
    assert rules_of(found) == [("min_duration", "intervals[10]"), ("min_duration", "intervals[60]")]
    assert found[0].message == (
        "intervals 10..12 form a run of 3 offered interval(s), shorter than the minimum 4"
    )


def test_a_run_ending_at_the_last_interval_counts() -> None:
    assert VALLEY.validate(valley_bid(run(92, 4, GOOD)), BEFORE_GATE) == []
    v = only(VALLEY.validate(valley_bid(run(93, 3, GOOD)), BEFORE_GATE))
    assert (v.rule, v.field) == ("min_duration", "intervals[93]")


def test_max_steps() -> None:
    ladder = [(100.0 + 10 * j, 200.0) for j in range(6)]
    found = VALLEY.validate(valley_bid(run(40, 4, ladder)), BEFORE_GATE)
    assert rules_of(found) == [("max_steps", f"intervals[{k}].steps") for k in range(40, 44)]
    assert "6 steps" in found[0].message
    assert "at most 5" in found[0].message


def test_supply_ladders_must_rise_strictly() -> None:
    falling = run(40, 4, GOOD)
    falling[40] = [(150.0, 600.0), (120.0, 400.0)]
    flat = run(40, 4, GOOD)
    flat[41] = [(150.0, 600.0), (150.0, 400.0)]
    for offers, k in ((falling, 40), (flat, 41)):
        v = only(VALLEY.validate(valley_bid(offers), BEFORE_GATE))
        assert (v.rule, v.field) == ("ladder_order", f"intervals[{k}].steps[1].price_cny_per_mwh")
        assert "strictly rise" in v.message


def test_demand_bids_must_fall_strictly() -> None:
    pack = DayAheadBuy()
    falling = make_bid(pack.product, Direction.UP, {8: [(450.0, 200.0), (300.0, 300.0)]})
    rising = make_bid(pack.product, Direction.UP, {8: [(300.0, 200.0), (450.0, 300.0)]})
    assert pack.validate(falling, BEFORE_GATE) == []
    v = only(pack.validate(rising, BEFORE_GATE))
    assert (v.rule, v.field) == ("ladder_order", "intervals[8].steps[1].price_cny_per_mwh")
    assert "strictly fall" in v.message


def test_one_violation_per_rule_and_interval() -> None:
    offers = run(40, 4, GOOD)
    offers[40] = [(50.0, 300.0), (60.0, 300.0), (70.0, 400.0)]
    offers[41] = [(50.0, 600.0), (150.0, 400.0)]
    found = VALLEY.validate(valley_bid(offers), BEFORE_GATE)
    assert rules_of(found) == [
        ("price_floor", "intervals[40].steps[0].price_cny_per_mwh"),
        ("price_floor", "intervals[41].steps[0].price_cny_per_mwh"),
    ]


def test_every_violation_is_reported_together() -> None:
    offers = {**run(40, 4, GOOD), 50: [(300.0, 250.0), (250.0, 250.0)]}
    bid = dataclasses.replace(valley_bid(offers), side=Direction.DOWN)
    found = VALLEY.validate(bid, AT_GATE + timedelta(hours=1))
    assert {v.rule for v in found} == {
        "side",
        "gate_closure",
        "price_cap",
        "quantity_step",
        "ladder_order",
        "min_quantity",
        "min_duration",
    }


def test_spot_limits_are_40_to_500() -> None:
    pack = DayAheadSell()
    ok = make_bid(pack.product, Direction.DOWN, {5: [(40.0, 100.0), (500.0, 100.0)]})
    bad = make_bid(pack.product, Direction.DOWN, {5: [(39.0, 100.0)], 6: [(501.0, 100.0)]})
    assert pack.validate(ok, BEFORE_GATE) == []
    assert rules_of(pack.validate(bad, BEFORE_GATE)) == [
        ("price_floor", "intervals[5].steps[0].price_cny_per_mwh"),
        ("price_cap", "intervals[6].steps[0].price_cny_per_mwh"),
    ]


class TestRealTimeGate:
    """Real-time offers close 60 min before their interval starts (Beijing time)."""

    pack = RealTimeSell()

    def test_each_interval_has_its_own_gate(self) -> None:
        # Interval 40 starts 10:00 Beijing = 02:00Z; its gate is 01:00Z.
        assert self.pack.interval_gate_closure(DAY, 40) == datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
        assert self.pack.interval_gate_closure(DAY, 0) == datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
        # The day's last acceptance is the gate of interval 95 (23:45 Beijing - 60 min).
        assert self.pack.gate_closure(DAY) == datetime(2026, 3, 10, 14, 45, tzinfo=UTC)

    def test_offers_past_their_gate_are_refused(self) -> None:
        bid = make_bid(self.pack.product, Direction.DOWN, run(40, 8, [(300.0, 500.0)]))
        now = datetime(2026, 3, 10, 1, 30, tzinfo=UTC)  # 09:30 Beijing
        found = self.pack.validate(bid, now)
        assert rules_of(found) == [
            ("gate_closure", "intervals[40]"),
            ("gate_closure", "intervals[41]"),
        ]
        assert "60 min before it starts" in found[0].message

    def test_empty_intervals_past_their_gate_are_fine(self) -> None:
        bid = make_bid(self.pack.product, Direction.DOWN, run(60, 4, [(300.0, 500.0)]))
        assert self.pack.validate(bid, datetime(2026, 3, 10, 1, 30, tzinfo=UTC)) == []

    def test_lead_time_is_configurable(self) -> None:
        pack = RealTimeSell({"gate_lead_minutes": 15})
        assert pack.interval_gate_closure(DAY, 40) == datetime(2026, 3, 10, 1, 45, tzinfo=UTC)
        with pytest.raises(ValueError, match="interval must be in"):
            pack.interval_gate_closure(DAY, 96)


class TestMonthlyGreen:
    pack = MonthlyGreenBuy()
    march = date(2026, 3, 1)

    def bid(self, day: date) -> Bid:
        return make_bid(
            self.pack.product, Direction.UP, {12: [(320.0, 500.0)]}, intervals=24, day=day
        )

    def test_gate_is_the_25th_of_the_previous_month_at_10_beijing(self) -> None:
        gate = datetime(2026, 2, 25, 2, 0, tzinfo=UTC)
        assert self.pack.gate_closure(self.march) == gate
        assert self.pack.validate(self.bid(self.march), gate) == []
        v = only(self.pack.validate(self.bid(self.march), gate + timedelta(seconds=1)))
        assert (v.rule, v.field) == ("gate_closure", "day")

    def test_gate_is_configurable(self) -> None:
        by_offset = MonthlyGreenBuy({"gate_day_of_previous_month": None, "gate_day_offset": -3})
        assert by_offset.gate_closure(self.march) == datetime(2026, 2, 26, 2, 0, tzinfo=UTC)
        late = MonthlyGreenBuy({"gate_day_of_previous_month": 31, "gate_time_local": "17:30"})
        assert late.gate_closure(self.march) == datetime(2026, 2, 28, 9, 30, tzinfo=UTC)

    def test_the_day_must_be_the_first_of_the_month(self) -> None:
        v = only(self.pack.validate(self.bid(date(2026, 3, 5)), datetime(2026, 2, 1, tzinfo=UTC)))
        assert (v.rule, v.field) == ("delivery_month", "day")
        assert "2026-03-01" in v.message


def test_green_floor_is_the_benchmark_band_and_there_is_no_cap() -> None:
    pack = DayAheadGreenBuy()
    assert pack.limits().price_floor_cny_per_mwh == pytest.approx(307.8 * 0.8)
    ok = make_bid(pack.product, Direction.UP, {12: [(5000.0, 300.0)]}, intervals=24)
    low = make_bid(pack.product, Direction.UP, {12: [(246.0, 300.0)]}, intervals=24)
    assert pack.validate(ok, BEFORE_GATE) == []
    v = only(pack.validate(low, BEFORE_GATE))
    assert (v.rule, v.field) == ("price_floor", "intervals[12].steps[0].price_cny_per_mwh")
    assert "246.24" in v.message


STEPS = st.lists(
    st.tuples(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(allow_nan=True, allow_infinity=True),
    ),
    max_size=7,
)


@settings(database=None, deadline=None)
@given(st.dictionaries(st.integers(0, 95), STEPS, max_size=12), st.booleans())
def test_any_bid_gets_named_rules_and_no_exception(offers: dict[int, Ladder], late: bool) -> None:
    now = AT_GATE + timedelta(seconds=1) if late else BEFORE_GATE
    for pack in (VALLEY, DayAheadBuy(), RealTimeSell()):
        bid = make_bid(pack.product, pack.side, offers)
        found = pack.validate(bid, now)
        assert {v.rule for v in found} <= set(RULES)
        assert len(found) == len({(v.rule, v.field.split(".")[0]) for v in found})
        assert all(v.message for v in found)
