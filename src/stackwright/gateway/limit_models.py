"""Tables of the gateway's budgets and rate limits (owned by gateway/limits.py)."""
