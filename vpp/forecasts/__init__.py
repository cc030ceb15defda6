"""Forecasts and flexibility over HTTP: serves the pure ``vpp.forecast`` core per asset and pool."""
