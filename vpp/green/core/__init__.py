"""Pure green-power and carbon arithmetic: carriers, certificates, matching, the ledger.

Imports only ``vpp.domain``, numpy and pandas (checked by tests/unit/test_layers.py).
"""
