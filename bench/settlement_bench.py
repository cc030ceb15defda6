"""Settlement benchmark: one month of a 10,000-asset pool at 15-minute resolution.

Record (name is a contract, DESIGN §7):

- ``settlement_month_10000_s``: the pure settlement core end to end for every awarded day
  of a month (30 days, awards on the 22 working days in two products, peak cutting
  17:00-21:00 and valley filling 11:00-15:00): the gap rule over the month's telemetry
  tensor, then per day the Jiangsu baselines (last 5 normal working days, event days
  excluded), the measured response of every asset, scoring by the peak-shaving packs,
  the revenue split among 500 enterprises with their agreements, the ledger bodies in
  canonical JSON and their hash chain. One run (quick: 1,000 assets, reported as
  ``settlement_month_1000_s`` without a target).

The synthetic month (not timed): each asset has a base load with a daily shape and noise;
8 in 10 assets back the awards with 10 % of their load, and deliver 30-130 % of it; 2 % of
asset-days have a short gap (interpolated) and 1 % a long one (counted 0 and flagged, or
excluding the day from later baselines). Days start 10 days before the month.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

from bench.core import Benchmark, Context, Result, check
from market.peak_shaving import PeakCutting, ValleyFilling
from vpp.domain import INTERVALS_PER_DAY
from vpp.domain.units import Direction, FloatArray
from vpp.forecast.calendar import is_rest_day
from vpp.ports import MarketPack
from vpp.settlement.core import DayInputs, DayResult, ProductDay, settle
from vpp.settlement.ledger import GENESIS, day_bodies, seal
from vpp.settlement.measurement import BaselineRule, GapRule, fill_day_tensor
from vpp.settlement.service import pack_scorer
from vpp.settlement.sharing import Agreement

T = INTERVALS_PER_DAY
FIRST_DAY = date(2026, 3, 1)
MONTH_DAYS = 30
HISTORY_DAYS = 10
ASSETS_PER_ENTERPRISE = 20
PEAK = slice(68, 84)
VALLEY = slice(44, 60)
TARGET_S = 60.0


@dataclass(frozen=True)
class Month:
    days: tuple[date, ...]
    values_kw: FloatArray
    """(days, assets, 96) raw measured kW, NaN = no reading."""
    asset_account: np.ndarray
    accounts: tuple[str, ...]
    agreements: tuple[Agreement, ...]
    products: dict[date, tuple[ProductDay, ...]]
    asset_ids: tuple[str, ...]


def build_month(n_assets: int, seed: int = 11) -> Month:
    """The synthetic month (module docstring)."""
    rng = np.random.default_rng(seed)
    first = FIRST_DAY - timedelta(days=HISTORY_DAYS)
    days = tuple(first + timedelta(days=i) for i in range(HISTORY_DAYS + MONTH_DAYS))
    base = rng.uniform(50.0, 2000.0, n_assets)
    hours = np.arange(T) / 4.0
    shape = 0.8 + 0.2 * np.sin((hours - 8.0) / 24.0 * 2 * np.pi)
    values = np.empty((len(days), n_assets, T))
    for d, day in enumerate(days):
        level = 0.7 if is_rest_day(day) else 1.0
        values[d] = base[:, None] * shape[None, :] * level
        values[d] *= 1.0 + rng.normal(0.0, 0.03, (n_assets, T))
    backs = rng.random(n_assets) < 0.8
    alloc_kw = np.where(backs, 0.1 * base, 0.0)
    products: dict[date, tuple[ProductDay, ...]] = {}
    for d, day in enumerate(days):
        if day < FIRST_DAY or is_rest_day(day):
            continue
        day_products = []
        for name, side, window, price in (
            ("peak_shaving.peak_cut", Direction.DOWN, PEAK, (400.0, 800.0)),
            ("peak_shaving.valley_fill", Direction.UP, VALLEY, (100.0, 200.0)),
        ):
            alloc = np.zeros((n_assets, T))
            alloc[:, window] = alloc_kw[:, None]
            delivery = rng.uniform(0.3, 1.3, n_assets)
            sign = 1.0 if side == Direction.UP else -1.0
            values[d, :, window] += sign * (alloc_kw * delivery)[:, None]
            award = alloc.sum(axis=0)
            prices = np.zeros(T)
            prices[window] = rng.uniform(*price, window.stop - window.start)
            day_products.append(ProductDay(name, side, award, prices, alloc))
        products[day] = tuple(day_products)
    for frac, length in ((0.02, 2), (0.01, 6)):
        hit = rng.random((len(days), n_assets)) < frac
        for d, a in zip(*np.nonzero(hit), strict=True):
            start = int(rng.integers(0, T - length))
            values[d, a, start : start + length] = np.nan
    n_accounts = max(1, n_assets // ASSETS_PER_ENTERPRISE)
    agreements = tuple(
        Agreement(int(rng.integers(1000, 3001)), int(rng.integers(0, 2)) * 2000)
        for _ in range(n_accounts)
    )
    return Month(
        days=days,
        values_kw=values,
        asset_account=np.arange(n_assets, dtype=np.int64) % n_accounts,
        accounts=tuple(f"enterprise-{i:05d}" for i in range(n_accounts)),
        agreements=agreements,
        products=products,
        asset_ids=tuple(f"asset-{i:06d}" for i in range(n_assets)),
    )


@dataclass(frozen=True)
class MonthSummary:
    days: int
    pool_net_fen: int
    aggregator_fen: int
    enterprises_net_fen: int
    flagged: int
    records: int


def settle_month(month: Month, packs: dict[str, MarketPack] | None = None) -> MonthSummary:
    """Settle every awarded day of the month with the pure core, sealing each day."""
    packs = packs or {p.product: p for p in (PeakCutting(), ValleyFilling())}
    scorer = pack_scorer(packs)
    rule = BaselineRule()
    gap_rule = GapRule()
    values, filled = fill_day_tensor(month.values_kw, gap_rule)
    event_days = frozenset(month.products)
    settled_at = datetime(2026, 4, 1, tzinfo=UTC)
    net = agg = ent = flagged = records = days = 0
    for d, day in enumerate(month.days):
        if day not in month.products:
            continue
        first = max(0, d - rule.lookback_days - 2)
        digests = tuple(
            hashlib.sha256(values[d, a].tobytes()).hexdigest() for a in range(values.shape[1])
        )
        inputs = DayInputs(
            day=day,
            days=month.days[first : d + 1],
            values_kw=values[first : d + 1],
            filled=filled[d],
            asset_account=month.asset_account,
            accounts=month.accounts,
            agreements=month.agreements,
            products=month.products[day],
            rule=rule,
            event_days=event_days,
            asset_ids=month.asset_ids,
            readings_sha256=digests,
        )
        result: DayResult = settle(inputs, scorer)
        bodies = day_bodies(inputs, result, version=1, settled_at=settled_at, gap_rule=gap_rule)
        sealed = seal(
            bodies.bodies,
            day=day.isoformat(),
            version=1,
            prev_hash=GENESIS,
            first_seq=0,
            texts=bodies.texts,
        )
        check(
            result.enterprises_net_fen + result.aggregator_fen == result.pool_net_fen,
            f"{day}: shares and aggregator do not add up to the pool's net",
        )
        days += 1
        net += result.pool_net_fen
        agg += result.aggregator_fen
        ent += result.enterprises_net_fen
        flagged += sum(int(p.flagged.sum()) for p in result.products)
        records += len(sealed)
    return MonthSummary(days, net, agg, ent, flagged, records)


def run(ctx: Context) -> list[Result]:
    n = ctx.size(10_000, 1_000)
    ctx.log(f"settlement: building a month of {n:,} assets")
    month = build_month(n)
    start = time.perf_counter()
    summary = settle_month(month)
    elapsed = time.perf_counter() - start
    check(summary.days >= 20, f"only {summary.days} awarded days were settled")
    check(summary.flagged > 0, "the synthetic gaps were not flagged")
    name = f"settlement_month_{n}_s"
    return [
        Result(
            name,
            elapsed,
            "s",
            TARGET_S if n == 10_000 else None,
            "<=",
            f"{summary.days} awarded days, {n:,} assets, {len(month.accounts)} enterprises, "
            f"{summary.records} ledger records; pool net {summary.pool_net_fen / 100:,.2f} CNY",
        )
    ]


BENCHMARKS = [
    Benchmark(
        "settlement",
        ("settlement_month_10000_s",),
        run,
        description="settlement core: a month of 10,000 assets (M&V, scoring, shares, ledger)",
    )
]
