"""A sparse LP/MILP built in named blocks, and `solve`, the only place that calls HiGHS."""

from __future__ import annotations

import importlib
import math
import threading
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
IntArray32 = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]
Backend = Literal["auto", "scipy", "highspy"]
LpMethod = Literal["highs", "highs-ipm", "highs-ds"]
ArrayLike = npt.ArrayLike


@dataclass(frozen=True)
class SolverOptions:
    """How HiGHS is run; passed to every solve, never a global.

    ``backend``: "scipy" calls HiGHS through `scipy.optimize.milp` (`linprog` for LPs that
    need duals); "highspy" through the
    optional highspy package, whose incremental interface lets `solve_separable` warm-start
    each sub-problem from the previous one's basis (several times fewer simplex iterations
    on the per-asset bidding LPs); "auto" takes highspy for separable solves when it is
    installed, scipy otherwise. The highspy instance of separable solves is kept per
    thread between calls (`_cached_runner`), so the warm start carries over from one call
    to the next; results are optima either way, but where an LP has several optimal
    vertices which one is returned can depend on the previous call.
    """

    time_limit_s: float = 60.0
    """Wall-clock limit of one HiGHS call (s)."""
    mip_rel_gap: float = 1e-4
    """Relative MIP gap at which branch and bound stops (fraction)."""
    presolve: bool | None = None
    """None: HiGHS presolve on for `solve`, off for the small sub-problems of
    `solve_separable` (measured faster there)."""
    backend: Backend = "auto"
    lp_method: LpMethod = "highs"
    """LPs solved through scipy: "highs" lets HiGHS choose (simplex here), "highs-ipm" its
    interior point method, then crossover to a vertex. IPM scales better on the large
    coupled LPs (the day's disaggregation: 1,000 assets x 96 x 2 products solved in 14 s
    instead of 55 s, the same optimum); the small per-asset LPs stay on the simplex."""


