"""Trace administration: stats, scores, privacy deletes and retention, with their API and CLI."""
