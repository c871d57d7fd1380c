"""Evaluations: specs, scorers, resumable runs, comparisons, CI gates, online evaluation."""
