"""Revenue sharing: largest remainder by hand, agreements, and the balance-to-the-fen property."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.settlement.helpers import DAY, flat_history, history_days, pack_scorer
from vpp.domain.units import Direction
from vpp.settlement.core import DayInputs, ProductDay, settle
from vpp.settlement.sharing import Agreement, aggregator_cut, apportion, cny_text, to_fen


def test_largest_remainder_by_hand() -> None:
    shares, left = apportion(
        np.array([100, 10, 7, 5]),
        np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 4.0], [0.0, 3.0, 0.0]]),
    )
    # 33.33 each: the leftover fen goes to the first of the tied remainders
    assert shares.tolist() == [[34, 33, 33], [0, 0, 0], [1, 2, 4], [0, 5, 0]]
    assert left.tolist() == [0, 10, 0, 0]
    shares, _ = apportion(np.array([10]), np.array([[1.0, 1.0, 1.0]]))
    assert shares.tolist() == [[4, 3, 3]]
    shares, _ = apportion(np.array([2]), np.array([[1.0, 3.0, 3.0]]))
    # exact 0.2857, 0.857, 0.857: the two largest remainders (tied, first wins) get a fen
    assert shares.tolist() == [[0, 1, 1]]


def test_aggregator_cut_rounds_half_to_even_and_shares_losses() -> None:
    agreements = [Agreement(2000, 0), Agreement(2500, 0), Agreement(1000, 1000), Agreement(0, 3)]
    cut = aggregator_cut(
        np.array([24550, 10, -1000, 0]), np.array([0.0, 0.0, 0.35, 0.5]), agreements
    )
    # 4910; 2.5 -> 2 (half to even); -100 + 350 fee; fee 3 x 0.5 = 1.5 -> 2
    assert cut.tolist() == [4910, 2, 250, 2]


def test_money_rounding_and_text() -> None:
    assert to_fen(np.array([0.005, 0.015, -0.005, 12.344, 1e-9])).tolist() == [1, 2, -1, 1234, 0]
    assert cny_text(-1234) == "-12.34"
    assert cny_text(5) == "0.05"


def test_agreement_limits() -> None:
    with pytest.raises(ValueError, match="ratio_bp"):
        Agreement(10_001, 0)
    with pytest.raises(ValueError, match="fee"):
        Agreement(0, -1)


@st.composite
def random_days(draw: st.DrawFn) -> DayInputs:
    n_assets = draw(st.integers(1, 6))
    n_accounts = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    values = flat_history(rng.uniform(0, 2000, n_assets).tolist())
    values[-1] = rng.uniform(-500, 2500, size=(n_assets, 96))
    gaps = rng.random((n_assets, 96)) < 0.05
    values[-1][gaps] = np.nan
    products = []
    for name, side in (
        ("peak_shaving.peak_cut", Direction.DOWN),
        ("peak_shaving.valley_fill", Direction.UP),
    ):
        award = np.where(rng.random(96) < 0.3, rng.uniform(0, 3000, 96), 0.0)
        award[rng.random(96) < 0.05] = 0.0
        alloc = rng.uniform(0, 1, (n_assets, 96)) * award[None, :] / max(n_assets, 1)
        price = rng.uniform(0, 1500, 96)
        products.append(ProductDay(name, side, award, price, alloc))
    agreements = tuple(
        Agreement(int(rng.integers(0, 10_001)), int(rng.integers(0, 5000)))
        for _ in range(n_accounts)
    )
    return DayInputs(
        day=DAY,
        days=history_days(),
        values_kw=values,
        filled=np.zeros((n_assets, 96), dtype=bool),
        asset_account=rng.integers(0, n_accounts, n_assets),
        accounts=tuple(f"E{i}" for i in range(n_accounts)),
        agreements=agreements,
        products=tuple(products),
        event_days=frozenset({DAY}),
    )


@settings(max_examples=60, deadline=None)
@given(random_days())
def test_shares_plus_aggregator_equal_the_pool_net_to_the_fen(inputs: DayInputs) -> None:
    result = settle(inputs, pack_scorer())
    for p in result.products:
        # every interval's payment and penalty is split exactly
        assigned_pay = p.payment_share_fen.sum(axis=0)
        assigned_pen = p.penalty_share_fen.sum(axis=0)
        assert (assigned_pay <= p.payment_fen).all() and (assigned_pen <= p.penalty_fen).all()
        assert (p.net_fen + p.aggregator_fen == p.gross_fen).all()
        assert int(p.net_fen.sum()) + p.aggregator_total_fen == p.pool_net_fen
        assert (p.payment_share_fen >= 0).all() and (p.penalty_share_fen >= 0).all()
    assert result.enterprises_net_fen + result.aggregator_fen == result.pool_net_fen


@settings(max_examples=20, deadline=None)
@given(random_days())
def test_settling_twice_gives_the_same_numbers(inputs: DayInputs) -> None:
    first, second = settle(inputs, pack_scorer()), settle(inputs, pack_scorer())
    for a, b in zip(first.products, second.products, strict=True):
        assert a.payment_share_fen.tolist() == b.payment_share_fen.tolist()
        assert a.penalty_share_fen.tolist() == b.penalty_share_fen.tolist()
        assert a.net_fen.tolist() == b.net_fen.tolist()
        assert a.aggregator_fen.tolist() == b.aggregator_fen.tolist()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 10**9), min_size=1, max_size=20),
    st.integers(1, 8),
    st.integers(0, 2**32 - 1),
)
def test_apportion_is_exact(totals: list[int], cols: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0, 1, (len(totals), cols)) * (rng.random((len(totals), cols)) < 0.7)
    shares, left = apportion(np.array(totals), weights)
    assert (shares.sum(axis=1) + left).tolist() == totals
    assert (shares >= 0).all()
    exact = np.divide(
        np.array(totals)[:, None] * weights,
        weights.sum(axis=1, keepdims=True),
        out=np.zeros_like(weights),
        where=weights.sum(axis=1, keepdims=True) > 0,
    )
    assert (np.abs(shares - exact) < 1.0 + 1e-6).all()
