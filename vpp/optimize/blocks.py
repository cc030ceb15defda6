"""The uncoupled offer problems solved block by block, fanned out when it pays.

The fan-out itself is injected (`BlockMap`): this package stays pure, and the service
hands in the process's distributed engine (``vpp.kit.compute``: Dask distributed, or in
this process when none is configured).
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from vpp.domain.units import FloatArray
from vpp.optimize.offers import FIRM, OFFER, OfferModel, build_offer_problem, solve_unconstrained
from vpp.optimize.problem import Problem, SolverOptions, SolveStatus, solve_separable

IntArray = npt.NDArray[np.int64]
T = TypeVar("T")
R = TypeVar("R")

PARALLEL_MIN_ASSETS = 150
"""Below this many LP assets solving here is faster than shipping blocks to workers."""


class BlockMap(Protocol):
    """A fan-out: runs a plain function over blocks of plain data, maybe on other machines.

    ``blocks[i]`` always goes to the same worker (``i mod workers``) while the workers stay
    the same, so a block of the same assets sent again (the next price round) finds the
    highspy bases its worker kept (`solve_separable` keys) and starts warm.
    """

    @property
    def workers(self) -> int:
        """How many workers share the work (1: everything runs in this process)."""
        ...

    def map(self, task: Callable[[T], R], blocks: Sequence[T]) -> list[R]:
        """``[task(b) for b in blocks]``, in order; ``task`` must be picklable."""
        ...

    def imap(self, task: Callable[[T], R], blocks: Iterable[T], ahead: int) -> Iterator[R]:
        """``task(b)`` for each block, in order, taking the blocks as they come: up to
        ``ahead`` blocks are out at once, so the caller makes the next blocks (e.g. reads
        their data) while the workers run the earlier ones."""
        ...


class InProcess:
    """The `BlockMap` that runs every block here, one after the other (no fan-out)."""

    @property
    def workers(self) -> int:
        return 1

    def map(self, task: Callable[[T], R], blocks: Sequence[T]) -> list[R]:
        return [task(block) for block in blocks]

    def imap(self, task: Callable[[T], R], blocks: Iterable[T], ahead: int) -> Iterator[R]:
        return (task(block) for block in blocks)


IN_PROCESS = InProcess()


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
    A plain function of plain data, so a worker process or machine can run it.
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
    ordered = _structure_order(model, np.flatnonzero(coupled))
    # A slice at a time: the LPs are solved one by one anyway, and building the whole
    # block's problem at once held 12.5 GiB for 100,000 assets (0.4 GiB of results).
    for start in range(0, ordered.size, LP_SLICE_ASSETS):
        lp = ordered[start : start + LP_SLICE_ASSETS]
        keys = [fleet.asset_ids[i] for i in lp]
        solution = solve_separable(_offer_problem(model.take(lp)), options, keys=keys)
        ok = np.array([s.has_solution for s in solution.group_status], bool)
        firm[lp] = np.where(ok[:, None], solution.value(FIRM), 0.0)
        offer[lp] = np.where(ok[:, None, None], solution.value(OFFER), 0.0)
        for i, s in zip(lp, solution.group_status, strict=True):
            status[i] = s
    np.clip(offer, 0.0, None, out=offer)
    return BlockResult(firm, offer, tuple(status))


def _solve_task(job: tuple[OfferModel, SolverOptions] | None) -> BlockResult | None:
    """One worker's block (None: nothing for that worker), as `BlockMap.map` sends it."""
    return None if job is None else solve_offer_block(*job)


def worker_of(asset_ids: Sequence[str], assets: IntArray, workers: int) -> IntArray:
    """The block (worker) of each asset: CRC-32 of its id modulo ``workers``, the same in
    every process and every call, so an asset stays with the worker that has its basis."""
    return np.array(
        [zlib.crc32(asset_ids[i].encode()) % workers for i in assets.tolist()], np.int64
    )


def solve_offers(
    model: OfferModel, options: SolverOptions, blocks: BlockMap | None = None
) -> BlockResult:
    """`solve_offer_block` over all assets, the LP assets split among ``blocks``' workers.

    ``blocks`` None (or one worker): everything here. The closed-form assets stay here,
    and fewer than `PARALLEL_MIN_ASSETS` LP assets run here too: shipping them would cost
    more than it saves. Each LP asset's block is fixed by its id (`worker_of`).
    """
    coupled = model.fleet.energy_limited | model.fleet.ramp_limited
    count = 1 if blocks is None else blocks.workers
    if blocks is None or count <= 1 or int(coupled.sum()) < PARALLEL_MIN_ASSETS:
        return solve_offer_block(model, options)
    m, k, t = model.n_assets, model.n_products, model.horizon
    firm = np.zeros((m, t))
    offer = np.zeros((m, k, t))
    status: list[SolveStatus] = [SolveStatus.OPTIMAL] * m
    free = np.flatnonzero(~coupled)
    if free.size:
        firm[free], offer[free] = solve_unconstrained(model.take(free))
    lp = np.flatnonzero(coupled)
    owner = worker_of(model.fleet.asset_ids, lp, count)
    chunks = [lp[owner == w] for w in range(count)]
    jobs = [(model.take(c), options) if c.size else None for c in chunks]
    parts = blocks.map(_solve_task, jobs)
    for chunk, part in zip(chunks, parts, strict=True):
        if part is None:
            continue
        firm[chunk], offer[chunk] = part.firm_kw, part.offer_kw
        for i, s in zip(chunk, part.status, strict=True):
            status[i] = s
    np.clip(offer, 0.0, None, out=offer)
    return BlockResult(firm, offer, tuple(status))


LP_SLICE_ASSETS = 2_000
"""Assets whose per-asset LPs are built and solved together (`solve_offer_block`)."""
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
