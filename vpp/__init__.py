"""vpp: a virtual power plant and load aggregator for zero-carbon industrial parks."""

__version__ = "0.1.0"
