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
