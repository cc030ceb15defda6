"""Revenue sharing (分成, pure): money in integer fen, largest-remainder splits, agency agreements.

The rule, per product and market day (Gansu [C2d]: ancillary-service and DR compensation,
*including* 考核 penalties, is split between the operator and its users by the agreed ratio):

1. **Payments.** Each interval's pool payment (fen) is split among the enterprises in
   proportion to their *positive* measured response in that interval (kW, in the product's
   direction; an enterprise that moved the wrong way gets nothing of it).
2. **Penalties.** Each interval's pool penalty (fen) is borne by the enterprises in
   proportion to their *shortfall against their allocation*, max(allocated − response, 0)
   kW: an enterprise that delivered what it was allocated bears none of it.
3. If no enterprise has a weight in an interval (nobody responded, or nobody fell short),
   the aggregator keeps the payment or bears the penalty ("unassigned").
4. Splits are in integer fen by the largest-remainder method (Hamilton): each share is
   rounded down, and the fen left over go to the largest fractional parts (ties to the
   first enterprise in order), so the shares of an interval add up to its amount exactly.
5. **Aggregator's share** of an enterprise's gross (payments − penalties, fen), per its
   agency agreement: ``ratio_bp`` / 10,000 of the gross (rounded half to even; the
   aggregator also bears that ratio of a negative gross) plus ``fee_fen_per_mwh`` × the
   enterprise's positive response energy (MWh, rounded to 1e-6 MWh, fee rounded half to
   even). The enterprise keeps gross − aggregator's share.

So the enterprises' net shares plus the aggregator's (its cuts and the unassigned amounts)
equal the pool's net revenue (payments − penalties) to the fen.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

FEN_PER_CNY = 100
BASIS_POINTS = 10_000


@dataclass(frozen=True)
class Agreement:
    """An enterprise's agency agreement with the aggregator."""

    ratio_bp: int = 2_000
    """Aggregator's share of the enterprise's gross, in basis points (2,000 = 20 %)."""
    fee_fen_per_mwh: int = 0
    """Aggregator's fee per MWh of the enterprise's positive measured response (fen/MWh)."""

    def __post_init__(self) -> None:
        if not 0 <= self.ratio_bp <= BASIS_POINTS:
            raise ValueError("ratio_bp must be in [0, 10000]")
        if self.fee_fen_per_mwh < 0:
            raise ValueError("fee_fen_per_mwh must be >= 0")


def to_fen(cny: FloatArray) -> IntArray:
    """CNY amounts (float) to integer fen, rounded half away from zero per amount."""
    scaled = np.asarray(cny, dtype=np.float64) * FEN_PER_CNY
    return np.asarray(np.sign(scaled) * np.floor(np.abs(scaled) + 0.5), dtype=np.int64)


def cny_text(fen: int) -> str:
    """Integer fen as a CNY decimal string with two places (``-1234`` -> ``"-12.34"``)."""
    return str((Decimal(int(fen)) / FEN_PER_CNY).quantize(Decimal("0.01")))


def apportion(total_fen: IntArray, weights: FloatArray) -> tuple[IntArray, IntArray]:
    """Split each row's ``total_fen`` (>= 0) among columns by ``weights`` (>= 0), exactly.

    total_fen: (rows,) integer fen. weights: (rows, columns). Largest-remainder method,
    ties to the lower column. Returns ``(shares (rows, columns), unassigned (rows,))``: a
    row whose weights are all zero leaves its whole total unassigned. Every row satisfies
    ``shares.sum() + unassigned == total``.
    """
    total = np.asarray(total_fen, dtype=np.int64)
    w = np.clip(np.nan_to_num(np.asarray(weights, dtype=np.float64)), 0.0, None)
    if np.any(total < 0):
        raise ValueError("apportion needs non-negative totals")
    rows, cols = w.shape
    wsum = w.sum(axis=1)
    active = (wsum > 0) & (total > 0)
    shares = np.zeros((rows, cols), dtype=np.int64)
    if cols == 0 or not active.any():
        return shares, total.copy()
    exact = np.zeros((rows, cols))
    np.divide(total[:, None] * w, wsum[:, None], out=exact, where=active[:, None] & (w > 0))
    floor = np.floor(exact)
    shares = floor.astype(np.int64)
    left = np.where(active, total - shares.sum(axis=1), 0)
    left = np.clip(left, 0, cols)
    order = np.argsort(-(exact - floor), axis=1, kind="stable")
    bonus = (np.arange(cols)[None, :] < left[:, None]).astype(np.int64)
    np.put_along_axis(shares, order, np.take_along_axis(shares, order, axis=1) + bonus, axis=1)
    # Guard against float error in the floor step: the largest weight takes any residue.
    residue = np.where(active, total - shares.sum(axis=1), 0)
    if residue.any():
        top = np.argmax(w, axis=1)
        shares[np.arange(rows), top] += residue
    unassigned = np.where(active, 0, total)
    return shares, np.asarray(unassigned, dtype=np.int64)


def aggregator_cut(
    gross_fen: IntArray, positive_mwh: FloatArray, agreements: list[Agreement]
) -> IntArray:
    """The aggregator's share (fen) of each enterprise's gross by its agreement (rule 5).

    gross_fen: (enterprises,) fen; positive_mwh: (enterprises,) MWh (rounded to 1e-6 MWh
    here, as sealed).
    """
    out = np.zeros(len(agreements), dtype=np.int64)
    for e, agreement in enumerate(agreements):
        ratio = Decimal(int(gross_fen[e]) * agreement.ratio_bp) / BASIS_POINTS
        fee = Decimal(agreement.fee_fen_per_mwh) * Decimal(repr(round(float(positive_mwh[e]), 6)))
        out[e] = int(ratio.quantize(Decimal(1), ROUND_HALF_EVEN)) + int(
            fee.quantize(Decimal(1), ROUND_HALF_EVEN)
        )
    return out


__all__ = [
    "BASIS_POINTS",
    "FEN_PER_CNY",
    "Agreement",
    "aggregator_cut",
    "apportion",
    "cny_text",
    "to_fen",
]
