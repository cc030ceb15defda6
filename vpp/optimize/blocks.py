"""The uncoupled offer problems solved block by block, in worker processes when it pays."""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vpp.domain.units import FloatArray
from vpp.optimize.offers import FIRM, OFFER, OfferModel, build_offer_problem, solve_unconstrained
from vpp.optimize.problem import (
    Problem,
    SolverOptions,
    SolveStatus,
    forget_solvers,
    solve_separable,
)

IntArray = npt.NDArray[np.int64]

PARALLEL_MIN_ASSETS = 150
"""Below this many LP assets one process is faster than starting workers."""


@dataclass(frozen=True)
class BlockResult:
    """Per-asset optimum of a block: firm schedule (m, T), offers (m, K, T), status (m,)."""

    firm_kw: FloatArray
    offer_kw: FloatArray
    status: tuple[SolveStatus, ...]


def solve_offer_block(model: OfferModel, options: SolverOptions) -> BlockResult:
    """Optimal firm schedule and robust offers of every asset of ``model``, each on its own.

    Assets without energy bounds or ramp limits take the closed form
    (`solve_unconstrained`); the others one LP each (`solve_separable`), ordered so that
    assets of the same structure follow each other (warm starts with highspy). An asset
    whose LP fails offers nothing and keeps a zero firm schedule; its status says why.
    A plain function of plain data, so a process pool (or later Dask) can run it.
    """
    fleet = model.fleet
    m, k, t = model.n_assets, model.n_products, model.horizon
    firm = np.zeros((m, t))
    offer = np.zeros((m, k, t))
    status = [SolveStatus.OPTIMAL] * m
    coupled = fleet.energy_limited | fleet.ramp_limited
    free = np.flatnonzero(~coupled)
    if free.size:
        firm[free], offer[free] = solve_unconstrained(model.take(free))
    lp = _structure_order(model, np.flatnonzero(coupled))
    if lp.size:
        keys = [fleet.asset_ids[i] for i in lp]
        solution = solve_separable(_offer_problem(model.take(lp)), options, keys=keys)
        ok = np.array([s.has_solution for s in solution.group_status], bool)
        firm[lp] = np.where(ok[:, None], solution.value(FIRM), 0.0)
        offer[lp] = np.where(ok[:, None, None], solution.value(OFFER), 0.0)
        for i, s in zip(lp, solution.group_status, strict=True):
            status[i] = s
    np.clip(offer, 0.0, None, out=offer)
    return BlockResult(firm, offer, tuple(status))


class Workers:
    """Worker processes kept for one optimisation (every round of one `build_bids` call).

    Started on first use, so a run that never needs them forks nothing. Each asset always
    goes to the same worker (by its id), whose highspy instance then warm-starts it from
    its own last basis (`solve_separable` keys): a re-plan at new cap prices takes a few
    simplex iterations. Forked, not spawned: a spawned worker imports numpy, scipy and
    highspy again (~1 s), more than a 1,000-asset run may take; the fork inherits no
    HiGHS threads, so each worker resets the HiGHS scheduler first. Use as a context
    manager; a later fan-out (Dask) can replace it, the task stays `solve_offer_block`.
    """

    def __init__(self, count: int | None = None) -> None:
        self.count = max(1, os.cpu_count() or 1) if count is None else max(1, count)
        self._pools: list[ProcessPoolExecutor] = []

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)
        self._pools = []

    def worker_of(self, asset_ids: tuple[str, ...], assets: IntArray) -> IntArray:
        """The worker of each asset: a stable function of its id within this process."""
        return np.array([hash(asset_ids[i]) % self.count for i in assets], np.int64)

    def run(self, models: list[OfferModel | None], options: SolverOptions) -> list[BlockResult]:
        """`solve_offer_block` of ``models[w]`` on worker w (None: nothing for that worker)."""
        if not self._pools:
            context = multiprocessing.get_context("fork" if os.name == "posix" else None)
            self._pools = [
                ProcessPoolExecutor(1, mp_context=context, initializer=_fresh_worker)
                for _ in range(self.count)
            ]
        futures = [
            (pool.submit(solve_offer_block, model, options) if model is not None else None)
            for pool, model in zip(self._pools, models, strict=True)
        ]
        empty = BlockResult(np.zeros((0, 0)), np.zeros((0, 0, 0)), ())
        return [empty if f is None else f.result() for f in futures]


def _fresh_worker() -> None:
    """Worker start-up: HiGHS threads do not survive a fork; nor should its instances."""
    forget_solvers()


