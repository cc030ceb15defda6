"""The simulated market operator: forecasts, competitors, submissions, clearing, instructions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.errors import MarketRejectedError
from market.simulator.competitors import COMPETITOR_PREFIX, competitor_bids, offered_mask
from market.simulator.curtailment import (
    evening_mask,
    forecast_day,
    green_supply,
    peak_cut_demand_kw,
    spot_reference_price_cny_per_mwh,
    valley_fill_demand_kw,
)
from market.simulator.inprocess import InProcessMarketClient
from market.simulator.operator import (
    GateOpenError,
    InvalidRequestError,
    SimulatedMarket,
    UnknownProductError,
)
from market.simulator.scenario import Scenario, resample
from vpp.bidding.registry import load_packs
from vpp.domain.market import Bid, BidStep, IntervalOffer
from vpp.domain.time import day_bounds_utc
from vpp.ports import ManualClock, MarketPack

pytestmark = pytest.mark.anyio

DAY = date(2026, 6, 2)
"""Seed 0 forecasts midday curtailment on this day (valley filling wanted)."""
BEFORE_GATE = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
"""D-1 08:00 Beijing time; the day-ahead gates close at D-1 10:00 (02:00Z)."""
VALLEY = "peak_shaving.valley_fill"
PEAK = "peak_shaving.peak_cut"
YEAR = [date(2026, 1, 1) + timedelta(days=i) for i in range(0, 365, 2)]


@pytest.fixture(scope="module")
def packs() -> dict[str, MarketPack]:
    return load_packs()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(BEFORE_GATE)


@pytest.fixture
def market(packs: dict[str, MarketPack], clock: ManualClock) -> SimulatedMarket:
    return SimulatedMarket(packs, clock, seed=0)


def ladder_bid(
    market: SimulatedMarket,
    product: str,
    participant: str,
    *,
    price: float,
    quantity_kw: float = 2000.0,
    day: date = DAY,
) -> Bid:
    """One step at ``price`` wherever the product's demand is positive (runs stretched)."""
    pack = market.pack(product)
    limits = pack.limits()
    wanted = np.asarray(market.demand(product, day).quantity_kw) > 0
    on = offered_mask(wanted, limits.min_duration_intervals)
    return Bid(
        product=product,
        day=day,
        participant=participant,
        side=limits.side,
        intervals=tuple(
            IntervalOffer(k, (BidStep(price, quantity_kw),) if on[k] else ())
            for k in range(limits.intervals_per_day)
        ),
    )


def past_gate(clock: ManualClock, market: SimulatedMarket, product: str, day: date = DAY) -> None:
    gate = market.pack(product).gate_closure(day)
    clock.advance((gate - clock.now()).total_seconds() + 1)


# -- the province forecast -------------------------------------------------------------------


def test_forecast_is_deterministic_per_seed_and_day() -> None:
    first, again = forecast_day(0, DAY), forecast_day(0, DAY)
    np.testing.assert_array_equal(first.curtailment_kw, again.curtailment_kw)
    np.testing.assert_array_equal(first.load_kw, again.load_kw)
    other_seed = forecast_day(1, DAY)
    other_day = forecast_day(0, DAY + timedelta(days=1))
    assert not np.array_equal(first.wind_kw, other_seed.wind_kw)
    assert not np.array_equal(first.wind_kw, other_day.wind_kw)


