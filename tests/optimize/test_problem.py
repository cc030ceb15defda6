"""The sparse problem object and solve(): tiny LPs and MILPs with exact optima."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import scipy.sparse as sp

from vpp.optimize.problem import Problem, SolverOptions, SolveStatus, solve, solve_separable


def _two_variable_lp() -> Problem:
    # min -x - 2y  s.t.  x + y <= 4,  x + 3y <= 6,  0 <= x, y
    problem = Problem()
    xy = problem.add_variables("xy", (2,), cost=np.array([-1.0, -2.0]))
    problem.add_constraints("caps", [(xy, sp.csr_array([[1.0, 1.0], [1.0, 3.0]]))], upper=[4, 6])
    return problem


def test_lp_optimum_and_duals() -> None:
    solution = solve(_two_variable_lp(), SolverOptions())
    assert solution.status == SolveStatus.OPTIMAL
    assert solution.objective == pytest.approx(-5.0)
    assert solution.value("xy") == pytest.approx([3.0, 1.0])
    # d objective / d rhs: both rows bind; duals -0.5 and -0.5
    assert solution.dual("caps") == pytest.approx([-0.5, -0.5])


def test_milp_respects_integrality() -> None:
    problem = Problem()
    x = problem.add_variables("x", (2,), upper=10, cost=np.array([-1.0, -1.0]), integer=True)
    problem.add_constraints("sum", [(x, sp.csr_array([[2.0, 2.0]]))], upper=5.0)
    solution = solve(problem, SolverOptions())
    assert solution.objective == pytest.approx(-2.0)
    assert np.allclose(solution.value("x"), np.round(solution.value("x")))


def test_infeasible_is_reported() -> None:
    problem = Problem()
    x = problem.add_variables("x", (1,), upper=1.0)
    problem.add_constraints("too_much", [(x, sp.csr_array([[1.0]]))], lower=2.0)
    solution = solve(problem, SolverOptions())
    assert solution.status == SolveStatus.INFEASIBLE
    assert not solution.status.has_solution


def _separable(n: int) -> Problem:
    # group g: min -(g+1)·x_g  s.t.  x_g <= g + 1  -> optimum -(g+1)^2
    problem = Problem()
    x = problem.add_variables("x", (n,), cost=-(np.arange(n) + 1.0), group=np.arange(n))
    problem.add_constraints(
        "cap", [(x, sp.eye_array(n))], upper=np.arange(n) + 1.0, group=np.arange(n)
    )
    return problem


def test_separable_equals_whole() -> None:
    whole = solve(_separable(4), SolverOptions())
    parts = solve_separable(_separable(4), SolverOptions(backend="scipy"))
    assert parts.objective == pytest.approx(whole.objective) == pytest.approx(-30.0)
    assert parts.value("x") == pytest.approx([1, 2, 3, 4])
    assert parts.group_status == (SolveStatus.OPTIMAL,) * 4


def test_separable_rejects_coupled_groups() -> None:
    problem = Problem()
    x = problem.add_variables("x", (2,), cost=-1.0, group=np.arange(2))
    problem.add_constraints("both", [(x, sp.csr_array([[1.0, 1.0]]))], upper=1.0, group=0)
    with pytest.raises(ValueError, match="coupled"):
        solve_separable(problem, SolverOptions(backend="scipy"))


def test_block_shapes_are_checked() -> None:
    problem = Problem()
    x = problem.add_variables("x", (3,))
    with pytest.raises(ValueError, match="does not fit"):
        problem.add_constraints("bad", [(x, sp.csr_array(np.ones((1, 2))))])


@pytest.mark.skipif(importlib.util.find_spec("highspy") is None, reason="highspy not installed")
def test_highspy_backend_matches_scipy() -> None:
    options = SolverOptions(backend="highspy")
    assert solve_separable(_separable(5), options).objective == pytest.approx(-55.0)
    solution = solve(_two_variable_lp(), options)
    assert solution.objective == pytest.approx(-5.0)
    assert solution.dual("caps") == pytest.approx([-0.5, -0.5])


def _random_separable(rng: np.random.Generator, groups: int) -> Problem:
    """Groups of 6 columns and 5 rows: some columns fixed, some rows with one entry."""
    problem = Problem()
    cols, rows = 6, 5
    fixed = rng.random((groups, cols)) < 0.3
    value = rng.uniform(-1, 1, (groups, cols))
    x = problem.add_variables(
        "x",
        (groups, cols),
        lower=np.where(fixed, value, -2.0),
        upper=np.where(fixed, value, 2.0),
        cost=rng.normal(size=(groups, cols)),
        group=np.arange(groups)[:, None],
    )
    blocks = []
    for _ in range(groups):
        block = rng.normal(size=(rows, cols)) * (rng.random((rows, cols)) < 0.4)
        block[0] = 0.0
        block[0, rng.integers(cols)] = rng.choice([-2.0, 3.0])  # a single-entry row
        blocks.append(block)
    problem.add_constraints(
        "rows",
        [(x, sp.block_diag(blocks, format="csr"))],
        lower=-3.0,
        upper=3.0,
        group=np.repeat(np.arange(groups), rows),
    )
    return problem


@pytest.mark.parametrize("backend", ["scipy", "highspy"])
def test_separable_reduction_keeps_the_optimum(backend: str) -> None:
    # fixed columns and single-entry rows are taken out before HiGHS sees a group; the
    # optimum (values of fixed columns included) must be the whole problem's
    rng = np.random.default_rng(5)
    for _ in range(5):
        problem = _random_separable(rng, groups=4)
        whole = solve(problem, SolverOptions())
        parts = solve_separable(problem, SolverOptions(backend=backend))  # type: ignore[arg-type]
        assert parts.status == whole.status == SolveStatus.OPTIMAL
        assert parts.objective == pytest.approx(whole.objective, abs=1e-7)
        cost, lower, upper, _ = problem.columns()
        x = parts.value("x").ravel()
        assert cost @ x == pytest.approx(whole.objective, abs=1e-7)
        assert (x >= lower - 1e-9).all() and (x <= upper + 1e-9).all()
        row_lower, row_upper = problem.row_bounds()
        activity = problem.matrix() @ x
        assert (activity >= row_lower - 1e-7).all() and (activity <= row_upper + 1e-7).all()


@pytest.mark.parametrize("backend", ["scipy", "highspy"])
def test_separable_fixed_columns_and_infeasible_groups(backend: str) -> None:
    # group 0: everything fixed (x0 = 2, y0 = 0, cost 3); group 1: fixed x1 = 1 makes its
    # only row (x1 + y1 <= 0 with y1 >= 0) infeasible; group 2: y2 <= 4 by a -2·y2 >= -8
    # row; group 3: everything fixed (x3 = 1, y3 = 0) and its row x3 <= 0 broken
    problem = Problem()
    x = problem.add_variables(
        "x",
        (4,),
        lower=[2.0, 1.0, 0.0, 1.0],
        upper=[2.0, 1.0, 0.0, 1.0],
        cost=3.0,
        group=np.arange(4),
    )
    y = problem.add_variables(
        "y", (4,), upper=[0.0, np.inf, np.inf, 0.0], cost=[0.0, 0.0, -1.0, 0.0], group=np.arange(4)
    )
    problem.add_constraints(
        "sum",
        [
            (x, sp.csr_array([[0, 1.0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1.0]])),
            (y, sp.csr_array([[0, 1.0, 0, 0], [0, 0, -2.0, 0], [0, 0, 0, 0]])),
        ],
        lower=[-np.inf, -8.0, -np.inf],
        upper=[0.0, np.inf, 0.0],
        group=np.array([1, 2, 3]),
    )
    solution = solve_separable(problem, SolverOptions(backend=backend))  # type: ignore[arg-type]
    assert solution.group_status == (
        SolveStatus.OPTIMAL,
        SolveStatus.INFEASIBLE,
        SolveStatus.OPTIMAL,
        SolveStatus.INFEASIBLE,
    )
    assert solution.status == SolveStatus.INFEASIBLE
    assert solution.value("x")[[0, 2]] == pytest.approx([2.0, 0.0])
    assert solution.value("y")[[0, 2]] == pytest.approx([0.0, 4.0])
    assert np.isnan(solution.value("x")[[1, 3]]).all()
    assert np.isnan(solution.value("y")[[1, 3]]).all()
    assert solution.objective == pytest.approx(3.0 * 2.0 - 4.0)  # solved groups only
