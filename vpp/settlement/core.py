"""Settling one market day (pure): baselines, measured response, scores, shares.

`settle` runs the chain on arrays, vectorised over assets × intervals:

1. **Baselines** per asset by the day's `BaselineRule` (`vpp.settlement.measurement`).
2. **Measured response** per asset and interval, in each product's direction:
   baseline − measured for DOWN products (peak cutting), measured − baseline for UP
   products (valley filling). An asset counts for a product in an interval when it holds
   an awarded allocation of it there (`bid_allocations`: the resources that back the
   bid); an asset allocated to several products in one interval has its response split
   among them in proportion to its allocations. Where the interval is a gap (module
   `measurement`) or the asset has no baseline, its response counts 0 and the interval is
   flagged. Enterprise response = sum over its assets; pool response = sum over all.
3. **Scores** per product and interval by the product's rule pack: the caller passes a
   `Scorer` (the service wraps `MarketPack.score`), so this module imports no market code.
   The awarded quantity is the sum of the pool's award rows, the price their
   quantity-weighted mean (uniform pricing: the clearing price). Payments and penalties
   are rounded to integer fen per interval (half away from zero).
4. **Shares** by `vpp.settlement.sharing` (payments by positive response, penalties by
   shortfall against allocation, the aggregator's share by agency agreement).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import numpy.typing as npt

from vpp.domain import INTERVAL_HOURS, INTERVALS_PER_DAY
from vpp.domain.market import IntervalScore
from vpp.domain.units import KWH_PER_MWH, Direction
from vpp.settlement.measurement import AssetBaselines, BaselineRule, settlement_baselines
from vpp.settlement.sharing import Agreement, aggregator_cut, apportion, to_fen

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

T = INTERVALS_PER_DAY
NO_AWARD_KW = 1e-9

Scorer = Callable[[str, FloatArray, FloatArray, FloatArray], Sequence[IntervalScore]]
"""(product, awarded_kw, delivered_kw, price_cny_per_mwh) -> one score per interval."""


@dataclass(frozen=True)
class ProductDay:
    """What the pool was awarded of one product on the day."""

    product: str
    side: Direction
    awarded_kw: FloatArray
    """(96,) pool award per interval (kW, >= 0)."""
    price_cny_per_mwh: FloatArray
    """(96,) award price per interval (CNY/MWh); anything where nothing was awarded."""
    allocated_kw: FloatArray
    """(assets, 96) each asset's awarded allocation (kW, >= 0)."""
    rule: BaselineRule | None = None
    """The product's settlement baseline rule (None: the day's default, `DayInputs.rule`)."""


@dataclass(frozen=True)
class DayInputs:
    """Everything one day's settlement reads, as arrays."""

    day: date
    days: tuple[date, ...]
    """Rows of ``values_kw``: consecutive market days ending with ``day``."""
    values_kw: FloatArray
    """(days, assets, 96) measured 15-min power (kW), gap-filled, NaN = gap."""
    filled: BoolArray
    """(assets, 96) intervals of ``day`` whose value was interpolated (flagged too)."""
    asset_account: IntArray
    """(assets,) index of each asset's enterprise in ``accounts``."""
    accounts: tuple[str, ...]
    agreements: tuple[Agreement, ...]
    """One per account."""
    products: tuple[ProductDay, ...]
    rule: BaselineRule = field(default_factory=BaselineRule)
    event_days: frozenset[date] = frozenset()
    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    asset_ids: tuple[str, ...] = ()
    """Asset ids in row order (sealed in the ledger); may be empty for pure computations."""
    readings_sha256: tuple[str, ...] = ()
    """Per asset, the digest of the day's raw readings (sealed in the ledger)."""

    def __post_init__(self) -> None:
        d, n, t = self.values_kw.shape
        if t != T or d != len(self.days) or self.days[-1] != self.day:
            raise ValueError("values_kw must be (days, assets, 96) ending with the settled day")
        if self.asset_account.shape != (n,) or self.filled.shape != (n, T):
            raise ValueError("asset_account and filled must match the assets of values_kw")
        if len(self.agreements) != len(self.accounts):
            raise ValueError("one agreement per account")
        for p in self.products:
            if p.awarded_kw.shape != (T,) or p.allocated_kw.shape != (n, T):
                raise ValueError(f"{p.product}: awards (96,) and allocations (assets, 96)")


