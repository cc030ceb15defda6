"""Pool caps by Dantzig-Wolfe price updates: a master LP over each asset's proposed plans.

The pool caps Σ_i offer[i, k, t] <= cap[k, t] are the only constraints linking assets in
the LP relaxation of the bid problem. Decomposition (Dantzig & Wolfe 1960; the primal
view of Lagrangian relaxation of the caps):

- Every asset i has proposals j: plans (firm, offers) that satisfy its own robust
  constraints, with profit π_ij (`vpp.optimize.bidding.plan_value` per asset), plus an
  implicit fallback Z_i: its first proposal with every contested offer set to 0 (feasible,
  since the robust box keeps any smaller offer deliverable).
- The master LP picks weights w_ij >= 0, Σ_j w_ij <= 1 (the rest on Z_i), maximising
  Σ w_ij·(π_ij − π(Z_i)) subject to the caps. Any such mix is feasible for the asset: its
  robust constraints are linear, so a convex combination of feasible plans is feasible.
  This is what splits a contested interval exactly among assets that are indifferent
  at the margin (a vertex per asset cannot).
- The duals of the cap rows are prices (CNY per kW-interval); assets re-planned with
  their offers' value reduced by those prices give new proposals (the pricing step).
  Repeated, the master's objective rises to the optimum of the LP with caps; each round
  re-plans only the assets the price change can improve most, so its cost is bounded
  (the rounds are driven by `vpp.optimize.bidding`).

Only the contested columns — finite positive caps below the fleet's total power range —
enter the master; elsewhere nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from vpp.domain.units import FloatArray
from vpp.optimize.problem import GrowingLp, SolverOptions

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


def contested_columns(lo_kw: FloatArray, hi_kw: FloatArray, cap_kw: FloatArray) -> BoolArray:
    """(K, T) columns whose finite, positive pool cap is below the fleet's power range."""
    swing = np.maximum(hi_kw - lo_kw, 0.0).sum(axis=0)
    finite = np.isfinite(cap_kw) & (cap_kw > 0)
    return np.asarray(finite & (cap_kw < swing[None, :]), np.bool_)


@dataclass
class Proposals:
    """Every asset's candidate plans, stacked: asset (J,), firm (J, T), offer (J, K, T)."""

    value_cny_per_kw: FloatArray
    """(n, K, T) unpriced value of offering 1 kW for one interval (CNY per kW-interval)."""
    firm_cost_cny_per_kw: FloatArray
    """(T,) energy cost of 1 kW of firm deviation for one interval."""
    contested: BoolArray
    """(K, T) the columns whose caps enter the master."""
    fallback_firm_kw: FloatArray
    """(n, T) firm schedule of each asset's fallback Z_i."""
    fallback_offer_kw: FloatArray
    """(n, K, T) offers of each asset's fallback (0 in contested columns)."""
    asset: list[IntArray] = field(default_factory=list)
    firm_kw: list[FloatArray] = field(default_factory=list)
    offer_kw: list[FloatArray] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        value_cny_per_kw: FloatArray,
        firm_cost_cny_per_kw: FloatArray,
        contested: BoolArray,
        firm_kw: FloatArray,
        offer_kw: FloatArray,
    ) -> Proposals:
        """Proposals from one plan per asset (n, ...); the fallbacks derive from it."""
        fallback = np.where(contested[None], 0.0, offer_kw)
        out = cls(value_cny_per_kw, firm_cost_cny_per_kw, contested, firm_kw.copy(), fallback)
        out.add(np.arange(firm_kw.shape[0]), firm_kw, offer_kw)
        return out

    def add(self, assets: IntArray, firm_kw: FloatArray, offer_kw: FloatArray) -> None:
        """Append one plan for each of ``assets`` (a plan with no contested offer still
        counts: its firm schedule and other offers may beat the fallback's)."""
        assets = np.asarray(assets, np.int64)
        if np.unique(assets).size != assets.size:
            raise ValueError("a batch holds at most one plan per asset")
        self.asset.append(assets)
        self.firm_kw.append(np.array(firm_kw, np.float64))
        self.offer_kw.append(np.array(offer_kw, np.float64))

    def profit(self, assets: IntArray, firm_kw: FloatArray, offer_kw: FloatArray) -> FloatArray:
        """Expected profit (CNY) of each plan of ``assets``."""
        value = np.einsum("jkt,jkt->j", self.value_cny_per_kw[assets], offer_kw)
        return np.asarray(value - firm_kw @ self.firm_cost_cny_per_kw, np.float64)


@dataclass(frozen=True)
class MasterResult:
    """The master LP's mixed plans and the caps' prices."""

    firm_kw: FloatArray
    """(n, T) each asset's mixed firm schedule."""
    offer_kw: FloatArray
    """(n, K, T) each asset's mixed offers: within the caps in every contested column."""
    price_cny_per_kw: FloatArray
    """(K, T) dual price of each cap (CNY per kW-interval, >= 0; 0 where uncontested)."""
    objective_cny: float
    """The mixed plans' total expected profit."""


