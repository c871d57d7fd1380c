"""The model gateway: one OpenAI-compatible endpoint in front of every provider, with routing,
fallbacks, retries, caching, budgets, rate limits and exact cost, every call traced."""
