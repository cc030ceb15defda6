"""Scoring delivery against awards: response-rate payments and penalties, or deviation charges."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from market.rules import LadderRules, Scoring
from vpp.domain.market import IntervalScore
from vpp.domain.units import KWH_PER_MWH, FloatArray

NO_AWARD_KW = 1e-9


def score_delivery(
    awarded_kw: Sequence[float],
    delivered_kw: Sequence[float],
    price_cny_per_mwh: Sequence[float],
    rules: LadderRules,
    *,
    participant_pays: bool,
) -> list[IntervalScore]:
    """Score by the pack's ``rules.scoring`` with its threshold, factor and band.

    Both take per-interval awards and deliveries (kW, the delivered response measured against
    the settlement baseline, in the product's direction) and prices (CNY/MWh). Energy of an
    interval is kW × ``interval_hours`` (0.25 h for 96-interval products, 1 h for 24-interval
    ones) and money is kWh × price / 1000. Intervals without an award (at most 1e-9 kW, the
    crumbs pro-rata splits may leave) score zero whatever their price (NaN where nothing
    cleared is fine there).
    """
    score = score_response_rate if rules.scoring is Scoring.RESPONSE_RATE else score_deviation
    return score(
        awarded_kw,
        delivered_kw,
        price_cny_per_mwh,
        interval_hours=rules.interval_hours,
        penalty_threshold=rules.penalty_threshold,
        penalty_factor=rules.penalty_factor,
        payment_band_upper=rules.payment_band_upper,
        participant_pays=participant_pays,
    )


def score_response_rate(
    awarded_kw: Sequence[float],
    delivered_kw: Sequence[float],
    price_cny_per_mwh: Sequence[float],
    *,
    interval_hours: float,
    penalty_threshold: float,
    penalty_factor: float,
    payment_band_upper: float,
    participant_pays: bool = False,
) -> list[IntervalScore]:
    """Ancillary-service scoring of each awarded interval ([C14]).

    - response rate r = delivered / awarded;
    - payment = min(delivered, band_upper × awarded)⁺ × h × price / 1000: delivery beyond
      the band is not paid (assumption: no published Gansu rule, band 1.2 by default);
    - penalty when r < threshold R1: (awarded × R1 − delivered) × h × price / 1000 × M
      ([C14]: R1 = 50 %, M = 0.5). E.g. award 1000 kW, delivered 300 kW, 400 CNY/MWh,
      0.25 h: penalty = (500 − 300) × 0.25 × 400 / 1000 × 0.5 = 10 CNY, payment 30 CNY.

    A participant that pays for what it gets (a buyer) earns no payment.
    """
    award, delivered, price = _arrays(awarded_kw, delivered_kw, price_cny_per_mwh)
    active = award > NO_AWARD_KW
    to_cny = np.where(active, interval_hours * price / KWH_PER_MWH, 0.0)
    paid_kw = np.clip(delivered, 0.0, payment_band_upper * award)
    payment = np.zeros_like(award) if participant_pays else paid_kw * to_cny
    short_kw = np.maximum(award * penalty_threshold - delivered, 0.0)
    penalty = short_kw * to_cny * penalty_factor
    return _scores(award, delivered, payment, penalty)


def score_deviation(
    awarded_kw: Sequence[float],
    delivered_kw: Sequence[float],
    price_cny_per_mwh: Sequence[float],
    *,
    interval_hours: float,
    penalty_threshold: float,
    penalty_factor: float,
    payment_band_upper: float,
    participant_pays: bool = False,
) -> list[IntervalScore]:
    """Energy (spot, green power) deviation settlement of each awarded interval.

    The award is a position settled at its price: a seller is paid awarded kWh × price
    (a buyer's bill, awarded kWh × price, is not a payment and is left to the clearing).
    Delivery outside the tolerance band [threshold × award, band_upper × award] is charged
    as a deviation: (distance to the band) × h × price / 1000 × factor. With the default
    threshold 1 and band 1 the charge is |award − delivered| × h × price / 1000 × factor
    (assumption: Gansu's deviation prices were not found, so the deviation is charged at
    the award's price times a configurable factor).
    """
    award, delivered, price = _arrays(awarded_kw, delivered_kw, price_cny_per_mwh)
    active = award > NO_AWARD_KW
    to_cny = np.where(active, interval_hours * price / KWH_PER_MWH, 0.0)
    payment = np.zeros_like(award) if participant_pays else award * to_cny
    below_kw = np.maximum(award * penalty_threshold - delivered, 0.0)
    above_kw = np.maximum(delivered - award * payment_band_upper, 0.0)
    penalty = (below_kw + above_kw) * to_cny * penalty_factor
    return _scores(award, delivered, payment, penalty)


def _arrays(
    awarded_kw: Sequence[float], delivered_kw: Sequence[float], price: Sequence[float]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    award = np.asarray(awarded_kw, dtype=np.float64)
    delivered = np.asarray(delivered_kw, dtype=np.float64)
    prices = np.asarray(price, dtype=np.float64)
    if award.ndim != 1 or award.shape != delivered.shape or award.shape != prices.shape:
        raise ValueError(
            f"awarded, delivered and price need one value per interval each, got "
            f"{award.size}, {delivered.size} and {prices.size}"
        )
    if not np.all(np.isfinite(award)) or np.any(award < 0):
        raise ValueError("awarded_kw must be finite and >= 0")
    if not np.all(np.isfinite(delivered)):
        raise ValueError("delivered_kw must be finite")
    bad = (award > NO_AWARD_KW) & ~np.isfinite(prices)
    if np.any(bad):
        raise ValueError(f"price must be finite where something was awarded: {np.flatnonzero(bad)}")
    return award, delivered, prices


def _scores(
    award: FloatArray, delivered: FloatArray, payment: FloatArray, penalty: FloatArray
) -> list[IntervalScore]:
    active = award > NO_AWARD_KW
    rate = np.divide(delivered, award, out=np.zeros_like(award), where=active)
    return [
        IntervalScore(
            interval=k,
            awarded_kw=float(award[k]),
            delivered_kw=float(delivered[k]),
            response_rate=float(rate[k]),
            payment_cny=float(payment[k]) if active[k] else 0.0,
            penalty_cny=float(penalty[k]) if active[k] else 0.0,
        )
        for k in range(award.size)
    ]
