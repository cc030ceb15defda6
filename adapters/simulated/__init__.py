"""The simulated park: device physics for every asset kind behind the adapter port."""

from adapters.simulated.adapter import SimulatedAdapter, SimulatedSettings

__all__ = ["SimulatedAdapter", "SimulatedSettings"]
