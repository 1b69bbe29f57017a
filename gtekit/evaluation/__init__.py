"""Evaluation: tasks, their data, the metrics that score embeddings, and running tasks on a model.

- metrics, with no model knowledge: ``retrieval_metrics`` (run files and exact top-k search),
  ``classification``, ``clustering``, ``pair_classification``, ``reranking``, ``summarization``,
  ``zero_shot`` and ``results_report`` take ids, scores and numpy embeddings, never a model;
- tasks: ``task_types`` (a task sees only an ``encode(texts, kind)`` function, never the model),
  the offline data loaders (``offline_data``, ``offline_code_data``, ``sts``), the named tasks and
  suites (``offline_suite``, ``tasks``), tasks from files (``task_files``, ``beir``);
- running them on a model: ``runner`` and ``embedding_cache``; ``sts``, ``code_search`` and ``beir``
  also embed texts with a model they are given, and ``mteb_adapter`` wraps an ``Embedder`` for mteb;
- comparing models: ``comparison`` runs the models of an ``EvalSettings`` (``settings``) on its tasks and
  writes the results it asks for (``gtekit eval`` and a pipeline's eval stage);
- the evaluation guard: ``guard`` (texts a task scores on, kept out of training) and ``mixture_guard``
  (the guard of a data build).

Nothing here imports training.
"""
