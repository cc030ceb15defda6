"""The simulated market operator: forecasts, competitors, clearing, and its HTTP face."""
