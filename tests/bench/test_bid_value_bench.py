"""The bid-value benchmark's core on a small park and one market day (`make bench` runs it all)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pytest

from bench import bid_value_bench as bench
from vpp.bidding.planner import RESERVE_BY_RISK
from vpp.domain import Direction
from vpp.domain.market import Bid
from vpp.domain.tariff import TimeOfUseTariff
from vpp.optimize.bidding import BidInputs, ProductInput, plan_value
from vpp.ports import MarketPack

N_ASSETS = 16
"""The tiny benchmark's park; the one-day fixture takes the full park, which the naive
strategy needs to reach the 1 MW minimum."""
TOLERANCE_CNY = 1.0


@dataclass(frozen=True)
class Day:
    park: bench.Park
    today: bench.ParkDay
    md: bench.MarketDay
    plans: dict[str, bench.StrategyPlan]


@pytest.fixture(scope="module")
def day() -> Day:
    park = bench.build_park()
    packs = bench.peak_shaving_packs()
    md = asyncio.run(bench.market_day(packs, bench.FIRST_DAY, bench.MARKET_SEED))
    today = bench.park_day(park, md.day, md.clearness)
    candidates = bench.oracle_candidates(park, today, md)
    best = max(candidates.values(), key=lambda c: c[1].profit_cny)[0]
    plans = {
        "optimiser": bench.optimiser_plan(park, today, packs, md.outlooks),
        "naive": bench.naive_plan(park, today, packs, md.outlooks),
        "oracle": best,
    }
    return Day(park, today, md, plans)


def test_the_park_mixes_every_kind_and_its_truth_lies_in_its_bands() -> None:
    park = bench.build_park(N_ASSETS)
    assert set(park.kinds) == {"battery", "load", "process", "ev", "pv"}
    today = bench.park_day(park, bench.FIRST_DAY, clearness=0.8)
    # the robust (P10-P90) box is never wider than the median one
    assert (today.robust_hi_kw <= today.median_hi_kw + 1e-9).all()
    assert (today.robust_lo_kw >= today.median_lo_kw - 1e-9).all()
    # batteries and processes know their baseline: their truth is their forecast
    exact = park.error_sd == 0
    assert np.array_equal(today.true_lo_kw[exact], today.median_lo_kw[exact])


def test_every_strategy_bids_validly_before_the_gate(day: Day) -> None:
    now = bench.submission_clock(day.md.packs, day.md.day).now()
    for name, plan in day.plans.items():
        assert plan.bids, f"{name} bids nothing"
        for product, bid in plan.bids.items():
            assert day.md.packs[product].validate(bid, now) == [], (name, product)
    for product, bid in day.plans["naive"].bids.items():
        cap = day.md.packs[product].limits().price_cap_cny_per_mwh
        assert {s.price_cny_per_mwh for o in bid.intervals for s in o.steps} == {cap}


def test_realised_profit_is_payments_minus_penalties_minus_costs(day: Day) -> None:
    for plan in day.plans.values():
        outcome = bench.realise(
            day.park, day.today, plan, day.md.clear_with(plan.bids), day.md.packs
        )
        assert outcome.profit_cny == pytest.approx(
            outcome.payment_cny - outcome.penalty_cny - outcome.activation_cny - outcome.energy_cny
        )
        assert outcome.shortfall_kwh <= outcome.awarded_kwh + 1e-6


def test_realised_accounting_is_unit_values_on_what_was_delivered(day: Day) -> None:
    """With every award delivered and paid as measured against baseline + firm schedule,
    realised profit = `plan_value` at the award prices."""
    plan = day.plans["optimiser"]
    clearings = day.md.clear_with(plan.bids)
    delivery = bench.deliver(day.park, day.today, plan, clearings, day.md.packs)
    assert delivery.outcome.shortfall_kwh == pytest.approx(0.0, abs=1e-6)
    assert delivery.outcome.penalty_cny == 0.0
    fleet = day.park.fleet(day.today.true_lo_kw, day.today.true_hi_kw)
    packs: list[MarketPack] = [day.md.packs[p] for p in clearings]
    products = tuple(
        ProductInput(
            name=pack.product,
            limits=pack.limits(),
            expected_price_cny_per_mwh=np.where(
                delivery.award_kw[k] > 0,
                delivery.award_price_cny_per_mwh[k],
                pack.limits().price_floor_cny_per_mwh,
            ),
        )
        for k, pack in enumerate(packs)
    )
    inputs = BidInputs(fleet, products, TimeOfUseTariff().price_cny_per_mwh())
    expected = plan_value(inputs, delivery.firm_kw, delivery.delivery_kw)
    outcome = delivery.outcome
    as_if_firm_were_baseline = (
        outcome.profit_cny - outcome.payment_cny + outcome.firm_relative_payment_cny
    )
    assert as_if_firm_were_baseline == pytest.approx(expected, rel=1e-9, abs=1e-6)
    # against the true baseline the pool is paid at most that
    assert outcome.payment_cny <= outcome.firm_relative_payment_cny + 1e-6


def test_the_response_is_measured_against_the_true_baseline() -> None:
    """A battery charging 100 kW in its firm schedule and 'cutting' 200 kW responds 100 kW;
    a load already shedding 50 kW in its firm schedule adds to the response."""
    firm = np.zeros((2, bench.T))
    firm[0, 80] = 100.0
    firm[1, 81] = -50.0
    delivery = np.zeros((2, bench.T))
    delivery[0, 80] = -200.0
    delivery[1, 81] = -100.0
    award = np.zeros((2, bench.T))
    award[1, 80] = 200.0
    award[1, 81] = 100.0
    sides = [Direction.UP, Direction.DOWN]
    response = bench.pool_response(firm + delivery, award, sides)
    assert response[1, 80] == pytest.approx(100.0)
    assert response[1, 81] == pytest.approx(150.0)
    assert not response[0].any()


def test_the_oracle_is_not_beaten_on_the_same_truth(day: Day) -> None:
    realised = {
        name: bench.realise(
            day.park, day.today, plan, day.md.clear_with(plan.bids), day.md.packs
        ).profit_cny
        for name, plan in day.plans.items()
    }
    assert realised["oracle"] > 0
    assert realised["optimiser"] <= realised["oracle"] + TOLERANCE_CNY
    assert realised["naive"] <= realised["oracle"] + TOLERANCE_CNY


def test_the_operator_and_the_packs_clear_alike(day: Day) -> None:
    plan = day.plans["optimiser"]
    via_market = asyncio.run(
        bench.through_market(day.md.packs, day.md.day, bench.MARKET_SEED, plan.bids)
    )
    direct = day.md.clear_with(plan.bids)
    for product in day.md.packs:
        assert bench.awards_of(via_market[product])[0] == pytest.approx(
            bench.awards_of(direct[product])[0]
        )


def test_the_sensitivity_inputs_are_the_planners(day: Day) -> None:
    """`planner_inputs` at the service's settings gives `plan_bids`' own plan."""
    inputs = bench.planner_inputs(day.park, day.today, day.md.packs, day.md.outlooks)
    assert inputs.reserve_margin == RESERVE_BY_RISK[bench.RISK_QUANTILE]
    variant = bench.variant_plan(inputs, day.md.day)
    service = day.plans["optimiser"]
    # firm schedules may differ between equally good optima, their energy cost may not
    tariff = TimeOfUseTariff().price_cny_per_mwh()
    assert np.sum(tariff * variant.firm_kw) == pytest.approx(np.sum(tariff * service.firm_kw))
    assert set(variant.bids) == set(service.bids)
    for product, bid in service.bids.items():
        assert _quantities(variant.bids[product]) == pytest.approx(_quantities(bid))


def test_rule_abiding_only_rounds_down() -> None:
    limits = bench.peak_shaving_packs()["peak_shaving.peak_cut"].limits()
    total = np.zeros(bench.T)
    total[10:16] = 1250.0  # a 6-interval run, rounded to the 100 kW step
    total[20:22] = 5000.0  # too short a run
    total[30:40] = 900.0  # below the 1 MW minimum
    out = bench.rule_abiding(total, limits)
    assert (out <= total).all()
    assert (out[10:16] == 1200.0).all()
    assert not out[20:22].any()
    assert not out[30:40].any()


def test_a_tiny_benchmark_runs_and_sums_its_days() -> None:
    days = [bench.FIRST_DAY, bench.FIRST_DAY + timedelta(days=bench.DAY_SPACING)]
    summary = bench.run_benchmark(len(days), N_ASSETS, days=days)
    assert len(summary.days) == 2
    total = sum(d.outcomes["optimiser"].profit_cny for d in summary.days)
    assert summary.total("optimiser").profit_cny == pytest.approx(total)
    assert summary.oracle_beaten(TOLERANCE_CNY) == 0
    assert 0 < summary.ratio("optimiser") <= 1.0


def _quantities(bid: Bid) -> list[float]:
    return [o.quantity_kw for o in bid.intervals]