def test_curtailment_comes_at_midday_and_on_windy_nights_and_varies_by_day() -> None:
    midday = slice(40, 64)  # 10:00-16:00 Beijing time
    night = slice(0, 24)  # 00:00-06:00
    sunny_curtailed = windy_curtailed = 0
    totals = []
    for day in YEAR:
        fc = forecast_day(0, day)
        assert fc.curtailment_kw.shape == (96,)
        assert np.all(fc.curtailment_kw >= 0)
        assert np.all(fc.curtailment_kw <= fc.wind_kw + fc.solar_kw + 1e-6)
        assert np.all(fc.solar_kw[:24] == 0)  # no sun before 06:00 in Gansu
        sunny_curtailed += bool(fc.curtailment_kw[midday].max() > 0)
        windy_curtailed += bool(fc.curtailment_kw[night].max() > 0)
        if fc.curtailment_kw[night].max() > 0:
            assert fc.wind_capacity_factor > 0.25  # only windy nights curtail
        totals.append(fc.curtailment_kw.sum())
    assert 0.2 * len(YEAR) < sunny_curtailed < 0.8 * len(YEAR)
    assert 0.03 * len(YEAR) < windy_curtailed < sunny_curtailed
    assert min(totals) == 0 and len(set(totals)) > len(YEAR) // 2


def test_valley_filling_only_where_curtailment_is_forecast() -> None:
    seen_demand = 0
    for day in YEAR:
        fc = forecast_day(0, day)
        valley = valley_fill_demand_kw(fc)
        assert np.all(valley >= 0)
        assert np.all(fc.curtailment_kw[valley > 0] > 0)
        assert np.all(valley % 100 == 0)
        seen_demand += bool(valley.max() > 0)
    assert seen_demand > 0.2 * len(YEAR)


def test_peak_cutting_only_at_the_evening_peak() -> None:
    evening = evening_mask()
    assert evening.sum() == 16 and evening[72] and evening[87] and not evening[88]
    days_with_demand = 0
    for day in YEAR:
        peak = peak_cut_demand_kw(forecast_day(0, day))
        assert np.all(peak[~evening] == 0)
        days_with_demand += bool(peak.max() > 0)
    assert days_with_demand > 0.9 * len(YEAR)


def test_spot_reference_is_low_at_midday_and_high_in_the_evening() -> None:
    midday, evening = [], []
    for day in YEAR:
        fc = forecast_day(0, day)
        price = spot_reference_price_cny_per_mwh(fc, 40.0, 500.0)
        assert price.min() >= 40.0 and price.max() <= 500.0
        assert np.all(price[fc.curtailment_kw > 0] == 40.0)
        midday.append(price[48:56].mean())
        evening.append(price[76:84].mean())
    assert np.mean(midday) < 0.5 * np.mean(evening)


def test_green_supply_is_hourly_energy_with_priced_premium() -> None:
    supply = green_supply(0, DAY)
    assert supply.energy_kwh.shape == supply.price_cny_per_mwh.shape == (24,)
    assert np.all(supply.energy_kwh >= 0) and supply.energy_kwh.max() > 0
    # Energy price within the benchmark ± 20 % ([C18b]) plus a premium >= 0.
    assert np.all(supply.price_cny_per_mwh >= 307.8 * 0.8)
    assert np.array_equal(supply.energy_kwh, green_supply(0, DAY).energy_kwh)


def test_resample_keeps_means() -> None:
    values = np.arange(96, dtype=np.float64)
    hourly = resample(values, 24)
    assert hourly[0] == pytest.approx(1.5)
    assert resample(hourly, 96)[:4].tolist() == [1.5] * 4
    assert resample(values, 96) is not values
    assert resample(values, 5).shape == (5,)


# -- competitors ---------------------------------------------------------------------------


@pytest.mark.parametrize("day", [DAY, date(2026, 12, 1), date(2026, 3, 17)])
def test_competitor_bids_pass_their_packs_validation(
    packs: dict[str, MarketPack], day: date
) -> None:
    scenario = Scenario(0)
    seen = 0
    for product, pack in packs.items():
        bid_day = day.replace(day=1) if "monthly" in product else day
        plan = scenario.product_day(product, pack.limits(), bid_day)
        descending = pack.describe().get("merit_order") == "highest_price_first"
        bids = competitor_bids(
            0,
            product,
            bid_day,
            pack.limits(),
            plan.demand_kw,
            plan.anchor_price_cny_per_mwh,
            descending=descending,
        )
        now = pack.gate_closure(bid_day) - timedelta(days=2)
        for bid in bids:
            assert bid.participant.startswith(COMPETITOR_PREFIX)
            assert pack.validate(bid, now) == [], (product, bid.participant)
        seen += len(bids)
        if plan.demand_kw.max() > 0:
            assert len(bids) >= 5, product
    assert seen > 50


