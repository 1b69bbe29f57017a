"""Evaluation: retrieval metrics and exact search over embeddings, with no model knowledge.

Modules here take ids, scores and embedding arrays; encoding texts is the embedder's job.
"""