def solve_offers(
    model: OfferModel,
    options: SolverOptions,
    workers: int | None = None,
    pool: Workers | None = None,
) -> BlockResult:
    """`solve_offer_block` over all assets, the LP assets split among worker processes.

    workers: None = os.cpu_count(); 1 = in this process. ``pool``: workers kept between
    calls (`Workers`, its size wins over ``workers``); without it a pool lives for this
    call only. The closed-form assets stay here, and fewer than `PARALLEL_MIN_ASSETS` LP
    assets run here too: handing them over would cost more than it saves.
    """
    count = (
        pool.count if pool is not None else (os.cpu_count() or 1) if workers is None else workers
    )
    coupled = model.fleet.energy_limited | model.fleet.ramp_limited
    if count <= 1 or int(coupled.sum()) < PARALLEL_MIN_ASSETS:
        return solve_offer_block(model, options)
    if pool is None:
        with Workers(count) as own:
            return solve_offers(model, options, pool=own)
    m, k, t = model.n_assets, model.n_products, model.horizon
    firm = np.zeros((m, t))
    offer = np.zeros((m, k, t))
    status: list[SolveStatus] = [SolveStatus.OPTIMAL] * m
    free = np.flatnonzero(~coupled)
    if free.size:
        firm[free], offer[free] = solve_unconstrained(model.take(free))
    lp = np.flatnonzero(coupled)
    owner = pool.worker_of(model.fleet.asset_ids, lp)
    chunks = [lp[owner == w] for w in range(pool.count)]
    parts = pool.run([model.take(c) if c.size else None for c in chunks], options)
    for chunk, part in zip(chunks, parts, strict=True):
        if chunk.size == 0:
            continue
        firm[chunk], offer[chunk] = part.firm_kw, part.offer_kw
        for i, s in zip(chunk, part.status, strict=True):
            status[i] = s
    np.clip(offer, 0.0, None, out=offer)
    return BlockResult(firm, offer, tuple(status))


_LOCAL = threading.local()
_CACHED_PROBLEMS = 4
_CACHED_MAX_ASSETS = 16
"""Only small blocks are kept: a 10,000-asset problem holds hundreds of MB."""


def _offer_problem(model: OfferModel) -> Problem:
    """`build_offer_problem`, reusing this thread's last few builds when only the offer
    caps differ (a re-solve round of the same assets): only the caps' bounds are then
    replaced, which saves ~1 ms per call for a single asset."""
    fleet = model.fleet
    if model.n_assets > _CACHED_MAX_ASSETS:
        return build_offer_problem(model)
    parts: list[object] = [fleet.asset_ids, fleet.interval_hours, model.keep_energy]
    arrays = (
        fleet.lo_kw, fleet.hi_kw, fleet.e_min_kwh, fleet.e_max_kwh, fleet.e_initial_kwh,
        fleet.retention, fleet.efficiency, fleet.ramp_kw, model.direction,
        model.value_cny_per_kw, model.firm_cost_cny_per_kw,
    )  # fmt: skip
    parts.extend(a.tobytes() for a in arrays)
    key = hash(tuple(parts))
    cache: dict[int, tuple[tuple[object, ...], Problem]] | None = getattr(_LOCAL, "problems", None)
    if cache is None:
        cache = _LOCAL.problems = {}
    hit = cache.get(key)
    if hit is not None and hit[0] == tuple(parts):
        problem = hit[1]
        problem.set_bounds(OFFER, upper=model.offer_cap_kw)
        return problem
    problem = build_offer_problem(model)
    if len(cache) >= _CACHED_PROBLEMS:
        cache.pop(next(iter(cache)))
    cache[key] = (tuple(parts), problem)
    return problem


def _structure_order(model: OfferModel, assets: IntArray) -> IntArray:
    """``assets`` sorted so that similar LPs follow each other: same structure (finite
    energy bounds, ramp), then same availability window and storage duration, which is
    what makes a warm start from the previous asset's basis cheap."""
    fleet = model.fleet
    signature = (
        np.isfinite(fleet.e_max_kwh[assets]).astype(np.int64) * 4
        + np.isfinite(fleet.e_min_kwh[assets]).astype(np.int64) * 2
        + fleet.ramp_limited[assets].astype(np.int64)
    )
    movable = fleet.hi_kw[assets] > fleet.lo_kw[assets]
    first = np.argmax(movable, axis=1)
    swing = np.maximum(fleet.hi_kw[assets] - fleet.lo_kw[assets], 0.0).max(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        hours = np.nan_to_num(
            (fleet.e_max_kwh[assets] - fleet.e_min_kwh[assets]) / swing, nan=0.0, posinf=1e6
        )
    order = np.lexsort((np.round(hours, 1), first, signature))
    return assets[order]