def test_competitors_are_deterministic_per_seed_and_day(packs: dict[str, MarketPack]) -> None:
    clock = ManualClock(BEFORE_GATE)
    one, two = SimulatedMarket(packs, clock, seed=3), SimulatedMarket(packs, clock, seed=3)
    other = SimulatedMarket(packs, clock, seed=4)
    assert one.competitor_bids(PEAK, DAY) == two.competitor_bids(PEAK, DAY)
    assert one.competitor_bids(PEAK, DAY) != other.competitor_bids(PEAK, DAY)
    assert one.competitor_bids(PEAK, DAY) != one.competitor_bids(PEAK, DAY + timedelta(days=1))


def test_supply_curve_puts_more_capacity_at_low_prices(market: SimulatedMarket) -> None:
    limits = market.pack(PEAK).limits()
    middle = (limits.price_floor_cny_per_mwh + limits.price_cap_cny_per_mwh) / 2
    low = high = 0.0
    for i in range(20):
        for bid in market.competitor_bids(PEAK, DAY + timedelta(days=i)):
            for offer in bid.intervals:
                for step in offer.steps:
                    if step.price_cny_per_mwh < middle:
                        low += step.quantity_kw
                    else:
                        high += step.quantity_kw
    assert low > 2 * high


@given(st.lists(st.booleans(), min_size=1, max_size=96), st.integers(1, 8))
def test_offered_runs_cover_the_wanted_intervals_and_last_long_enough(
    wanted: list[bool], min_run: int
) -> None:
    mask = offered_mask(np.asarray(wanted), min_run)
    assert np.all(mask[np.asarray(wanted)])
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, mask.astype(int), 0])))[::2]
    assert all(r >= min(min_run, len(wanted)) for r in runs)
    if not any(wanted):
        assert not mask.any()


async def test_outlook_is_deterministic_and_clears_competitors(
    packs: dict[str, MarketPack], market: SimulatedMarket
) -> None:
    again = SimulatedMarket(packs, ManualClock(BEFORE_GATE), seed=0)
    other = SimulatedMarket(packs, ManualClock(BEFORE_GATE), seed=1)
    for product in (VALLEY, PEAK, "spot.day_ahead.sell", "green_power.day_ahead.buy"):
        outlook = await market.outlook(product, DAY)
        assert outlook == await again.outlook(product, DAY)
        assert outlook != await other.outlook(product, DAY)
        limits = market.pack(product).limits()
        assert len(outlook.demand_kw) == limits.intervals_per_day
        assert outlook.gate_closure == market.pack(product).gate_closure(DAY)
        prices = np.asarray(outlook.reference_price_cny_per_mwh)
        assert np.all(np.isfinite(prices))
        assert prices.min() >= limits.price_floor_cny_per_mwh
        assert prices.max() <= limits.price_cap_cny_per_mwh


async def test_outlook_prices_are_the_competitors_clearing(market: SimulatedMarket) -> None:
    outlook = await market.outlook(VALLEY, DAY)
    pack = market.pack(VALLEY)
    expected = pack.clear(market.demand(VALLEY, DAY), market.competitor_bids(VALLEY, DAY))
    for k, price in enumerate(expected.clearing_price_cny_per_mwh):
        if np.isnan(price):
            assert outlook.reference_price_cny_per_mwh[k] == pack.limits().price_floor_cny_per_mwh
        else:
            assert outlook.reference_price_cny_per_mwh[k] == price
    # Valley filling is wanted only where curtailment is forecast.
    curtailed = market.scenario.forecast(DAY).curtailment_kw > 0
    assert np.all(curtailed[np.asarray(outlook.demand_kw) > 0])


