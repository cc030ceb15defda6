"""Accounts and API keys: who may call the service, as which role."""
