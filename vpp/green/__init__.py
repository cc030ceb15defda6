"""Green power and carbon: the park's energy-carbon ledger (pure core in ``vpp.green.core``)."""