@dataclass(frozen=True)
class ProductResult:
    """One product's settled day: pool intervals, enterprise intervals and statements."""

    product: str
    side: Direction
    baselines: AssetBaselines
    """The baselines this product was measured against."""
    gap: BoolArray
    """(assets, 96) intervals that count 0: a gap or no baseline."""
    awarded_kw: FloatArray
    price_cny_per_mwh: FloatArray
    delivered_kw: FloatArray
    """(96,) pool response (kW)."""
    response_rate: FloatArray
    payment_fen: IntArray
    """(96,) pool payment per interval (fen)."""
    penalty_fen: IntArray
    asset_response_kw: FloatArray
    """(assets, 96) response attributed to this product (kW)."""
    response_kw: FloatArray
    """(accounts, 96) enterprise response (kW)."""
    allocated_kw: FloatArray
    """(accounts, 96)."""
    flagged: IntArray
    """(accounts, 96) how many of the enterprise's allocated assets had a gap there (counted
    0) or an interpolated value."""
    payment_share_fen: IntArray
    """(accounts, 96)."""
    penalty_share_fen: IntArray
    """(accounts, 96)."""
    unassigned_fen: int
    """Net fen no enterprise had a weight for (kept or borne by the aggregator)."""
    positive_mwh: FloatArray
    """(accounts,) positive response energy (MWh, rounded to 1e-6)."""
    gross_fen: IntArray
    """(accounts,) payments − penalties."""
    aggregator_fen: IntArray
    """(accounts,) the aggregator's share by agreement."""
    net_fen: IntArray
    """(accounts,) what the enterprise keeps."""

    @property
    def pool_net_fen(self) -> int:
        return int(self.payment_fen.sum() - self.penalty_fen.sum())

    @property
    def aggregator_total_fen(self) -> int:
        return int(self.aggregator_fen.sum()) + self.unassigned_fen


@dataclass(frozen=True)
class DayResult:
    """A settled day."""

    day: date
    measured_kw: FloatArray
    """(assets, 96) measured power of the day (kW), NaN = gap."""
    products: tuple[ProductResult, ...]
    event_intervals: IntArray
    """Intervals with an award of any product, ascending."""

    @property
    def pool_payment_fen(self) -> int:
        return sum(int(p.payment_fen.sum()) for p in self.products)

    @property
    def pool_penalty_fen(self) -> int:
        return sum(int(p.penalty_fen.sum()) for p in self.products)

    @property
    def pool_net_fen(self) -> int:
        return sum(p.pool_net_fen for p in self.products)

    @property
    def aggregator_fen(self) -> int:
        return sum(p.aggregator_total_fen for p in self.products)

    @property
    def enterprises_net_fen(self) -> int:
        return sum(int(p.net_fen.sum()) for p in self.products)


def _per_account(values: FloatArray, account: IntArray, m: int) -> FloatArray:
    """Sum (assets, 96) rows into (accounts, 96) by ``account`` index."""
    flat = (account[:, None] * T + np.arange(T)[None, :]).reshape(-1)
    sums = np.bincount(flat, weights=values.reshape(-1), minlength=m * T)
    return np.asarray(sums.reshape(m, T), dtype=np.float64)


def _scores(scorer: Scorer, p: ProductDay, delivered: FloatArray) -> tuple[FloatArray, ...]:
    awarded = np.where(p.awarded_kw > NO_AWARD_KW, p.awarded_kw, 0.0)
    price = np.where(awarded > 0, p.price_cny_per_mwh, 0.0)
    scores = scorer(p.product, awarded, np.where(awarded > 0, delivered, 0.0), price)
    if len(scores) != T:
        raise ValueError(f"{p.product}: the scorer returned {len(scores)} scores, not {T}")
    rate = np.array([s.response_rate for s in scores])
    payment = np.array([s.payment_cny for s in scores])
    penalty = np.array([s.penalty_cny for s in scores])
    return rate, payment, penalty