async def test_participant_is_marginal_in_some_intervals_and_inframarginal_in_others(
    market: SimulatedMarket, clock: ManualClock
) -> None:
    day = date(2026, 6, 8)
    outlook = await market.outlook(PEAK, day)
    wanted = np.asarray(outlook.demand_kw) > 0
    price = float(np.median(np.asarray(outlook.reference_price_cny_per_mwh)[wanted]))
    bid = ladder_bid(market, PEAK, "vpp", price=round(price), quantity_kw=3000.0, day=day)
    assert (await market.submit(bid, "k")).accepted
    past_gate(clock, market, PEAK, day)
    clearing = await market.clear(PEAK, day)
    awarded = {a.interval: a.quantity_kw for a in clearing.awards_of("vpp")}
    full = [k for k in np.flatnonzero(wanted) if awarded.get(int(k), 0.0) >= 3000.0 - 1e-6]
    short = [k for k in np.flatnonzero(wanted) if awarded.get(int(k), 0.0) < 3000.0 - 1e-6]
    assert full and short


# -- submissions ---------------------------------------------------------------------------


async def test_same_key_returns_the_first_receipt_and_changes_nothing(
    market: SimulatedMarket,
) -> None:
    first = ladder_bid(market, VALLEY, "vpp", price=150.0)
    receipt = await market.submit(first, "key-1")
    assert receipt.accepted and receipt.violations == ()
    assert receipt.received_at == BEFORE_GATE
    different = ladder_bid(market, VALLEY, "vpp", price=190.0)
    replay = await market.submit_or_replay(different, "key-1")
    assert replay.replayed and replay.receipt == receipt
    assert await market.receipts("vpp") == [receipt]
    standing = await market.accepted_bid(VALLEY, DAY, "vpp")
    assert standing == replace(first, submitted_at=BEFORE_GATE)


async def test_keys_are_scoped_by_participant(market: SimulatedMarket) -> None:
    mine = await market.submit(ladder_bid(market, VALLEY, "a", price=150.0), "shared")
    theirs = await market.submit(ladder_bid(market, VALLEY, "b", price=160.0), "shared")
    assert mine.receipt_id != theirs.receipt_id
    assert theirs.participant == "b"
    assert await market.accepted_bid(VALLEY, DAY, "b") is not None


async def test_later_accepted_bid_replaces_the_earlier_until_the_gate(
    market: SimulatedMarket, clock: ManualClock
) -> None:
    await market.submit(ladder_bid(market, VALLEY, "vpp", price=150.0), "k1")
    second = ladder_bid(market, VALLEY, "vpp", price=120.0)
    clock.advance(60)
    assert (await market.submit(second, "k2")).accepted
    standing = await market.accepted_bid(VALLEY, DAY, "vpp")
    assert standing is not None and standing.intervals == second.intervals
    # A refused bid leaves the standing one in place.
    broken = ladder_bid(market, VALLEY, "vpp", price=999.0)
    refused = await market.submit(broken, "k3")
    assert not refused.accepted
    assert {v.rule for v in refused.violations} == {"price_cap"}
    assert await market.accepted_bid(VALLEY, DAY, "vpp") == standing
    # After the gate nothing replaces it.
    past_gate(clock, market, VALLEY)
    late = await market.submit(ladder_bid(market, VALLEY, "vpp", price=110.0), "k4")
    assert not late.accepted
    assert [v.rule for v in late.violations] == ["gate_closure"]
    assert await market.accepted_bid(VALLEY, DAY, "vpp") == standing
    assert [r.accepted for r in await market.receipts("vpp")] == [True, True, False, False]


async def test_reserved_names_unknown_products_and_bad_keys(market: SimulatedMarket) -> None:
    posing = ladder_bid(market, VALLEY, f"{COMPETITOR_PREFIX}storage-01", price=150.0)
    receipt = await market.submit(posing, "k")
    assert not receipt.accepted and receipt.violations[0].rule == "participant"
    with pytest.raises(UnknownProductError, match="nope"):
        await market.submit(replace(posing, product="nope", participant="x"), "k2")
    with pytest.raises(UnknownProductError):
        await market.outlook("nope", DAY)
    with pytest.raises(InvalidRequestError, match="Idempotency-Key"):
        await market.submit(posing, "has space")
    with pytest.raises(InvalidRequestError, match="first day of the month"):
        await market.outlook("green_power.monthly.buy", DAY)


