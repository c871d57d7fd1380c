"""Guardrails: checks on model input and output (PII, secrets, injection, topics, schemas) with actions."""