class Master:
    """The master LP (module docstring), grown by the proposals added since its last solve
    and re-solved warm (`vpp.optimize.problem.GrowingLp`)."""

    def __init__(
        self,
        proposals: Proposals,
        cap_kw: FloatArray,
        options: SolverOptions,
        start_batch: int | None = None,
    ) -> None:
        """``start_batch``: a batch of proposals that meets the caps on its own (e.g. plans
        trimmed to them); the first solve starts from it, every plan of that batch chosen
        whole, instead of from no plan at all, which cost HiGHS a pivot per asset just to
        reach a plan (10,000 assets: 11,220 iterations and 2.2 s, now 2 and 0.06 s)."""
        self.proposals = proposals
        self.start_batch = start_batch
        self.cap_kw = cap_kw
        n = proposals.fallback_firm_kw.shape[0]
        self.n_assets = n
        self.base_cny = proposals.profit(
            np.arange(n), proposals.fallback_firm_kw, proposals.fallback_offer_kw
        )
        self.n_caps = int(proposals.contested.sum())
        # Each cap row is written as a share of its cap (Σ offer/cap <= 1), so that its
        # entries are of the convexity rows' order: in kW, next to the ones of the
        # convexity rows, HiGHS's scaling left the warm re-solves badly conditioned
        # (10,000 assets, 12 rounds: 121,000 dual simplex iterations in 21 s; as shares
        # 33,000 in 3.7 s, the same optimum).
        self._cap_scale = 1.0 / cap_kw[proposals.contested]
        upper = np.ones(self.n_caps + n)
        self.lp = GrowingLp(np.full(upper.size, -np.inf), upper, options)
        self.batches = 0
        # A plan whose contested offers equal those of a column the asset already has,
        # for no more profit, gets no column of its own: the copies only tied the LP
        # (10,000 assets: a third of the columns, most of them plans the caps did not
        # trim). Per batch: each plan's column, and the plans that own theirs.
        self._known: dict[tuple[int, bytes], tuple[int, float]] = {}
        self._slot: list[IntArray] = []
        self._own: list[IntArray] = []
        self._col_asset: list[IntArray] = []
        self._col_gain: list[FloatArray] = []

    def _add_batch(self, b: int) -> None:
        proposals = self.proposals
        assets = proposals.asset[b]
        firm, offer = proposals.firm_kw[b], proposals.offer_kw[b]
        gain = proposals.profit(assets, firm, offer) - self.base_cny[assets]
        used = np.ascontiguousarray(offer[:, proposals.contested])  # (J, C)
        slot = np.empty(assets.size, np.int64)
        own: list[int] = []
        next_col = self.lp.num_cols
        for j, asset in enumerate(assets.tolist()):
            key = (asset, used[j].tobytes())
            known = self._known.get(key)
            if known is not None and known[1] >= gain[j] - 1e-9:
                slot[j] = known[0]
                continue
            slot[j] = next_col
            self._known[key] = (next_col, float(gain[j]))
            own.append(j)
            next_col += 1
        kept = np.asarray(own, np.int64)
        self._slot.append(slot)
        self._own.append(kept)
        self._col_asset.append(assets[kept])
        self._col_gain.append(gain[kept])
        if kept.size == 0:
            return
        plan, cap = np.nonzero(used[kept] > 0)
        rows = np.concatenate([cap, self.n_caps + assets[kept]])
        cols = np.concatenate([plan, np.arange(kept.size)])
        vals = np.concatenate([used[kept][plan, cap] * self._cap_scale[cap], np.ones(kept.size)])
        shape = (self.n_caps + self.n_assets, kept.size)
        self.lp.add_columns(
            -gain[kept], np.ones(kept.size), sp.csc_array((vals, (rows, cols)), shape)
        )

    def solve(self) -> MasterResult | None:
        """Add the new proposals as columns, solve; None if HiGHS finds no solution."""
        proposals = self.proposals
        while self.batches < len(proposals.asset):
            self._add_batch(self.batches)
            self.batches += 1
        if self.start_batch is not None:
            chosen = proposals.asset[self.start_batch]
            self.lp.start_from(self._slot[self.start_batch], self.n_caps + chosen)
            self.start_batch = None
        status, w, duals, _ = self.lp.solve()
        if not status.has_solution:
            return None
        w = np.clip(w, 0.0, 1.0)
        n = self.n_assets
        col_asset = np.concatenate(self._col_asset)
        rest = np.clip(1.0 - np.bincount(col_asset, weights=w, minlength=n), 0.0, 1.0)
        firm_mix = proposals.fallback_firm_kw * rest[:, None]
        offer_mix = proposals.fallback_offer_kw * rest[:, None, None]
        start = 0
        batches = zip(
            proposals.asset, proposals.firm_kw, proposals.offer_kw, self._own, strict=True
        )
        for at, firm, offer, own in batches:
            weight = w[start : start + own.size]
            mixed = own[weight > 0]  # most plans carry no weight
            # a batch holds one plan per asset, so its assets are distinct
            firm_mix[at[mixed]] += weight[weight > 0, None] * firm[mixed]
            offer_mix[at[mixed]] += weight[weight > 0, None, None] * offer[mixed]
            start += own.size
        price = np.zeros(self.cap_kw.shape)
        price[proposals.contested] = np.maximum(-duals[: self.n_caps] * self._cap_scale, 0.0)
        objective = float(self.base_cny.sum() + np.concatenate(self._col_gain) @ w)
        return MasterResult(firm_mix, np.clip(offer_mix, 0.0, None), price, objective)


def solve_master(
    proposals: Proposals, cap_kw: FloatArray, options: SolverOptions
) -> MasterResult | None:
    """The master LP over the proposals so far, solved once (`Master` re-solves warm)."""
    return Master(proposals, cap_kw, options).solve()
