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


UNSCALED_FROM_ASSETS = 1000
"""Fleet size from which the master LP is solved without HiGHS's scaling (`Master`)."""


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
        # 33,000 in 3.7 s, the same optimum). HiGHS's scaling on top of that still made
        # now and then a late round's warm re-solve wander (about 20,000 iterations at
        # 0.3 ms, 4-8 s, then a cold restart); with it off, the same masters replayed
        # re-solve in 0.1-0.3 s each (three cycle runs' 32 masters: 25.7 s to 5.0 s).
        # Small masters keep it: they re-solve in milliseconds either way, and on the
        # 8-asset gap instances of the tests turning it off only changes which optimal
        # vertex comes back (mean gap over 40 instances 0.0246 with it, 0.0255 without).
        self._cap_scale = 1.0 / cap_kw[proposals.contested]
        upper = np.ones(self.n_caps + n)
        self.lp = GrowingLp(
            np.full(upper.size, -np.inf), upper, options, scaled=n >= UNSCALED_FROM_ASSETS
        )
        self.batches = 0
        # Columns only where they can matter. A plan whose contested offers equal those
        # of a column the asset already has, for no more profit, gets none: the copies
        # only tied the LP (10,000 assets: a third of the columns, most of them plans
        # the caps did not trim). Nor does an asset none of whose plans offers into a
        # contested column (45 % of the cycle benchmark's assets): its best such plan,
        # if it beats the fallback, is taken whole, outside the LP.
        self._known: dict[tuple[int, bytes], tuple[int, float]] = {}
        self._start_slot: IntArray | None = None  # the start batch's plans' columns
        self._in_lp = np.zeros(n, np.bool_)
        self._free_gain = np.zeros(n)  # best gain of a plan without contested offers
        self._free_plan = np.full((n, 2), -1, np.int64)  # its (batch, position)
        self._col_asset: list[int] = []
        self._col_gain: list[float] = []
        self._col_source: list[tuple[int, int]] = []  # (batch, position) of each column

    def _gain(self, b: int) -> FloatArray:
        proposals = self.proposals
        assets = proposals.asset[b]
        profit = proposals.profit(assets, proposals.firm_kw[b], proposals.offer_kw[b])
        return np.asarray(profit - self.base_cny[assets], np.float64)

    def _add_batch(self, b: int) -> IntArray:
        """Add batch ``b``'s plans; returns each plan's column (-1: none)."""
        proposals = self.proposals
        assets = proposals.asset[b]
        gain = self._gain(b)
        used = np.ascontiguousarray(proposals.offer_kw[b][:, proposals.contested])  # (J, C)
        uses: npt.NDArray[np.bool_] = np.asarray((used > 0).any(axis=1), np.bool_)
        slot = np.full(assets.size, -1, np.int64)
        new: list[tuple[int, int, int, float, FloatArray]] = []  # asset, batch, pos, gain, used

        def column(asset: int, batch: int, pos: int, value: float, usage: FloatArray) -> int:
            key = (asset, usage.tobytes())
            known = self._known.get(key)
            if known is not None and known[1] >= value - 1e-9:
                return known[0]
            col = self.lp.num_cols + len(new)
            self._known[key] = (col, value)
            new.append((asset, batch, pos, value, usage))
            return col

        for j, asset in enumerate(assets.tolist()):
            if not uses[j] and not self._in_lp[asset]:
                if gain[j] > self._free_gain[asset] + 1e-9:
                    self._free_gain[asset] = gain[j]
                    self._free_plan[asset] = (b, j)
                continue
            if not self._in_lp[asset]:
                self._in_lp[asset] = True
                fb, fj = self._free_plan[asset].tolist()
                if fb >= 0:  # its best plan so far joins the mix
                    free_usage = np.ascontiguousarray(
                        proposals.offer_kw[fb][fj, proposals.contested]
                    )
                    column(asset, fb, fj, float(self._free_gain[asset]), free_usage)
            slot[j] = column(asset, b, j, float(gain[j]), used[j])
        if not new:
            return slot
        n_new = len(new)
        usage = np.stack([u for *_, u in new])
        owner = np.array([a for a, *_ in new], np.int64)
        value = np.array([v for _, _, _, v, _ in new])
        self._col_asset.extend(owner.tolist())
        self._col_gain.extend(value.tolist())
        self._col_source.extend((nb, nj) for _, nb, nj, _, _ in new)
        plan, cap = np.nonzero(usage > 0)
        rows = np.concatenate([cap, self.n_caps + owner])
        cols = np.concatenate([plan, np.arange(n_new)])
        vals = np.concatenate([usage[plan, cap] * self._cap_scale[cap], np.ones(n_new)])
        shape = (self.n_caps + self.n_assets, n_new)
        self.lp.add_columns(-value, np.ones(n_new), sp.csc_array((vals, (rows, cols)), shape))
        return slot

    def solve(self) -> MasterResult | None:
        """Add the new proposals as columns, solve; None if HiGHS finds no solution."""
        proposals = self.proposals
        while self.batches < len(proposals.asset):
            slot = self._add_batch(self.batches)
            if self.batches == self.start_batch:
                self._start_slot = slot
            self.batches += 1
        if self.start_batch is not None and self._start_slot is not None:
            slot = self._start_slot
            chosen = proposals.asset[self.start_batch][slot >= 0]
            self.lp.start_from(slot[slot >= 0], self.n_caps + chosen)
            self.start_batch = None
        status, w, duals, _ = self.lp.solve()
        if not status.has_solution:
            return None
        w = np.clip(w, 0.0, 1.0)
        n = self.n_assets
        col_asset = np.asarray(self._col_asset, np.int64)
        source = np.asarray(self._col_source, np.int64).reshape(-1, 2)
        # an asset outside the LP takes its best plan without contested offers whole
        free = ~self._in_lp & (self._free_plan[:, 0] >= 0)
        weights = np.concatenate([w, np.ones(int(free.sum()))])
        owners = np.concatenate([col_asset, np.flatnonzero(free)])
        sources = np.concatenate([source, self._free_plan[free]])
        rest = np.clip(1.0 - np.bincount(owners, weights=weights, minlength=n), 0.0, 1.0)
        firm_mix = proposals.fallback_firm_kw * rest[:, None]
        offer_mix = proposals.fallback_offer_kw * rest[:, None, None]
        for b, (at, firm, offer) in enumerate(
            zip(proposals.asset, proposals.firm_kw, proposals.offer_kw, strict=True)
        ):
            pick = (sources[:, 0] == b) & (weights > 0)  # most plans carry no weight
            pos, weight = sources[pick, 1], weights[pick]
            # a batch holds one plan per asset, so its assets are distinct
            firm_mix[at[pos]] += weight[:, None] * firm[pos]
            offer_mix[at[pos]] += weight[:, None, None] * offer[pos]
        price = np.zeros(self.cap_kw.shape)
        price[proposals.contested] = np.maximum(-duals[: self.n_caps] * self._cap_scale, 0.0)
        gains = np.concatenate([np.asarray(self._col_gain), self._free_gain[free]])
        objective = float(self.base_cny.sum() + gains @ weights)
        return MasterResult(firm_mix, np.clip(offer_mix, 0.0, None), price, objective)


def solve_master(
    proposals: Proposals, cap_kw: FloatArray, options: SolverOptions
) -> MasterResult | None:
    """The master LP over the proposals so far, solved once (`Master` re-solves warm)."""
    return Master(proposals, cap_kw, options).solve()
