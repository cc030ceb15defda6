"""Bids: drafts from the optimiser, operator approval, submission, awards, participation."""
