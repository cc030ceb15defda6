"""Cross-cutting infrastructure: database sessions, auth, errors, idempotency, metrics."""
