"""Prompt registry: versioned templates, labels per environment, rendering, diffs, includes."""
