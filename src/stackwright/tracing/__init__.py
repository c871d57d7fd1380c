"""Observability and tracing: OTLP ingest, the span store, trace queries, scores, retention."""
