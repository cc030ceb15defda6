"""The grid company's interface: signed intraday instructions, published schedules, webhook."""
