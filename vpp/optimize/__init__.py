"""Pure LP/MILP recipes for the pool: bidding (robust offers, ladders) and disaggregation."""
