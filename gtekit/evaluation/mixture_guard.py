"""The evaluation guard of a data build, and ``gtekit data build MIXTURE`` with the guard its mixture asks for.

A mixture's ``evaluation_guard`` names tasks or suites; a pair whose query or positive repeats a text that
one of those tasks scores on (compared through ``guard.text_hash``) never enters the training shards. The
build itself (``gtekit.data.mixture_build``) takes the guard as an ``EvaluationGuard`` and knows nothing
of tasks: :func:`mixture_guard` makes one from the names, and :func:`build_mixture_file` runs the
``DataBuildSettings`` of ``gtekit data build`` and of a pipeline's data stage.

Depends on ``guard`` (the tasks' texts and their hashes) and on ``gtekit.data``'s mixture loader and build.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from ..data.mixture import load_mixture
from ..data.mixture_build import DataBuildSettings, EvaluationGuard, build_mixture
from . import guard


def mixture_guard(names: Iterable[str]) -> EvaluationGuard:
    """The guard of the tasks or suites ``names``: their task names and the hashes of every text they score on."""
    tasks = guard.expand_task_names(list(names))
    hashes = frozenset(int(h) for task in tasks for h in guard.protected_hashes(task))
    return EvaluationGuard(tuple(tasks), hashes, guard.text_hash)


def build_mixture_file(settings: DataBuildSettings, log: Callable[[str], None] | None = None) -> dict:
    """``gtekit data build MIXTURE -o OUTPUT``: load the mixture YAML, set its rows per shard if the settings give
    one, build it into ``settings.output_dir`` with its evaluation guard (``build_mixture``); return the manifest."""
    if not settings.output_dir:
        raise ValueError("output_dir is required: the folder to build the mixture into")
    spec = load_mixture(settings.mixture)
    if settings.rows_per_shard is not None:
        spec = dataclasses.replace(spec, rows_per_shard=settings.rows_per_shard)
    return build_mixture(spec, settings.output_dir, guard=mixture_guard(spec.evaluation_guard),
                         mixture_file=str(settings.mixture), log=log)
