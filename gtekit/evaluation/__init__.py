"""Evaluation: tasks, the metrics that score embeddings, and running tasks on models.

- ``metrics/``: scores with no model knowledge (ids, labels, scores and numpy embeddings in, numbers out);
- ``tasks/``: task types, their data (PyPI packages, BEIR folders, task files), named tasks and suites;
- ``runner`` runs tasks on one model through the ``embedding_cache``; ``comparison`` is the eval stage
  (``evaluate_models(EvalSettings)``, called by ``gtekit eval`` and a pipeline's eval stage);
  ``results_report`` writes results JSON, Markdown tables and charts; ``mteb_adapter`` wraps an
  ``Embedder`` for mteb;
- the evaluation guard: ``guard`` (texts a task scores on, kept out of training) and ``mixture_guard``
  (the guard of a data build).

Nothing here imports training.
"""
