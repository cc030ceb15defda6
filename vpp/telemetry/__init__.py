"""Telemetry: batched ingest of asset readings and queries over time."""
