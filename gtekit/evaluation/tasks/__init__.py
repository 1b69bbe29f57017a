"""Evaluation tasks: what each task type scores, where its data comes from, and the named tasks and suites.

``task_types`` (a task sees only an ``encode(texts, kind)`` function, never the model, and scores the
embeddings with ``gtekit.evaluation.metrics``); data read out of PyPI packages (``offline_data``,
``offline_code_data``, ``sts``); the named tasks and suites (``named_tasks``, ``offline_suite``); tasks
from local files (``task_files``, ``beir``). ``sts``, ``code_search`` and ``beir`` also embed texts with
a model they are given.
"""
