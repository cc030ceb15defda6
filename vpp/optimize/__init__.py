"""Pure LP/MILP recipes for the pool: bidding (robust offers, ladders) and disaggregation."""

from vpp.optimize.bidding import (
    BidInputs,
    BidPlan,
    ProductInput,
    build_bids,
    decomposition_gap,
    plan_value,
    reservation_prices,
)
from vpp.optimize.disaggregation import SetpointPlan, plan_setpoints
from vpp.optimize.fleet import Fleet
from vpp.optimize.ladder import Ladder, build_ladder
from vpp.optimize.problem import Problem, Solution, SolverOptions, SolveStatus, solve

__all__ = [
    "BidInputs",
    "BidPlan",
    "Fleet",
    "Ladder",
    "Problem",
    "ProductInput",
    "SetpointPlan",
    "Solution",
    "SolveStatus",
    "SolverOptions",
    "build_bids",
    "build_ladder",
    "decomposition_gap",
    "plan_setpoints",
    "plan_value",
    "reservation_prices",
    "solve",
]
