"""Retrieval evaluation: labelled queries through search, scored; the service, the API and the CLI."""