# -- clearing -----------------------------------------------------------------------------


async def test_clearing_only_after_the_gate_and_idempotent(
    market: SimulatedMarket, clock: ManualClock
) -> None:
    await market.submit(ladder_bid(market, VALLEY, "a", price=101.0), "ka")
    await market.submit(ladder_bid(market, VALLEY, "b", price=102.0), "kb")
    assert await market.clearing(VALLEY, DAY, "a") is None
    gate = market.pack(VALLEY).gate_closure(DAY)
    clock.advance((gate - clock.now()).total_seconds())
    with pytest.raises(GateOpenError, match="gate closes"):
        await market.clear(VALLEY, DAY)  # at the gate instant bids are still accepted
    clock.advance(1)
    cleared = await market.clear(VALLEY, DAY)
    assert await market.clear(VALLEY, DAY) is cleared
    clock.advance(3600)
    assert await market.clear(VALLEY, DAY) == cleared
    participants = {a.participant for a in cleared.awards}
    assert {"a", "b"} <= participants
    assert any(p.startswith(COMPETITOR_PREFIX) for p in participants)
    # Cheap offers clear wherever valley filling is wanted.
    wanted = np.asarray(cleared.demand_kw) > 0
    awarded_a = {aw.interval for aw in cleared.awards_of("a")}
    assert awarded_a == set(np.flatnonzero(wanted).tolist())
    for k in np.flatnonzero(wanted):
        assert cleared.cleared_kw[k] <= cleared.demand_kw[k] + 1e-6


async def test_clearing_shows_only_the_asking_participants_awards(
    market: SimulatedMarket, clock: ManualClock
) -> None:
    await market.submit(ladder_bid(market, VALLEY, "a", price=101.0), "ka")
    await market.submit(ladder_bid(market, VALLEY, "b", price=101.0), "kb")
    past_gate(clock, market, VALLEY)
    await market.clear(VALLEY, DAY)
    mine = await market.clearing(VALLEY, DAY, "a")
    theirs = await market.clearing(VALLEY, DAY, "b")
    nobody = await market.clearing(VALLEY, DAY, "c")
    assert mine is not None and theirs is not None and nobody is not None
    assert mine.awards and {a.participant for a in mine.awards} == {"a"}
    assert {a.participant for a in theirs.awards} == {"b"}
    assert nobody.awards == ()
    assert mine.clearing_price_cny_per_mwh == theirs.clearing_price_cny_per_mwh
    late = await market.submit(ladder_bid(market, VALLEY, "c", price=101.0), "kc")
    assert {v.rule for v in late.violations} == {"gate_closure", "market_cleared"}


async def test_clear_due_clears_only_what_is_past_its_gate(
    market: SimulatedMarket, clock: ManualClock
) -> None:
    tomorrow = DAY + timedelta(days=1)
    await market.submit(ladder_bid(market, VALLEY, "a", price=101.0), "k1")
    await market.submit(ladder_bid(market, PEAK, "a", price=300.0, day=tomorrow), "k2")
    assert await market.clear_due() == []
    past_gate(clock, market, VALLEY)
    done = await market.clear_due()
    assert [(c.product, c.day) for c in done] == [(VALLEY, DAY)]
    assert await market.clear_due() == []
    assert await market.clearing(PEAK, tomorrow, "a") is None
    clock.advance(86_400)
    assert [(c.product, c.day) for c in await market.clear_due()] == [(PEAK, tomorrow)]


# -- instructions ---------------------------------------------------------------------------