class SolveStatus(StrEnum):
    """Outcome of a solve."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    """A solution exists but the time limit stopped HiGHS before proving optimality."""
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    NO_SOLUTION = "no_solution"
    """Time limit or solver error without any solution."""

    @property
    def has_solution(self) -> bool:
        return self in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)


@dataclass(frozen=True)
class Variables:
    """A named block of variables: columns ``start .. start + size`` in C order of ``shape``."""

    name: str
    shape: tuple[int, ...]
    start: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def columns(self) -> IntArray:
        """Column index of every variable, shaped like the block."""
        return (self.start + np.arange(self.size, dtype=np.int64)).reshape(self.shape)


@dataclass(frozen=True)
class Entries:
    """A sparse matrix as coordinate triplets; duplicates add up. Cheaper than a
    scipy.sparse object for the many small blocks of a recipe."""

    rows: IntArray
    cols: IntArray
    values: FloatArray
    shape: tuple[int, int]

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> Entries:
        none = np.zeros(0, np.int64)
        return cls(none, none, np.zeros(0), shape)

    def __add__(self, other: Entries) -> Entries:
        if other.shape != self.shape:
            raise ValueError(f"cannot add {other.shape} to {self.shape}")
        return Entries(
            np.concatenate([self.rows, other.rows]),
            np.concatenate([self.cols, other.cols]),
            np.concatenate([self.values, other.values]),
            self.shape,
        )

    def __neg__(self) -> Entries:
        return Entries(self.rows, self.cols, -self.values, self.shape)

    def __sub__(self, other: Entries) -> Entries:
        return self + (-other)


class Problem:
    """min cost·x  s.t.  row_lower <= A·x <= row_upper,  lower <= x <= upper.

    Built PyPSA-style by recipe steps that each append a variable block
    (`add_variables`) or a constraint block (`add_constraints`: one sparse matrix per
    variable block it touches). Every column and row may carry a *group* id: rows of one
    group touch only columns of that group, which lets `solve_separable` solve the groups
    (e.g. assets) as independent problems. Group -1 couples everything.
    """

    def __init__(self) -> None:
        self.variables: dict[str, Variables] = {}
        self.constraints: dict[str, tuple[int, int]] = {}
        """Constraint block name -> (first row, number of rows)."""
        self._cols = 0
        self._rows = 0
        self._lower: list[FloatArray] = []
        self._upper: list[FloatArray] = []
        self._cost: list[FloatArray] = []
        self._integer: list[BoolArray] = []
        self._col_group: list[IntArray] = []
        self._entries: list[tuple[IntArray, IntArray, FloatArray]] = []
        self._row_lower: list[FloatArray] = []
        self._row_upper: list[FloatArray] = []
        self._row_group: list[IntArray] = []
        self._matrix: sp.csc_array | None = None

    @property
    def num_cols(self) -> int:
        return self._cols

    @property
    def num_rows(self) -> int:
        return self._rows

    def add_variables(
        self,
        name: str,
        shape: tuple[int, ...],
        *,
        lower: ArrayLike = 0.0,
        upper: ArrayLike = np.inf,
        cost: ArrayLike = 0.0,
        integer: bool = False,
        group: IntArray | int = -1,
    ) -> Variables:
        """Append a block of variables; bounds, cost and group broadcast to ``shape``."""
        if name in self.variables:
            raise ValueError(f"variable block {name!r} already exists")
        block = Variables(name, tuple(int(s) for s in shape), self._cols)
        size = block.size
        self._lower.append(_flat(lower, shape, size))
        self._upper.append(_flat(upper, shape, size))
        self._cost.append(_flat(cost, shape, size))
        self._integer.append(np.full(size, integer))
        self._col_group.append(np.broadcast_to(np.asarray(group, np.int64), shape).ravel().copy())
        self._cols += size
        self.variables[name] = block
        return block

    def add_constraints(
        self,
        name: str,
        terms: Sequence[tuple[Variables, Any]],
        *,
        lower: ArrayLike = -np.inf,
        upper: ArrayLike = np.inf,
        group: IntArray | int = -1,
    ) -> None:
        """Append rows ``lower <= Σ M_b · x_b <= upper``; each M_b is sparse (rows, b.size):
        a scipy.sparse matrix or `Entries`."""
        if name in self.constraints:
            raise ValueError(f"constraint block {name!r} already exists")
        if not terms:
            raise ValueError(f"constraint block {name!r} has no terms")
        n_rows = int(terms[0][1].shape[0])
        for block, matrix in terms:
            if matrix.shape != (n_rows, block.size):
                raise ValueError(
                    f"{name}: matrix {matrix.shape} does not fit {block.name} "
                    f"({n_rows}, {block.size})"
                )
            if isinstance(matrix, Entries):
                entries = matrix
            else:
                coo = sp.coo_array(matrix)
                entries = Entries(coo.row, coo.col, coo.data, (n_rows, block.size))
            self._entries.append(
                (
                    entries.rows.astype(np.int64) + self._rows,
                    entries.cols.astype(np.int64) + block.start,
                    entries.values.astype(np.float64),
                )
            )
        self._row_lower.append(_flat(lower, (n_rows,), n_rows))
        self._row_upper.append(_flat(upper, (n_rows,), n_rows))
        self._row_group.append(np.broadcast_to(np.asarray(group, np.int64), (n_rows,)).copy())
        self.constraints[name] = (self._rows, n_rows)
        self._rows += n_rows
        self._matrix = None

    def set_bounds(
        self, name: str, *, lower: ArrayLike | None = None, upper: ArrayLike | None = None
    ) -> None:
        """Replace the bounds of variable block ``name`` (broadcast to its shape), e.g. to
        re-solve the same problem with tighter offer caps without rebuilding it."""
        block = self.variables[name]
        index = list(self.variables).index(name)
        if lower is not None:
            self._lower[index] = _flat(lower, block.shape, block.size)
        if upper is not None:
            self._upper[index] = _flat(upper, block.shape, block.size)

    def matrix(self) -> sp.csc_array:
        """The constraint matrix A (rows x cols), CSC, duplicates summed. Built once and
        shared between calls: treat it as read-only."""
        if self._matrix is not None and self._matrix.shape == (self._rows, self._cols):
            return self._matrix
        if not self._entries:
            return sp.csc_array((self._rows, self._cols))
        rows = np.concatenate([e[0] for e in self._entries])
        cols = np.concatenate([e[1] for e in self._entries])
        vals = np.concatenate([e[2] for e in self._entries])
        coo = sp.coo_array((vals, (rows, cols)), shape=(self._rows, self._cols))
        self._matrix = sp.csc_array(coo)
        return self._matrix

    def columns(self) -> tuple[FloatArray, FloatArray, FloatArray, BoolArray]:
        """(cost, lower, upper, integer) of every column."""
        return (
            _cat(self._cost),
            _cat(self._lower),
            _cat(self._upper),
            np.concatenate(self._integer) if self._integer else np.zeros(0, bool),
        )

    def row_bounds(self) -> tuple[FloatArray, FloatArray]:
        return _cat(self._row_lower), _cat(self._row_upper)

    def groups(self) -> tuple[IntArray, IntArray]:
        """Group id of every column and of every row."""
        col = np.concatenate(self._col_group) if self._col_group else np.zeros(0, np.int64)
        row = np.concatenate(self._row_group) if self._row_group else np.zeros(0, np.int64)
        return col, row


@dataclass(frozen=True)
class Solution:
    """Values by variable block, the objective (the problem's min cost), and how it went."""

    status: SolveStatus
    objective: float
    """Minimised cost; for `solve_separable` the sum over the groups solved."""
    x: FloatArray
    """Every column's value; NaN where no solution was found."""
    variables: Mapping[str, Variables]
    seconds: float
    mip_gap: float | None = None
    group_status: tuple[SolveStatus, ...] = ()
    """`solve_separable`: the status of each group, in group order."""
    row_duals: FloatArray | None = None
    """LPs solved by `solve`: ∂ objective / ∂ row bound for every row (None otherwise)."""
    constraints: Mapping[str, tuple[int, int]] | None = None

    def value(self, name: str) -> FloatArray:
        block = self.variables[name]
        return self.x[block.start : block.start + block.size].reshape(block.shape)

    def dual(self, name: str) -> FloatArray:
        """Duals of a constraint block: the change of the minimised objective per unit
        increase of the binding bound (e.g. <= 0 for a binding upper bound of a cost)."""
        if self.row_duals is None or self.constraints is None:
            raise ValueError("no duals: only LPs solved by `solve` have them")
        start, count = self.constraints[name]
        return self.row_duals[start : start + count]


def solve(problem: Problem, options: SolverOptions) -> Solution:
    """Solve the whole problem in one HiGHS call (LP or MILP), within the time limit and gap.

    LPs come back with row duals (`Solution.dual`); MILPs with the MIP gap reached.
    """
    started = time.perf_counter()
    cost, lower, upper, integer = problem.columns()
    row_lower, row_upper = problem.row_bounds()
    matrix = problem.matrix()
    presolve = True if options.presolve is None else options.presolve
    args = (cost, lower, upper, integer, matrix, row_lower, row_upper)
    if options.backend == "highspy":
        outcome = _HighsRunner(_import_highspy(), options, presolve).run(*args)
    elif integer.any():
        outcome = _run_scipy(*args, options, presolve)
    else:
        outcome = _run_scipy_lp(*args, options, presolve)
    return Solution(
        outcome.status,
        outcome.objective,
        outcome.x,
        dict(problem.variables),
        time.perf_counter() - started,
        outcome.mip_gap,
        row_duals=outcome.row_duals,
        constraints=dict(problem.constraints),
    )


def solve_separable(
    problem: Problem, options: SolverOptions, *, keys: Sequence[Hashable] | None = None
) -> Solution:
    """Solve each group of a block-diagonal problem on its own (e.g. one LP per asset).

    Groups are numbered 0..G-1 and every row and column must belong to one; a row of one
    group touching a column of another raises ValueError. With highspy, each group is
    warm-started from the basis of the last group of the same dimensions, so order groups
    with the same structure next to each other. ``keys`` (one per group, e.g. asset ids)
    name the groups: a group solved before under the same key and dimensions (in this
    thread or process) starts from its own last basis instead, which after a change of
    costs is a few iterations from the optimum (re-planning an asset at new prices).
    """
    started = time.perf_counter()
    group_of_col, group_of_row = problem.groups()
    if (group_of_col < 0).any() or (group_of_row < 0).any():
        raise ValueError("solve_separable needs a group for every row and column")
    n_groups = int(max(group_of_col.max(initial=-1), group_of_row.max(initial=-1))) + 1
    # A lone LP (one site's reschedule) is not reduced: unreduced, every asset of a kind
    # has the same shape, and it starts from the last basis of that shape (measured p99
    # 12-13.5 ms CPU over 300 assets against 16-20 ms reduced, whose shapes vary by asset)
    lp = _reduce(problem, skip=n_groups == 1)
    col_group, row_group = group_of_col[lp.cols], group_of_row[lp.rows]
    col_order = np.argsort(col_group, kind="stable")
    row_order = np.argsort(row_group, kind="stable")
    col_start = np.searchsorted(col_group[col_order], np.arange(n_groups + 1))
    row_start = np.searchsorted(row_group[row_order], np.arange(n_groups + 1))
    matrix = lp.matrix
    if n_groups > 1:  # one group (a single asset) needs no reordering: ~1 ms saved
        matrix = sp.csc_array(sp.csr_array(matrix)[row_order][:, col_order])
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data

    presolve = False if options.presolve is None else options.presolve
    module = _import_highspy() if options.backend == "highspy" else None
    if options.backend == "auto":
        module = _optional_highspy()
    runner = _cached_runner(module, options, presolve) if module is not None else None

    x_sorted = np.full(lp.cost.size, np.nan)
    statuses: list[SolveStatus] = []
    for g in range(n_groups):
        c0, c1, r0, r1 = col_start[g], col_start[g + 1], row_start[g], row_start[g + 1]
        p0, p1 = indptr[c0], indptr[c1]
        rows = indices[p0:p1]
        if rows.size and (rows.min() < r0 or rows.max() >= r1):
            raise ValueError(f"group {g} is coupled to another group")
        if c0 == c1:  # every column fixed: only rows their values break are left
            statuses.append(SolveStatus.OPTIMAL if r0 == r1 else SolveStatus.INFEASIBLE)
            continue
        # plain CSC arrays: a scipy matrix per group costs ~0.2 ms, a fifth of a small LP
        sub = _Csc(
            (indptr[c0 : c1 + 1] - p0).astype(np.int32),
            (rows - r0).astype(np.int32),
            data[p0:p1],
            (int(r1 - r0), int(c1 - c0)),
        )
        cols, rws = col_order[c0:c1], row_order[r0:r1]
        bounds = (lp.cost[cols], lp.lower[cols], lp.upper[cols], lp.integer[cols])
        if runner is not None:
            name = None if keys is None else keys[g]
            outcome = runner.run(
                *bounds, sub, lp.row_lower[rws], lp.row_upper[rws], duals=False, key=name
            )
        else:
            matrix = sp.csc_array((sub.data, sub.indices, sub.indptr), shape=sub.shape)
            outcome = _run_scipy(
                *bounds, matrix, lp.row_lower[rws], lp.row_upper[rws], options, presolve
            )
        statuses.append(outcome.status)
        if outcome.status.has_solution:
            x_sorted[c0:c1] = outcome.x
    x_all = lp.fixed_x.copy()
    x_all[lp.cols[col_order]] = x_sorted
    solved = np.array([s.has_solution for s in statuses], bool)[group_of_col]
    x_all[~solved] = np.nan
    total = float(np.sum(lp.all_cost * x_all, where=solved))
    return Solution(
        _worst(statuses),
        total,
        x_all,
        dict(problem.variables),
        time.perf_counter() - started,
        None,
        tuple(statuses),
    )


@dataclass(frozen=True)
class _Reduced:
    """A problem without its fixed columns and its empty or single-entry rows (`_reduce`)."""

    cols: IntArray
    """Original index of every column kept."""
    rows: IntArray
    """Original index of every row kept."""
    cost: FloatArray
    lower: FloatArray
    upper: FloatArray
    integer: BoolArray
    matrix: sp.csc_array
    row_lower: FloatArray
    row_upper: FloatArray
    fixed_x: FloatArray
    """Every original column: its value if it was fixed, NaN if it is kept."""
    all_cost: FloatArray
    """Every original column's cost (the objective of a solution of the original)."""


def _reduce(problem: Problem, *, skip: bool = False) -> _Reduced:
    """The light presolve of `solve_separable` (``skip``: the problem as it is).

    HiGHS's own presolve costs more than it saves on LPs this small, yet their fixed
    columns (an offer in a closed interval, a firm deviation of an unplugged EV) and the
    rows they leave with one entry (the power bound of an interval without offers) are a
    third of a bidding LP, and HiGHS's time per solve grows with its size. Fixed columns
    move into the row bounds; a row left with one continuous column becomes that
    column's bounds; a row left empty is dropped unless its bounds exclude 0 (it then
    keeps the group infeasible). One pass, no duals: the reduced problem has the
    original's optimal values and objective."""
    cost, lower, upper, integer = problem.columns()
    row_lower, row_upper = problem.row_bounds()
    matrix = problem.matrix()
    if skip:
        every_col, every_row = np.arange(cost.size), np.arange(row_lower.size)
        unfixed = np.full(cost.size, np.nan)
        return _Reduced(
            every_col, every_row, cost, lower, upper, integer, matrix, row_lower, row_upper,
            unfixed, cost,
        )  # fmt: skip
    fixed = np.isfinite(lower) & (lower == upper)
    fixed_x = np.where(fixed, lower, np.nan)
    shift = matrix @ np.where(fixed, lower, 0.0)
    row_lower, row_upper = row_lower - shift, row_upper - shift
    cols = np.flatnonzero(~fixed)
    kept = sp.csc_array(matrix[:, cols])
    kept.eliminate_zeros()
    lower, upper = lower[cols].copy(), upper[cols].copy()
    count = np.bincount(kept.indices, minlength=kept.shape[0])
    finite_lower = np.where(np.isfinite(row_lower), np.abs(row_lower), 0.0)
    finite_upper = np.where(np.isfinite(row_upper), np.abs(row_upper), 0.0)
    tolerance = 1e-9 * (1.0 + np.maximum(finite_lower, finite_upper))
    feasible = ~((row_lower > tolerance) | (row_upper < -tolerance))
    drop = (count == 0) & feasible
    entry_col = np.repeat(np.arange(cols.size), np.diff(kept.indptr))
    single = count[kept.indices] == 1
    single &= ~integer[cols][entry_col]
    if single.any():
        row, col, a = kept.indices[single], entry_col[single], kept.data[single]
        low = np.where(a > 0, row_lower[row], row_upper[row]) / a
        high = np.where(a > 0, row_upper[row], row_lower[row]) / a
        np.maximum.at(lower, col, np.nan_to_num(low, nan=-np.inf))
        np.minimum.at(upper, col, np.nan_to_num(high, nan=np.inf))
        # bounds crossed by rounding alone (the rows held within HiGHS's tolerance)
        close = (lower > upper) & (lower - upper <= 1e-9 * (1.0 + np.abs(upper)))
        lower[close] = upper[close]
        drop[row] = True
    rows = np.flatnonzero(~drop)
    return _Reduced(
        cols,
        rows,
        cost[cols],
        lower,
        upper,
        integer[cols],
        sp.csc_array(kept[rows]),
        row_lower[rows],
        row_upper[rows],
        fixed_x,
        cost,
    )


_WARM_ITERATIONS = 10_000
"""Simplex iterations a warm `GrowingLp` re-solve may take beyond its row count."""
_NO_LIMIT = 2_147_483_647
"""HiGHS's own default iteration limit (no limit)."""


class GrowingLp:
    """min cost·x s.t. row_lower <= A·x <= row_upper, 0 <= x <= upper, whose columns
    arrive in batches between solves (column generation, e.g. `vpp.optimize.master`).

    With highspy the model stays loaded and each solve starts from the previous optimal
    basis (new columns enter at 0, so it stays primal feasible: a few simplex iterations
    instead of a cold solve, measured 10-50x faster on 10,000-asset masters); without it
    every solve rebuilds the problem for `solve`. Presolve is off: it would discard the
    warm start.

    A warm re-solve can stall: now and then HiGHS's dual simplex wandered through about
    100,000 degenerate pivots (27.6 s) on a 10,000-asset master that it otherwise
    re-solves in 1,000-7,000 (0.1-0.5 s). A re-solve therefore stops after
    ``warm_iteration_limit`` iterations (default: the row count plus `_WARM_ITERATIONS`)
    and the LP is solved again from scratch with presolve, which took
    0.4-1.6 s on the same masters; the next re-solve starts from that basis.
    """

    def __init__(
        self,
        row_lower: FloatArray,
        row_upper: FloatArray,
        options: SolverOptions,
        warm_iteration_limit: int | None = None,
        scaled: bool = False,
    ) -> None:
        """``scaled``: the caller wrote its rows with entries of one order already, so
        HiGHS's own scaling is left off (`vpp.optimize.master`)."""
        self.row_lower = np.asarray(row_lower, np.float64)
        self.row_upper = np.asarray(row_upper, np.float64)
        self.options = options
        self.warm_iteration_limit = (
            warm_iteration_limit
            if warm_iteration_limit is not None
            else self.row_lower.size + _WARM_ITERATIONS
        )
        self.scaled = scaled
        self.cold_restarts = 0  # re-solves that hit the limit and were solved afresh
        self._cost: list[FloatArray] = []
        self._upper: list[FloatArray] = []
        self._matrix: list[sp.csc_array] = []
        module = _optional_highspy() if options.backend != "scipy" else None
        self._highs: Any = None
        if module is not None:
            highs = module.Highs()
            highs.setOptionValue("output_flag", False)
            highs.setOptionValue("time_limit", float(options.time_limit_s))
            highs.setOptionValue("mip_rel_gap", float(options.mip_rel_gap))
            highs.setOptionValue("presolve", "off")
            if scaled:
                highs.setOptionValue("simplex_scale_strategy", 0)
            n = self.row_lower.size
            none_i = np.zeros(0, np.int32)
            highs.addRows(n, self.row_lower, self.row_upper, 0, none_i, none_i, np.zeros(0))
            self._highs, self._module = highs, module

    @property
    def num_cols(self) -> int:
        return int(sum(c.size for c in self._cost))

    def add_columns(self, cost: FloatArray, upper: FloatArray, matrix: sp.csc_array) -> None:
        """Append columns: costs, upper bounds (lower 0) and their (rows x new) matrix."""
        matrix = sp.csc_array(matrix)
        if matrix.shape != (self.row_lower.size, cost.size):
            raise ValueError(f"matrix of shape {matrix.shape} does not fit the rows")
        self._cost.append(np.asarray(cost, np.float64))
        self._upper.append(np.asarray(upper, np.float64))
        self._matrix.append(matrix)
        if self._highs is not None:
            self._highs.addCols(
                cost.size, self._cost[-1], np.zeros(cost.size), self._upper[-1],
                int(matrix.nnz), matrix.indptr[:-1].astype(np.int32),
                matrix.indices.astype(np.int32), np.asarray(matrix.data, np.float64),
            )  # fmt: skip

    def start_from(self, basic_cols: IntArray, rows_at_upper: IntArray) -> None:
        """Start the next solve from this basis: ``basic_cols`` basic, every other column
        at 0, the rows ``rows_at_upper`` at their upper bound and the rest basic. The
        caller vouches that it is a primal feasible basis (as many basic columns as rows
        held at a bound, a non-singular basis matrix); without highspy it is ignored."""
        if self._highs is None:
            return
        statuses = self._module.HighsBasisStatus
        col_status = [statuses.kLower] * self.num_cols
        for j in np.asarray(basic_cols).tolist():
            col_status[j] = statuses.kBasic
        row_status = [statuses.kBasic] * self.row_lower.size
        for r in np.asarray(rows_at_upper).tolist():
            row_status[r] = statuses.kUpper
        basis = self._module.HighsBasis()
        basis.col_status, basis.row_status = col_status, row_status
        basis.valid = True
        self._highs.setBasis(basis)

    def solve(self) -> tuple[SolveStatus, FloatArray, FloatArray, float]:
        """(status, x, row duals as in `Solution.dual`, objective) of the current LP."""
        if self._highs is None:
            problem = Problem()
            x = problem.add_variables(
                "x", (self.num_cols,), upper=_cat(self._upper), cost=_cat(self._cost)
            )
            problem.add_constraints(
                "rows", [(x, sp.hstack(self._matrix, format="csr"))],
                lower=self.row_lower, upper=self.row_upper,
            )  # fmt: skip
            solution = solve(problem, self.options)
            if not solution.status.has_solution:
                return solution.status, solution.x, np.zeros(self.row_lower.size), math.nan
            return solution.status, solution.x, solution.dual("rows"), solution.objective
        highs = self._highs
        statuses = self._module.HighsModelStatus
        highs.setOptionValue("simplex_iteration_limit", int(self.warm_iteration_limit))
        highs.run()
        if highs.getModelStatus() == statuses.kIterationLimit:
            self.cold_restarts += 1
            highs.clearSolver()  # drops the stalled basis
            highs.setOptionValue("simplex_iteration_limit", _NO_LIMIT)
            highs.setOptionValue("presolve", "on")
            highs.run()
            highs.setOptionValue("presolve", "off")
        info = highs.getInfo()
        if highs.getModelStatus() == statuses.kOptimal:
            status = SolveStatus.OPTIMAL
        elif int(info.primal_solution_status) == 2:
            status = SolveStatus.FEASIBLE
        else:
            return (
                SolveStatus.NO_SOLUTION,
                np.full(self.num_cols, np.nan),
                np.zeros(self.row_lower.size),
                math.nan,
            )
        solution = highs.getSolution()
        return (
            status,
            np.asarray(solution.col_value, np.float64),
            np.asarray(solution.row_dual, np.float64),
            float(info.objective_function_value),
        )


# --- backends -----------------------------------------------------------------------------


class _Csc(NamedTuple):
    """A CSC matrix as its plain arrays (int32 indices)."""

    indptr: IntArray32
    indices: IntArray32
    data: FloatArray
    shape: tuple[int, int]


@dataclass(frozen=True)
class _Outcome:
    status: SolveStatus
    x: FloatArray
    objective: float
    mip_gap: float | None = None
    row_duals: FloatArray | None = None


def _failed(status: SolveStatus, n_cols: int) -> _Outcome:
    return _Outcome(status, np.full(n_cols, np.nan), float("nan"))


def _run_scipy(
    cost: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    integer: BoolArray,
    matrix: sp.csc_array,
    row_lower: FloatArray,
    row_upper: FloatArray,
    options: SolverOptions,
    presolve: bool,
) -> _Outcome:
    """`scipy.optimize.milp` (LP or MILP; no duals)."""
    constraints = [LinearConstraint(matrix, row_lower, row_upper)] if matrix.shape[0] > 0 else []
    milp_options: dict[str, Any] = {"time_limit": options.time_limit_s, "presolve": presolve}
    if integer.any():
        milp_options["mip_rel_gap"] = options.mip_rel_gap
    result = milp(
        cost,
        integrality=integer.astype(np.int64),
        bounds=Bounds(lower, upper),
        constraints=constraints,
        options=milp_options,
    )
    if result.x is None:
        return _failed(_scipy_failure(result.status), cost.size)
    status = SolveStatus.OPTIMAL if result.status == 0 else SolveStatus.FEASIBLE
    gap = getattr(result, "mip_gap", None) if integer.any() else None
    return _Outcome(status, np.asarray(result.x, np.float64), float(result.fun), gap)


def _run_scipy_lp(
    cost: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    integer: BoolArray,
    matrix: sp.csc_array,
    row_lower: FloatArray,
    row_upper: FloatArray,
    options: SolverOptions,
    presolve: bool,
) -> _Outcome:
    """`scipy.optimize.linprog` (HiGHS), which also returns the row duals of an LP."""
    del integer
    rows = sp.csr_array(matrix)
    equal = np.isfinite(row_lower) & (row_lower == row_upper)
    upper_rows = np.flatnonzero(~equal & np.isfinite(row_upper))
    lower_rows = np.flatnonzero(~equal & np.isfinite(row_lower))
    equal_rows = np.flatnonzero(equal)
    a_ub = sp.vstack([rows[upper_rows], -rows[lower_rows]], format="csr")
    b_ub = np.concatenate([row_upper[upper_rows], -row_lower[lower_rows]])
    result = linprog(
        cost,
        A_ub=a_ub if b_ub.size else None,
        b_ub=b_ub if b_ub.size else None,
        A_eq=rows[equal_rows] if equal_rows.size else None,
        b_eq=row_lower[equal_rows] if equal_rows.size else None,
        bounds=np.column_stack([lower, upper]),
        method=options.lp_method,
        options={"time_limit": options.time_limit_s, "presolve": presolve},
    )
    if result.x is None:
        return _failed(_scipy_failure(result.status), cost.size)
    duals = np.zeros(matrix.shape[0])
    if b_ub.size:
        marginal = np.asarray(result.ineqlin.marginals, np.float64)
        np.add.at(duals, upper_rows, marginal[: upper_rows.size])
        np.add.at(duals, lower_rows, -marginal[upper_rows.size :])
    if equal_rows.size:
        duals[equal_rows] = np.asarray(result.eqlin.marginals, np.float64)
    status = SolveStatus.OPTIMAL if result.status == 0 else SolveStatus.FEASIBLE
    return _Outcome(status, np.asarray(result.x, np.float64), float(result.fun), None, duals)


def _scipy_failure(code: int) -> SolveStatus:
    return {2: SolveStatus.INFEASIBLE, 3: SolveStatus.UNBOUNDED}.get(code, SolveStatus.NO_SOLUTION)


class _HighsRunner:
    """One highspy instance reused across solves; warm-starts from the last basis that fits.

    LPs are passed as plain arrays (no `HighsLp` object: measured ~0.4 ms less per small
    LP), and the row duals are only read when asked for.
    """

    def __init__(self, module: Any, options: SolverOptions, presolve: bool) -> None:
        self.module = module
        self.highs = module.Highs()
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("time_limit", float(options.time_limit_s))
        self.highs.setOptionValue("mip_rel_gap", float(options.mip_rel_gap))
        self.highs.setOptionValue("presolve", "on" if presolve else "off")
        if not presolve:
            # Small warm-started LPs (`solve_separable`): Devex pricing skips the steepest
            # edge weights' set-up, which costs more than the few iterations a warm start
            # needs (measured ~25 % less time per 96-interval asset LP).
            self.highs.setOptionValue("simplex_dual_edge_weight_strategy", 1)
        self.bases: dict[tuple[int, int, int], Any] = {}
        self.own: dict[tuple[Hashable, tuple[int, int, int]], Any] = {}
        """Last basis of each named group (`solve_separable` keys), by dimensions."""

    def run(
        self,
        cost: FloatArray,
        lower: FloatArray,
        upper: FloatArray,
        integer: BoolArray,
        matrix: sp.csc_array | _Csc,
        row_lower: FloatArray,
        row_upper: FloatArray,
        *,
        duals: bool = True,
        key: Hashable | None = None,
    ) -> _Outcome:
        hs = self.module
        key_name = key
        n_rows, n_cols = matrix.shape
        mip = bool(integer.any())
        start = np.asarray(matrix.indptr, np.int32)
        index = np.asarray(matrix.indices, np.int32)
        value = np.asarray(matrix.data, np.float64)
        if mip:
            lp = hs.HighsLp()
            lp.num_col_, lp.num_row_ = n_cols, n_rows
            lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, lower, upper
            lp.row_lower_, lp.row_upper_ = row_lower, row_upper
            lp.a_matrix_.format_ = hs.MatrixFormat.kColwise
            lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n_cols, n_rows
            lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = start, index, value
            lp.integrality_ = [
                hs.HighsVarType.kInteger if flag else hs.HighsVarType.kContinuous
                for flag in integer
            ]
            self.highs.passModel(lp)
        else:
            self.highs.passModel(
                n_cols, n_rows, int(value.size), 1, 1, 0.0,
                cost, lower, upper, row_lower, row_upper, start, index, value,
                np.zeros(n_cols, np.int32),
            )  # fmt: skip
        key = (n_cols, n_rows, int(value.size))
        own = None if key_name is None else (key_name, key)
        if not mip and own is not None and own in self.own:
            self.highs.setBasis(self.own[own])
        elif not mip and key in self.bases:
            self.highs.setBasis(self.bases[key])
        self.highs.run()
        model_status = self.highs.getModelStatus()
        statuses = hs.HighsModelStatus
        info = self.highs.getInfo()
        has_x = int(info.primal_solution_status) == 2  # kSolutionStatusFeasible
        if model_status == statuses.kOptimal:
            status = SolveStatus.OPTIMAL
        elif has_x:
            status = SolveStatus.FEASIBLE
        elif model_status == statuses.kInfeasible:
            status = SolveStatus.INFEASIBLE
        elif model_status in (statuses.kUnbounded, statuses.kUnboundedOrInfeasible):
            status = SolveStatus.UNBOUNDED
        else:
            status = SolveStatus.NO_SOLUTION
        if not status.has_solution:
            self.bases.pop(key, None)
            return _failed(status, n_cols)
        solution = self.highs.getSolution()
        x = np.asarray(solution.col_value, np.float64)
        objective = float(info.objective_function_value)
        if mip:
            return _Outcome(status, x, objective, float(info.mip_gap))
        basis = self.highs.getBasis()
        self.bases[key] = basis
        if own is not None:
            if len(self.own) >= _OWN_BASES:
                self.own.clear()  # bounded memory: a basis is ~1 kB per 96-interval asset
            self.own[own] = basis
        row_duals = np.asarray(solution.row_dual, np.float64) if duals else None
        return _Outcome(status, x, objective, None, row_duals)


_LOCAL = threading.local()
_OWN_BASES = 20_000


def forget_solvers() -> None:
    """Start afresh in a forked worker process: HiGHS's thread scheduler is reset (its
    threads do not survive a fork) and this thread's kept highspy instances and bases
    (`_cached_runner`) are dropped. Not for a process whose other threads use HiGHS."""
    module = _optional_highspy()
    if module is not None:
        module.Highs.resetGlobalScheduler(True)
    _LOCAL.runners = {}


def _cached_runner(module: Any, options: SolverOptions, presolve: bool) -> _HighsRunner:
    """This thread's runner for these options, kept between calls.

    Reusing it keeps the last basis of every LP shape, so the next call with a problem
    of the same shape (the same kind of asset re-planned, a single-site reschedule)
    starts warm: measured ~3 ms cold and ~1 ms warm for a 96-interval battery. Only the
    warm start carries over; every solve is still defined by its own data and options.
    """
    cache: dict[tuple[float, float, bool], _HighsRunner] | None = getattr(_LOCAL, "runners", None)
    if cache is None:
        cache = {}
        _LOCAL.runners = cache
    key = (float(options.time_limit_s), float(options.mip_rel_gap), presolve)
    runner = cache.get(key)
    if runner is None or runner.module is not module:
        if len(cache) >= 8:
            cache.clear()
        runner = cache[key] = _HighsRunner(module, options, presolve)
    return runner


def _import_highspy() -> Any:
    module = _optional_highspy()
    if module is None:
        raise ImportError("SolverOptions(backend='highspy') needs the highspy package")
    return module


def _optional_highspy() -> Any | None:
    try:
        return importlib.import_module("highspy")
    except ImportError:
        return None


# --- helpers ------------------------------------------------------------------------------


_SEVERITY = {
    SolveStatus.OPTIMAL: 0,
    SolveStatus.FEASIBLE: 1,
    SolveStatus.NO_SOLUTION: 2,
    SolveStatus.UNBOUNDED: 3,
    SolveStatus.INFEASIBLE: 4,
}


def _worst(statuses: Sequence[SolveStatus]) -> SolveStatus:
    return max(statuses, key=_SEVERITY.__getitem__, default=SolveStatus.OPTIMAL)


def _flat(value: ArrayLike, shape: tuple[int, ...], size: int) -> FloatArray:
    out = np.broadcast_to(np.asarray(value, np.float64), shape).reshape(size)
    return np.array(out, np.float64)


def _cat(parts: list[FloatArray]) -> FloatArray:
    return np.concatenate(parts) if parts else np.zeros(0)
