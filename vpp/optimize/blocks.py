"""The uncoupled offer problems solved block by block, in worker processes when it pays."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import numpy.typing as npt

from vpp.domain.units import FloatArray
from vpp.optimize.offers import FIRM, OFFER, OfferModel, build_offer_problem, solve_unconstrained
from vpp.optimize.problem import SolverOptions, SolveStatus, solve_separable

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
        solution = solve_separable(build_offer_problem(model.take(lp)), options)
        ok = np.array([s.has_solution for s in solution.group_status], bool)
        firm[lp] = np.where(ok[:, None], solution.value(FIRM), 0.0)
        offer[lp] = np.where(ok[:, None, None], solution.value(OFFER), 0.0)
        for i, s in zip(lp, solution.group_status, strict=True):
            status[i] = s
    np.clip(offer, 0.0, None, out=offer)
    return BlockResult(firm, offer, tuple(status))


def solve_offers(
    model: OfferModel, options: SolverOptions, workers: int | None = None
) -> BlockResult:
    """`solve_offer_block` over all assets, the LP assets split into ``workers`` processes.

    workers: None = os.cpu_count(); 1 = in this process. The closed-form assets stay
    here, and fewer than `PARALLEL_MIN_ASSETS` LP assets run here too: starting workers
    would cost more than it saves.
    """
    if workers is None:
        workers = os.cpu_count() or 1
    coupled = model.fleet.energy_limited | model.fleet.ramp_limited
    if workers <= 1 or int(coupled.sum()) < PARALLEL_MIN_ASSETS:
        return solve_offer_block(model, options)
    m, k, t = model.n_assets, model.n_products, model.horizon
    firm = np.zeros((m, t))
    offer = np.zeros((m, k, t))
    status: list[SolveStatus] = [SolveStatus.OPTIMAL] * m
    free = np.flatnonzero(~coupled)
    if free.size:
        firm[free], offer[free] = solve_unconstrained(model.take(free))
    order = _structure_order(model, np.flatnonzero(coupled))
    chunks = [c for c in np.array_split(order, workers) if c.size]
    context = multiprocessing.get_context("fork" if os.name == "posix" else None)
    with ProcessPoolExecutor(max_workers=len(chunks), mp_context=context) as pool:
        parts = list(pool.map(solve_offer_block, [model.take(c) for c in chunks], repeat(options)))
    for chunk, part in zip(chunks, parts, strict=True):
        firm[chunk], offer[chunk] = part.firm_kw, part.offer_kw
        for i, s in zip(chunk, part.status, strict=True):
            status[i] = s
    np.clip(offer, 0.0, None, out=offer)
    return BlockResult(firm, offer, tuple(status))


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
