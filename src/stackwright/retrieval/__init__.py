"""Context and retrieval: collections, ingestion, chunking, embeddings, vector + keyword search, context assembly."""
