"""Asset adapters: the protocols that reach enterprises' devices (one package each)."""
