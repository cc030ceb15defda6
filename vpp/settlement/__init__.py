"""Settlement: measurement and verification, scoring, revenue sharing and sealed evidence.

The pure core (`measurement`, `sharing`, `core`, `ledger`) imports only `vpp.domain` and
`vpp.forecast` plus numpy/pandas; `service`, `repository`, `api` and `jobs` wrap it with
the database, the HTTP API and the scheduler.
"""
