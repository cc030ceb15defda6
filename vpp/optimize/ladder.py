"""Price ladders: each interval's pooled offer as at most ``max_steps`` price-quantity steps.

Per product and interval the contributing assets are sorted by their reservation price
(the price at which offering breaks even: activation + risk cost, net of the energy the
offer saves or costs, `vpp.optimize.bidding.reservation_prices`) and grouped into steps:
one step per distinct price when they fit in ``max_steps``, otherwise groups of about
equal quantity (assets of one price are never split between groups). Each step is priced
at the dearest reservation price it contains, so no asset is ever offered below its cost:

- Uniform pricing: truthful offers are optimal for a price-taker, so the step price is
  that reservation price.
- Pay-as-bid: an offer at cost earns nothing above cost, so the price is shaded from the
  reservation price toward the expected price by ``shading`` (0 = truthful, 1 = bid the
  expected price). The best shading depends on the clearing-price distribution; a fixed
  fraction is a documented heuristic.

Step boundaries are rounded down to the quantity step, then the price is clipped to
[floor, cap]. Offers *paid to the pool* (peak-shaving valley filling and peak cutting,
selling energy) are supply: ladder prices increase. Bids where the *pool pays* (buying
spot or green energy) state willingness to pay: ladder prices decrease. The allocation
says which asset backs which kW of which step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
import numpy.typing as npt
import pandas as pd

from vpp.domain.market import BidStep, IntervalOffer, OfferLimits, Pricing
from vpp.domain.units import FloatArray
from vpp.optimize.pool import TOLERANCE_KW, round_down

IntArray = npt.NDArray[np.int64]

ALLOCATION_COLUMNS = ("interval", "step", "asset_id", "quantity_kw", "price_cny_per_mwh")


@dataclass(frozen=True)
class Ladder:
    """One product's ladders for every interval of the horizon and who backs them."""

    product: str
    paid_to_pool: bool
    offers: tuple[IntervalOffer, ...]
    """One entry per interval, in order; an interval not offered has no steps."""
    asset_ids: tuple[str, ...]
    backing: tuple[IntArray, IntArray, IntArray, FloatArray, FloatArray]
    """(interval, step, asset index, kW, price) of every piece of every step, as arrays."""

    @property
    def quantity_kw(self) -> FloatArray:
        return np.array([offer.quantity_kw for offer in self.offers], np.float64)

    @cached_property
    def allocation(self) -> pd.DataFrame:
        """Columns `ALLOCATION_COLUMNS`: kW of each asset in each step (step 0 = first rung),
        sorted by interval and step."""
        interval, step, asset, quantity, price = self.backing
        frame = pd.DataFrame(
            {
                "interval": interval,
                "step": step,
                "asset_id": pd.Categorical.from_codes(asset, categories=pd.Index(self.asset_ids)),
                "quantity_kw": quantity,
                "price_cny_per_mwh": price,
            },
            columns=list(ALLOCATION_COLUMNS),
        )
        # an asset split over two steps merged into one rung appears once per rung
        merged = frame.groupby(["interval", "step", "asset_id"], observed=True, sort=True)
        return merged.agg(
            quantity_kw=("quantity_kw", "sum"), price_cny_per_mwh=("price_cny_per_mwh", "first")
        ).reset_index()


def offer_prices(
    reservation_cny_per_mwh: FloatArray,
    expected_cny_per_mwh: FloatArray,
    limits: OfferLimits,
    *,
    paid_to_pool: bool,
    shading: float,
) -> FloatArray:
    """Step prices (CNY/MWh) from reservation prices: truthful, or shaded under pay-as-bid.

    Shading moves the price toward the expected price only where that is the profitable
    side (above cost for offers paid to the pool, below willingness to pay for bids);
    the result is clipped to the pack's [floor, cap].
    """
    price = np.asarray(reservation_cny_per_mwh, np.float64)
    if limits.pricing == Pricing.PAY_AS_BID and shading > 0:
        expected = np.broadcast_to(expected_cny_per_mwh, price.shape)
        better = expected > price if paid_to_pool else expected < price
        price = np.where(better, price + shading * (expected - price), price)
    return np.clip(price, limits.price_floor_cny_per_mwh, limits.price_cap_cny_per_mwh)


