"""Budgets and rate limits of API keys and models: the enforcer, its shared counters, their API and CLI."""
