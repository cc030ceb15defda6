"""Dispatch: setpoint commands, their guaranteed delivery through adapters, and tracking."""
