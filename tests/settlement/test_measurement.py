"""Settlement baselines by hand (Jiangsu, Beijing, GB/T 32127, same-day adjustment) and the gap
rule, and agreement with `vpp.forecast.baselines` asset by asset."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpp.forecast.baselines import (
    AdjustmentKind,
    MorningAdjustment,
    apply_adjustment,
    high_x_of_y_matrix,
    similar_days_matrix,
)
from vpp.forecast.quality import _fill_short_gaps
from vpp.settlement.measurement import (
    BaselineMethod,
    BaselineRule,
    GapRule,
    adjust,
    fill_day_tensor,
    fill_short_gaps,
    interval_means,
    settlement_baselines,
)

WEDNESDAY = date(2026, 3, 11)
SATURDAY = date(2026, 3, 14)


def by_day_of_month(
    target: date, n_assets: int = 2, span: int = 20
) -> tuple[list[date], np.ndarray]:
    """Every asset draws 10 x (day of month) kW all day (March: 10 kW on the 1st ...)."""
    days = [target - timedelta(days=span - i) for i in range(span + 1)]
    values = np.empty((len(days), n_assets, 96))
    for i, d in enumerate(days):
        values[i] = 10.0 * d.day if d.month == 3 else 10.0 * (d.day - 31)
    return days, values


def test_jiangsu_last_five_normal_workdays_skipping_events_and_incomplete_days() -> None:
    days, values = by_day_of_month(WEDNESDAY)
    # asset 1 misses an interval on Friday the 6th that the gap rule cannot fill
    values[days.index(date(2026, 3, 6)), 1, 10:15] = np.nan
    rule = BaselineRule(BaselineMethod.JIANGSU)
    out = settlement_baselines(
        days, values, len(days) - 1, rule, event_days={date(2026, 3, 9), WEDNESDAY}
    )
    # asset 0: 10th, 6th, 5th, 4th, 3rd (Monday 9th was an event day): mean 56 kW
    assert out.power_kw[0].tolist() == [56.0] * 96
    assert out.days_used[0] == tuple(date(2026, 3, d) for d in (10, 6, 5, 4, 3))
    # asset 1 skips its incomplete Friday: 10th, 5th, 4th, 3rd, 2nd: mean 48 kW
    assert out.power_kw[1].tolist() == [48.0] * 96
    assert out.days_used[1] == tuple(date(2026, 3, d) for d in (10, 5, 4, 3, 2))
    assert out.complete.tolist() == [True, True]
    assert np.isnan(out.adjustment).all()


def test_beijing_five_highest_of_ten_workdays_from_d_minus_two() -> None:
    days, values = by_day_of_month(WEDNESDAY)
    # asset 1 has its loads reversed: the older the day, the higher
    for i, d in enumerate(days):
        values[i, 1] = 1000.0 - 10.0 * d.toordinal() % 1000
    rule = BaselineRule(BaselineMethod.BEIJING)
    out = settlement_baselines(days, values, len(days) - 1, rule, event_days={WEDNESDAY})
    # workdays from D-2 = 9th back: 9, 6, 5, 4, 3, 2, Feb 27, 26, 25, 24 (10 days)
    assert out.days_used[0] == tuple(date(2026, 3, d) for d in (9, 6, 5, 4, 3))
    assert out.power_kw[0, 0] == pytest.approx(10.0 * (9 + 6 + 5 + 4 + 3) / 5)
    assert out.days_used[1] == (
        date(2026, 3, 2),
        date(2026, 2, 27),
        date(2026, 2, 26),
        date(2026, 2, 25),
        date(2026, 2, 24),
    )
    for a in range(2):
        ref = high_x_of_y_matrix(
            days,
            values[:, a, :],
            len(days) - 1,
            x=5,
            y=10,
            first_lag_days=2,
            event_days={WEDNESDAY},
        )
        assert out.power_kw[a].tolist() == ref.power_kw.tolist()
        assert out.days_used[a] == ref.days_used


def test_gbt32127_takes_three_rest_days_for_a_rest_day_event_and_five_workdays_otherwise() -> None:
    days, values = by_day_of_month(SATURDAY)
    rule = BaselineRule(BaselineMethod.GBT32127)
    out = settlement_baselines(days, values, len(days) - 1, rule)
    assert out.days_used[0] == (date(2026, 3, 8), date(2026, 3, 7), date(2026, 3, 1))
    assert out.power_kw[0, 0] == pytest.approx(10.0 * (8 + 7 + 1) / 3)
    days, values = by_day_of_month(WEDNESDAY)
    out = settlement_baselines(days, values, len(days) - 1, rule)
    assert out.days_used[0] == tuple(date(2026, 3, d) for d in (10, 9, 6, 5, 4))


def test_too_little_history_uses_what_it_finds_and_says_so() -> None:
    days, values = by_day_of_month(WEDNESDAY, span=3)  # only Sun 8, Mon 9, Tue 10 before
    out = settlement_baselines(days, values, len(days) - 1, BaselineRule())
    assert out.days_used[0] == (date(2026, 3, 10), date(2026, 3, 9))
    assert out.complete.tolist() == [False, False]
    values[:-1] = np.nan
    out = settlement_baselines(days, values, len(days) - 1, BaselineRule())
    assert np.isnan(out.power_kw).all()


@pytest.mark.parametrize("kind", list(AdjustmentKind))
def test_same_day_adjustment_is_capped_and_matches_the_forecast_rule(kind: AdjustmentKind) -> None:
    days, values = by_day_of_month(WEDNESDAY, n_assets=3)
    # baseline: 10th, 9th, 6th, 5th, 4th: 68 kW
    values[-1, 0, 40:52] = 68.0 * 1.5  # morning 50 % above the baseline: capped at +20 %
    values[-1, 1, 40:52] = 68.0 * 0.9  # 10 % below: applied as is
    values[-1, 2, 44] = np.nan  # the window is not fully measured: no adjustment
    adjustment = MorningAdjustment(40, 52, cap=0.2, kind=kind)
    rule = BaselineRule(BaselineMethod.JIANGSU, adjustment=adjustment)
    out = settlement_baselines(days, values, len(days) - 1, rule, event_days={WEDNESDAY})
    if kind == AdjustmentKind.MULTIPLICATIVE:
        assert out.power_kw[0, 0] == pytest.approx(68.0 * 1.2)
        assert out.power_kw[1, 0] == pytest.approx(68.0 * 0.9)
        assert out.adjustment[:2] == pytest.approx([1.2, 0.9])
    else:
        assert out.power_kw[0, 0] == pytest.approx(68.0 + 0.2 * 68.0)
        assert out.power_kw[1, 0] == pytest.approx(68.0 - 6.8)
    assert out.power_kw[2, 0] == 68.0
    assert np.isnan(out.adjustment[2])
    base = np.full(96, 68.0)
    for a in range(3):
        ref, _ = apply_adjustment(base, values[-1, a], adjustment)
        assert out.power_kw[a] == pytest.approx(ref)


def test_vectorised_baselines_equal_the_forecast_rules_on_random_histories() -> None:
    rng = np.random.default_rng(3)
    days, _ = by_day_of_month(WEDNESDAY, span=30)
    values = rng.uniform(0, 1000, size=(len(days), 40, 96))
    # random long gaps make several completeness patterns
    for a in range(0, 40, 3):
        values[rng.integers(0, len(days) - 1), a, 5:20] = np.nan
    events = {days[-4], days[-1]}
    target = len(days) - 1
    jiangsu = settlement_baselines(days, values, target, BaselineRule(), event_days=events)
    beijing = settlement_baselines(
        days, values, target, BaselineRule(BaselineMethod.BEIJING), event_days=events
    )
    for a in range(40):
        ref = similar_days_matrix(days, values[:, a, :], target, n_days=5, event_days=events)
        assert jiangsu.days_used[a] == ref.days_used
        assert jiangsu.power_kw[a].tolist() == ref.power_kw.tolist()
        ref = high_x_of_y_matrix(
            days, values[:, a, :], target, x=5, y=10, first_lag_days=2, event_days=events
        )
        assert beijing.days_used[a] == ref.days_used
        assert beijing.power_kw[a].tolist() == ref.power_kw.tolist()


def test_vectorised_adjustment_equals_the_forecast_rule() -> None:
    rng = np.random.default_rng(5)
    base = rng.uniform(-50, 500, size=(30, 96))
    actual = rng.uniform(0, 600, size=(30, 96))
    actual[3, 45] = np.nan
    for kind in AdjustmentKind:
        adjustment = MorningAdjustment(40, 52, kind=kind)
        out, _ = adjust(base, actual, adjustment)
        for a in range(30):
            ref, _ = apply_adjustment(base[a], actual[a], adjustment)
            assert out[a] == pytest.approx(ref)


def test_gap_rule_fills_interior_runs_up_to_the_limit_only() -> None:
    nan = np.nan
    values = np.array(
        [
            [1.0, nan, 3.0, nan, nan, 6.0, nan, nan, nan, 10.0],
            [nan, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, nan],
        ]
    )
    filled, mask = fill_short_gaps(values, max_gap=2)
    assert filled[0, :6].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert np.isnan(filled[0, 6:9]).all()  # three in a row: left missing
    assert np.isnan(filled[1, [0, 9]]).all()  # the ends are never invented
    assert mask[0].tolist() == [False, True, False, True, True] + [False] * 5
    zero, zmask = fill_short_gaps(values, max_gap=0)
    assert not zmask.any()
    assert np.array_equal(np.isnan(zero), np.isnan(values))


def test_a_gap_across_midnight_is_one_gap() -> None:
    values = np.full((2, 1, 96), 100.0)
    values[0, 0, 95] = np.nan
    values[1, 0, 0] = np.nan
    filled, mask = fill_day_tensor(values, GapRule(max_fill_intervals=2))
    assert filled[0, 0, 95] == filled[1, 0, 0] == 100.0
    assert mask[0, 0, 95] and mask[1, 0, 0]
    values[1, 0, 1] = np.nan
    filled, _ = fill_day_tensor(values, GapRule(max_fill_intervals=2))
    assert np.isnan(filled[0, 0, 95])


def test_interval_means_average_the_readings_of_each_interval() -> None:
    out = interval_means(
        np.array([0, 0, 0, 1, 1, 7]),
        np.array([0, 0, 2, 1, 99, 0]),
        np.array([10.0, 20.0, 5.0, np.nan, 1.0, 1.0]),
        n_assets=2,
        n_slots=3,
    )
    assert out[0].tolist()[0] == 15.0 and out[0, 2] == 5.0
    assert np.isnan(out[0, 1]) and np.isnan(out[1]).all()


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 5))
def test_gap_rule_equals_the_forecast_cleaning_rule(seed: int, max_gap: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.uniform(-100, 100, (4, 3, 96))
    values[rng.random(values.shape) < 0.15] = np.nan
    filled, mask = fill_day_tensor(values, GapRule(max_fill_intervals=max_gap))
    for a in range(3):
        series = values[:, a, :].reshape(-1)
        ref, ref_mask = _fill_short_gaps(series, max_gap)
        got = filled[:, a, :].reshape(-1)
        assert np.array_equal(np.isnan(got), np.isnan(ref))
        assert np.allclose(got[~np.isnan(got)], ref[~np.isnan(ref)])
        assert np.array_equal(mask[:, a, :].reshape(-1), ref_mask)
