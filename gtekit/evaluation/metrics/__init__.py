"""Metrics with no model knowledge: each function takes ids, labels, scores or numpy embeddings, never a model.

``retrieval`` (run files as trec_eval scores them, exact top-k through ``gtekit.search.topk``),
``classification`` (mteb's logistic-regression probe, k-NN), ``clustering`` (V-measure of mini-batch
k-means), ``pair_classification``, ``reranking``, ``summarization`` and ``zero_shot``.

Imports numpy, scipy, scikit-learn and ``gtekit.search`` only; the import contract
``evaluation-metrics`` in pyproject.toml keeps torch, transformers and ``gtekit.model`` out.
"""
