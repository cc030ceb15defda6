"""Enrollment: enterprises' sites and flexible assets, and the operator's pool view."""