def build_ladder(
    product: str,
    offer_kw: FloatArray,
    reservation_cny_per_mwh: FloatArray,
    limits: OfferLimits,
    *,
    paid_to_pool: bool,
    expected_price_cny_per_mwh: FloatArray,
    asset_ids: Sequence[str],
    shading: float = 0.5,
) -> Ladder:
    """The ladders of one product (module docstring).

    offer_kw, reservation_cny_per_mwh: (n, T) per-asset offered quantity (kW, pool rules
    already applied) and reservation price (CNY/MWh); expected_price_cny_per_mwh: (T,).
    """
    n, horizon = offer_kw.shape
    max_steps = max(1, limits.max_steps)
    floor, cap = limits.price_floor_cny_per_mwh, limits.price_cap_cny_per_mwh
    qty = np.where(offer_kw > TOLERANCE_KW, offer_kw, 0.0)
    active = qty > 0
    clipped = np.clip(reservation_cny_per_mwh, floor, cap)
    key = np.where(active, clipped if paid_to_pool else -clipped, np.inf)
    order = np.argsort(key, axis=0, kind="stable")
    q = np.take_along_axis(qty, order, 0)
    r = np.take_along_axis(clipped, order, 0)
    k = np.take_along_axis(key, order, 0)
    on = np.take_along_axis(active, order, 0)
    cum = np.cumsum(q, axis=0)
    prev = cum - q
    total = cum[-1] if n else np.zeros(horizon)

    groups = _groups(k, on, prev, total, max_steps)
    ends = np.zeros((max_steps, horizon))
    columns = np.broadcast_to(np.arange(horizon), (n, horizon))
    np.maximum.at(ends, (groups[on], columns[on]), cum[on])
    used = np.zeros((max_steps, horizon), bool)
    used[groups[on], columns[on]] = True
    last = round_down(total, limits.quantity_step_kw)
    upper = np.where(used, np.minimum(round_down(ends, limits.quantity_step_kw), last), last)
    upper = np.maximum.accumulate(upper, axis=0)
    lower = np.concatenate([np.zeros((1, horizon)), upper[:-1]])
    sizes = upper - lower

    # The asset at the top of each step holds its highest (paid) / lowest (paying) price.
    top = ((prev[None] < upper[:, None, :] - TOLERANCE_KW) & on[None]).sum(axis=1) - 1
    reservation = np.take_along_axis(r, np.maximum(top, 0), axis=0)
    prices = offer_prices(
        reservation,
        np.broadcast_to(expected_price_cny_per_mwh, (max_steps, horizon)),
        limits,
        paid_to_pool=paid_to_pool,
        shading=shading,
    )

    offers, labels = _interval_offers(sizes, prices)
    overlap = np.minimum(cum[None], upper[:, None, :]) - np.maximum(prev[None], lower[:, None, :])
    step_idx, pos, interval = np.nonzero((overlap > TOLERANCE_KW) & on[None])
    backing = (
        interval.astype(np.int64),
        labels[step_idx, interval],
        order[pos, interval].astype(np.int64),
        overlap[step_idx, pos, interval],
        prices[step_idx, interval],
    )
    return Ladder(product, paid_to_pool, offers, tuple(asset_ids), backing)


def _groups(
    key: FloatArray, on: npt.NDArray[np.bool_], prev: FloatArray, total: FloatArray, steps: int
) -> IntArray:
    """Step group (0..steps-1) of each sorted position: one per price level if they fit,
    else levels binned by where they start on the cumulative quantity axis."""
    n, horizon = key.shape
    first_row = np.ones((1, horizon), bool)
    new_level = on & np.concatenate([first_row, key[1:] != key[:-1]], axis=0)
    levels = new_level.sum(axis=0)
    level_id = np.cumsum(new_level, axis=0) - 1
    starts = np.maximum.accumulate(np.where(new_level, np.arange(n)[:, None], 0), axis=0)
    start_kw = np.take_along_axis(prev, starts, axis=0)
    share = start_kw / np.where(total > 0, total, 1.0)[None, :]
    binned = np.clip(np.floor(share * steps), 0, steps - 1).astype(np.int64)
    raw = np.where(levels[None, :] <= steps, level_id, binned)
    new_group = on & np.concatenate([first_row, raw[1:] != raw[:-1]], axis=0)
    return np.asarray(np.maximum(np.cumsum(new_group, axis=0) - 1, 0), np.int64)


def _interval_offers(
    sizes: FloatArray, prices: FloatArray
) -> tuple[tuple[IntervalOffer, ...], IntArray]:
    """IntervalOffers from step sizes and prices (steps, T), merging equal adjacent prices.

    Returns the offers and each step's rung in its interval's ladder.
    """
    steps, horizon = sizes.shape
    valid = sizes > TOLERANCE_KW
    rows = np.arange(steps)[:, None]
    last = np.maximum.accumulate(np.where(valid, rows, -1), axis=0)
    before = np.vstack([np.full((1, horizon), -1), last[:-1]])
    previous = np.take_along_axis(prices, np.maximum(before, 0), axis=0)
    new_rung = valid & ((before < 0) | (prices != previous))
    labels = np.maximum(np.cumsum(new_rung, axis=0) - 1, 0)
    columns = np.broadcast_to(np.arange(horizon), (steps, horizon))
    rung_kw = np.zeros((steps, horizon))
    np.add.at(rung_kw, (labels[valid], columns[valid]), sizes[valid])
    rung_price = np.zeros((steps, horizon))
    rung_price[labels[new_rung], columns[new_rung]] = prices[new_rung]
    counts = new_rung.sum(axis=0).tolist()
    kw, price = rung_kw.T.tolist(), rung_price.T.tolist()
    offers = tuple(
        IntervalOffer(t, tuple(BidStep(p, q) for p, q in zip(price[t][:n], kw[t][:n], strict=True)))
        if n
        else _no_offer(t)
        for t, n in enumerate(counts)
    )
    return offers, labels


@cache
def _no_offer(interval: int) -> IntervalOffer:
    """The (immutable, shared) empty ladder of an interval: most intervals of one asset's bid."""
    return IntervalOffer(interval, ())
