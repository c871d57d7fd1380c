"""Searching a collection: the service, the API (search and context assembly), the CLI and the retrieval spans."""