def settle(inputs: DayInputs, scorer: Scorer) -> DayResult:
    """Settle ``inputs.day`` (module docstring); baselines are computed once per rule."""
    values = inputs.values_kw
    target = len(inputs.days) - 1
    n = values.shape[1]
    m = len(inputs.accounts)
    cache: dict[BaselineRule, AssetBaselines] = {}

    def baselines_by(rule: BaselineRule) -> AssetBaselines:
        if rule not in cache:
            cache[rule] = settlement_baselines(
                inputs.days,
                values,
                target,
                rule,
                event_days=inputs.event_days,
                holidays=inputs.holidays,
                extra_workdays=inputs.extra_workdays,
            )
        return cache[rule]

    measured = values[target]
    # Allocations count only where their product was awarded (the bid's resources there).
    alloc = np.stack(
        [
            np.clip(p.allocated_kw, 0.0, None) * (p.awarded_kw > NO_AWARD_KW)[None, :]
            for p in inputs.products
        ]
    )
    alloc_total = alloc.sum(axis=0)
    account = inputs.asset_account
    results: list[ProductResult] = []
    event = np.zeros(T, dtype=bool)
    for k, p in enumerate(inputs.products):
        baselines = baselines_by(p.rule or inputs.rule)
        gap = ~np.isfinite(measured) | ~np.isfinite(baselines.power_kw)
        raw = np.where(gap, 0.0, measured - np.nan_to_num(baselines.power_kw))
        awarded_mask = p.awarded_kw > NO_AWARD_KW
        event |= awarded_mask
        weight = np.divide(alloc[k], alloc_total, out=np.zeros((n, T)), where=alloc_total > 0)
        sign = 1.0 if p.side == Direction.UP else -1.0
        asset_response = sign * raw * weight
        response = _per_account(asset_response, account, m)
        allocated = _per_account(alloc[k], account, m)
        counted_gap = ((gap | inputs.filled) & (weight > 0)).astype(np.float64)
        flagged = np.rint(_per_account(counted_gap, account, m)).astype(np.int64)
        delivered = response.sum(axis=0)
        rate, payment_cny, penalty_cny = _scores(scorer, p, delivered)
        payment = np.where(awarded_mask, to_fen(payment_cny), 0)
        penalty = np.where(awarded_mask, to_fen(penalty_cny), 0)
        positive = np.clip(response, 0.0, None)
        shortfall = np.clip(allocated - response, 0.0, None)
        pay_share, pay_left = apportion(payment, positive.T)
        pen_share, pen_left = apportion(penalty, shortfall.T)
        pay_share, pen_share = pay_share.T, pen_share.T
        positive_mwh = np.round(positive.sum(axis=1) * INTERVAL_HOURS / KWH_PER_MWH, 6)
        gross = pay_share.sum(axis=1) - pen_share.sum(axis=1)
        cut = aggregator_cut(gross, positive_mwh, list(inputs.agreements))
        results.append(
            ProductResult(
                product=p.product,
                side=p.side,
                baselines=baselines,
                gap=gap,
                awarded_kw=np.where(awarded_mask, p.awarded_kw, 0.0),
                price_cny_per_mwh=np.where(awarded_mask, p.price_cny_per_mwh, 0.0),
                delivered_kw=delivered,
                response_rate=rate,
                payment_fen=np.asarray(payment, dtype=np.int64),
                penalty_fen=np.asarray(penalty, dtype=np.int64),
                asset_response_kw=asset_response,
                response_kw=response,
                allocated_kw=allocated,
                flagged=flagged,
                payment_share_fen=pay_share,
                penalty_share_fen=pen_share,
                unassigned_fen=int(pay_left.sum() - pen_left.sum()),
                positive_mwh=positive_mwh,
                gross_fen=np.asarray(gross, dtype=np.int64),
                aggregator_fen=cut,
                net_fen=np.asarray(gross - cut, dtype=np.int64),
            )
        )
    return DayResult(
        day=inputs.day,
        measured_kw=measured,
        products=tuple(results),
        event_intervals=np.flatnonzero(event).astype(np.int64),
    )


__all__ = [
    "DayInputs",
    "DayResult",
    "ProductDay",
    "ProductResult",
    "Scorer",
    "settle",
]