async def instructed_market(
    packs: dict[str, MarketPack], seed: int
) -> tuple[SimulatedMarket, ManualClock]:
    clock = ManualClock(BEFORE_GATE)
    market = SimulatedMarket(packs, clock, seed=seed, instruction_probability=1.0)
    await market.submit(ladder_bid(market, PEAK, "a", price=1.0), "k")
    past_gate(clock, market, PEAK)
    await market.clear(PEAK, DAY)
    return market, clock


async def test_instructions_go_to_award_holders_on_day_d(packs: dict[str, MarketPack]) -> None:
    market, clock = await instructed_market(packs, seed=0)
    start, end = day_bounds_utc(DAY)
    epoch = datetime(2020, 1, 1, tzinfo=UTC)
    assert await market.instructions(epoch, "a") == []  # nothing issued yet (D-1)
    clock.advance((end - clock.now()).total_seconds())
    issued = await market.instructions(epoch, "a")
    assert len(issued) == 1
    instruction = issued[0]
    assert instruction.product == PEAK and instruction.day == DAY
    assert instruction.direction == market.pack(PEAK).limits().side
    assert 2 <= len(instruction.intervals) <= 6
    assert list(instruction.intervals) == list(
        range(instruction.intervals[0], instruction.intervals[-1] + 1)
    )
    assert all(72 <= k < 96 for k in instruction.intervals)
    assert len(instruction.target_kw) == len(instruction.intervals)
    assert all(t > 0 for t in instruction.target_kw)
    assert start <= instruction.issued_at < start + instruction.intervals[0] * timedelta(minutes=15)
    # Only award holders hear of it; since filters strictly after.
    assert await market.instructions(epoch, "someone-else") == []
    assert await market.instructions(instruction.issued_at, "a") == []
    everyone = await market.instructions(epoch)
    assert instruction in everyone
    assert all(not i.instruction_id.startswith(COMPETITOR_PREFIX) for i in everyone)
    # The same seed and day give the same instruction.
    again, again_clock = await instructed_market(packs, seed=0)
    again_clock.advance((end - again_clock.now()).total_seconds())
    assert await again.instructions(epoch, "a") == issued


async def test_instructions_are_occasional(packs: dict[str, MarketPack]) -> None:
    clock = ManualClock(BEFORE_GATE)
    market = SimulatedMarket(packs, clock, seed=0)
    days = [DAY + timedelta(days=i) for i in range(12)]
    for i, day in enumerate(days):
        await market.submit(ladder_bid(market, PEAK, "a", price=1.0, day=day), f"k{i}")
    clock.advance((day_bounds_utc(days[-1])[1] - clock.now()).total_seconds())
    await market.clear_due()
    issued = await market.instructions(datetime(2020, 1, 1, tzinfo=UTC), "a")
    assert 0 < len({i.day for i in issued}) < len(days)


# -- the in-process client --------------------------------------------------------------------


async def test_in_process_client_is_one_participants_view(
    market: SimulatedMarket, clock: ManualClock
) -> None:
    client = InProcessMarketClient(market, "a")
    other = InProcessMarketClient(market, "b")
    outlook = await client.outlook(VALLEY, DAY)
    assert outlook.product == VALLEY
    bid = ladder_bid(market, VALLEY, "a", price=101.0)
    receipt = await client.submit(bid, "k")
    assert receipt.accepted and await client.submit(bid, "k") == receipt
    with pytest.raises(MarketRejectedError, match="acts for 'b'"):
        await other.submit(bid, "k")
    with pytest.raises(MarketRejectedError, match="unknown product"):
        await client.outlook("nope", DAY)
    assert await client.clearing(VALLEY, DAY) is None
    past_gate(clock, market, VALLEY)
    await market.clear_due()
    mine = await client.clearing(VALLEY, DAY)
    theirs = await other.clearing(VALLEY, DAY)
    assert mine is not None and mine.awards
    assert theirs is not None and theirs.awards == ()
    assert list(await other.instructions(datetime(2020, 1, 1, tzinfo=UTC))) == []
