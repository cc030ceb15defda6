"""Merit-order clearing: hand-computed awards and prices, and invariants under hypothesis."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.green_power import DayAheadGreenBuy, DayAheadGreenSell
from market.packs import LadderPack
from market.peak_shaving import PeakCutting
from market.spot import DayAheadBuy, DayAheadSell
from tests.market import DAY, Ladder, make_bid
from vpp.domain.market import Award, Bid, BidStep, Clearing, Demand, IntervalOffer, Pricing
from vpp.domain.units import Direction

PROPERTY = settings(database=None, deadline=None, max_examples=150)
PEAK = 72


def demand_at(pack: LadderPack, values: dict[int, float]) -> Demand:
    n = pack.intervals_per_day
    return Demand(pack.product, DAY, tuple(values.get(k, 0.0) for k in range(n)))


def awards_at(clearing: Clearing, interval: int) -> list[tuple[str, float, float]]:
    return [
        (a.participant, a.quantity_kw, a.price_cny_per_mwh)
        for a in clearing.awards
        if a.interval == interval
    ]


def three_sellers(pack: LadderPack) -> list[Bid]:
    """A: 300 kW @ 300, 200 kW @ 500; B: 400 kW @ 400; C: 400 kW @ 500, 300 kW @ 800."""
    ladders: dict[str, Ladder] = {
        "A": [(300.0, 300.0), (500.0, 200.0)],
        "B": [(400.0, 400.0)],
        "C": [(500.0, 400.0), (800.0, 300.0)],
    }
    return [
        make_bid(
            pack.product,
            Direction.DOWN,
            {k: ladder for k in (PEAK, PEAK + 1, PEAK + 2)},
            participant=name,
        )
        for name, ladder in ladders.items()
    ]


class TestSupplyClearing:
    """Peak cutting: cheapest first; the 500 CNY/MWh level (A 200 + C 400) is marginal."""

    demand: ClassVar[dict[int, float]] = {
        PEAK: 1000.0,
        PEAK + 1: 500.0,
        PEAK + 2: 2000.0,
        10: 700.0,
    }

    def test_uniform_pricing_with_a_pro_rata_marginal_level(self) -> None:
        pack = PeakCutting()
        clearing = pack.clear(demand_at(pack, self.demand), three_sellers(pack))
        assert clearing.pricing is Pricing.UNIFORM
        # 300 (A@300) + 400 (B@400) = 700; 300 more from 600 at 500: half of each step.
        assert awards_at(clearing, PEAK) == [
            ("A", 400.0, 500.0),
            ("B", 400.0, 500.0),
            ("C", 200.0, 500.0),
        ]
        assert clearing.clearing_price_cny_per_mwh[PEAK] == 500.0
        assert clearing.cleared_kw[PEAK] == 1000.0
        # 500 kW: A's 300 and half of B's single step; B is marginal.
        assert awards_at(clearing, PEAK + 1) == [("A", 300.0, 400.0), ("B", 200.0, 400.0)]
        # 2000 kW asked, 1600 offered: everything clears at the dearest step.
        assert awards_at(clearing, PEAK + 2) == [
            ("A", 500.0, 800.0),
            ("B", 400.0, 800.0),
            ("C", 700.0, 800.0),
        ]
        assert clearing.cleared_kw[PEAK + 2] == 1600.0
        assert clearing.demand_kw[PEAK + 2] == 2000.0

    def test_pay_as_bid_pays_each_step_its_price(self) -> None:
        pack = PeakCutting({"pricing": "pay_as_bid"})
        clearing = pack.clear(demand_at(pack, self.demand), three_sellers(pack))
        assert clearing.pricing is Pricing.PAY_AS_BID
        assert awards_at(clearing, PEAK) == [
            ("A", 300.0, 300.0),
            ("A", 100.0, 500.0),
            ("B", 400.0, 400.0),
            ("C", 200.0, 500.0),
        ]
        assert clearing.clearing_price_cny_per_mwh[PEAK] == 500.0
        assert clearing.awards_of("C") == (
            Award(pack.product, DAY, "C", PEAK, 200.0, 500.0),
            Award(pack.product, DAY, "C", PEAK + 2, 400.0, 500.0),
            Award(pack.product, DAY, "C", PEAK + 2, 300.0, 800.0),
        )

    def test_nothing_cleared_gives_nan(self) -> None:
        pack = PeakCutting()
        clearing = pack.clear(demand_at(pack, self.demand), three_sellers(pack))
        # Interval 10 has demand but no offers; interval 0 neither.
        for k in (0, 10):
            assert math.isnan(clearing.clearing_price_cny_per_mwh[k])
            assert clearing.cleared_kw[k] == 0.0
            assert awards_at(clearing, k) == []

    def test_no_bids(self) -> None:
        pack = PeakCutting()
        clearing = pack.clear(demand_at(pack, self.demand), [])
        assert clearing.awards == ()
        assert all(math.isnan(p) for p in clearing.clearing_price_cny_per_mwh)


def test_buy_side_clears_dearest_first() -> None:
    """Spot buy, 500 kW available: A 200 @ 450, B 200 @ 400, then A 300 @ 300 and C 200 @ 300
    share the last 100 kW pro rata (60 and 40)."""
    pack = DayAheadBuy()
    bids = [
        make_bid(
            pack.product, Direction.UP, {10: [(450.0, 200.0), (300.0, 300.0)]}, participant="A"
        ),
        make_bid(pack.product, Direction.UP, {10: [(400.0, 200.0)]}, participant="B"),
        make_bid(pack.product, Direction.UP, {10: [(300.0, 200.0)]}, participant="C"),
    ]
    clearing = pack.clear(demand_at(pack, {10: 500.0}), bids)
    assert awards_at(clearing, 10) == [("A", 260.0, 300.0), ("B", 200.0, 300.0), ("C", 40.0, 300.0)]
    assert clearing.clearing_price_cny_per_mwh[10] == 300.0
    as_bid = DayAheadBuy({"pricing": "pay_as_bid"}).clear(demand_at(pack, {10: 500.0}), bids)
    assert awards_at(as_bid, 10) == [
        ("A", 60.0, 300.0),
        ("A", 200.0, 450.0),
        ("B", 200.0, 400.0),
        ("C", 40.0, 300.0),
    ]


def test_green_buyers_share_the_hourly_green_supply() -> None:
    pack = DayAheadGreenBuy()
    bids = [
        make_bid(pack.product, Direction.UP, {12: [(340.0, 300.0)]}, participant="A", intervals=24),
        make_bid(pack.product, Direction.UP, {12: [(320.0, 400.0)]}, participant="B", intervals=24),
    ]
    clearing = pack.clear(demand_at(pack, {12: 500.0}), bids)
    assert awards_at(clearing, 12) == [("A", 300.0, 340.0), ("B", 200.0, 320.0)]


def test_clearing_limits_clamp_the_price() -> None:
    pack = DayAheadSell({"clearing_floor_cny_per_mwh": 60.0})
    bid = make_bid(pack.product, Direction.DOWN, {3: [(50.0, 100.0)]})
    clearing = pack.clear(demand_at(pack, {3: 100.0}), [bid])
    assert clearing.clearing_price_cny_per_mwh[3] == 60.0
    assert awards_at(clearing, 3) == [("p1", 100.0, 60.0)]


def test_malformed_steps_are_ignored() -> None:
    pack = PeakCutting()
    bid = Bid(
        pack.product,
        DAY,
        "p1",
        Direction.DOWN,
        (
            IntervalOffer(
                3, (BidStep(math.nan, 500.0), BidStep(100.0, -50.0), BidStep(200.0, 300.0))
            ),
            IntervalOffer(4, (BidStep(100.0, math.inf),)),
            IntervalOffer(400, (BidStep(100.0, 500.0),)),
        ),
    )
    clearing = pack.clear(demand_at(pack, {3: 1000.0, 4: 1000.0}), [bid])
    assert awards_at(clearing, 3) == [("p1", 300.0, 200.0)]
    assert awards_at(clearing, 4) == []


def test_clearing_refuses_foreign_demand_and_bids() -> None:
    pack = PeakCutting()
    good = demand_at(pack, {PEAK: 100.0})
    with pytest.raises(ValueError, match="demand is for"):
        pack.clear(Demand("spot.day_ahead.buy", DAY, good.quantity_kw), [])
    with pytest.raises(ValueError, match="96 intervals"):
        pack.clear(Demand(pack.product, DAY, (1.0,) * 24), [])
    with pytest.raises(ValueError, match=">= 0"):
        pack.clear(Demand(pack.product, DAY, (-1.0,) * 96), [])
    wrong_side = make_bid(pack.product, Direction.UP, {PEAK: [(100.0, 1000.0)]})
    with pytest.raises(ValueError, match=r"clearing peak_shaving\.peak_cut"):
        pack.clear(good, [wrong_side])


# --- invariants ---------------------------------------------------------------------------

PRICES = st.sampled_from([250.0, 260.0, 300.0, 320.0, 400.0])
LADDERS = st.lists(st.tuples(PRICES, st.floats(0.0, 1000.0)), max_size=4)
BIDS = st.lists(st.dictionaries(st.integers(0, 5), LADDERS, max_size=6), min_size=1, max_size=4)
DEMAND = st.lists(st.floats(0.0, 3000.0), min_size=24, max_size=24)
PACKS = st.sampled_from(
    [
        DayAheadGreenSell(),
        DayAheadGreenBuy(),
        DayAheadGreenSell({"pricing": "uniform"}),
        DayAheadGreenBuy({"pricing": "uniform"}),
    ]
)
TOL = 1e-6


@PROPERTY
@given(PACKS, BIDS, DEMAND)
def test_clearing_invariants(
    pack: LadderPack, ladders: list[dict[int, Ladder]], demand_kw: list[float]
) -> None:
    bids = [
        make_bid(pack.product, pack.side, offers, participant=f"p{i}", intervals=24)
        for i, offers in enumerate(ladders)
    ]
    clearing = pack.clear(Demand(pack.product, DAY, tuple(demand_kw)), bids)
    offered: dict[tuple[str, int], list[tuple[float, float]]] = defaultdict(list)
    for bid in bids:
        for offer in bid.intervals:
            offered[bid.participant, offer.interval] += [
                (s.price_cny_per_mwh, s.quantity_kw) for s in offer.steps
            ]
    awarded: dict[tuple[str, int], float] = defaultdict(float)
    per_interval = [0.0] * 24
    for award in clearing.awards:
        assert award.quantity_kw > 0
        awarded[award.participant, award.interval] += award.quantity_kw
        per_interval[award.interval] += award.quantity_kw
        if clearing.pricing is Pricing.UNIFORM:
            assert award.price_cny_per_mwh == clearing.clearing_price_cny_per_mwh[award.interval]
        else:
            steps = offered[award.participant, award.interval]
            assert award.price_cny_per_mwh in {p for p, _ in steps}

    sign = -1.0 if pack.participant_pays else 1.0  # merit: lower sign × price clears first
    for k in range(24):
        total_offered = sum(q for (_, kk), steps in offered.items() if kk == k for _, q in steps)
        cleared = clearing.cleared_kw[k]
        assert per_interval[k] == pytest.approx(cleared, abs=TOL)
        assert cleared <= demand_kw[k] + TOL
        assert cleared == pytest.approx(min(demand_kw[k], total_offered), abs=TOL)
        price = clearing.clearing_price_cny_per_mwh[k]
        assert math.isnan(price) == (cleared <= 0)
        for (participant, kk), steps in offered.items():
            if kk != k:
                continue
            got = awarded[participant, k]
            assert got <= sum(q for _, q in steps) + TOL
            if not math.isnan(price):
                # Steps better than the marginal price clear fully; worse ones not at all.
                sure = sum(q for p, q in steps if sign * p < sign * price)
                possible = sum(q for p, q in steps if sign * p <= sign * price)
                assert sure - TOL <= got <= possible + TOL
