"""Named evaluation tasks and suites.

``get_tasks(["STSBenchmark"], split="test")`` -> task objects (``split``: ``test`` or ``dev``, see
``offline_suite``); ``SUITES["offline"]`` names the offline suite:
real, human-labelled data shipped in PyPI packages (fetched by name, cached). Task names follow
mteb where the data is the same. The tasks of the offline suite are built in ``offline_suite``; this
module names them with STS-B and the held-out standard-library code search.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .offline_suite import OFFLINE_TASKS, check_eval_split, held_out_stdlib_split, stsb_split
from .sts import STSB_LICENSE, STSB_PACKAGE
from .task_types import CodeSearchData, CodeSearchTask, SentencePairs, STSTask, Task, TaskInfo


def stsbenchmark(split: str = "test") -> Task:
    check_eval_split(split)

    def load() -> SentencePairs:
        data = stsb_split(split)
        return SentencePairs(data.sentences1, data.sentences2, np.asarray(data.scores))

    size = "1,379 sentence pairs" if split == "test" else "1,500 sentence pairs less those sharing a test sentence"
    return STSTask(TaskInfo(
        name="STSBenchmark", type="STS", description=f"STS Benchmark {split}: {size}, rated 0-5",
        source="{}=={}: data/sts_b/sts-{}.csv".format(*STSB_PACKAGE, split), license=STSB_LICENSE, split=split), load)


def stdlib_code_search(split: str = "test") -> Task:
    def load() -> CodeSearchData:
        held_out = held_out_stdlib_split(split)
        return CodeSearchData([p.docstring for p in held_out], [p.code for p in held_out])

    check_eval_split(split)
    return CodeSearchTask(TaskInfo(
        name="PythonStdlibCodeSearch", type="CodeSearch",
        description=f"docstring -> function over the {split} part of the held-out standard-library modules "
                    "(never trained on)",
        source="Python standard library (ast), held-out top-level modules", license="PSF-2.0",
        split=f"held-out modules, {split}"), load)


TASKS: dict[str, Callable[[str], Task]] = {
    "STSBenchmark": stsbenchmark,
    **OFFLINE_TASKS,
    "PythonStdlibCodeSearch": stdlib_code_search,
}
EXTRA_TASKS = ("DisasterTweetsClassification",)  # available by name, left out of the suite to keep it fast
SUITES: dict[str, list[str]] = {
    "offline": [name for name in TASKS if name not in EXTRA_TASKS],
}


def get_tasks(names: Sequence[str], split: str = "test") -> list[Task]:
    """Task objects for ``names`` on ``split`` (test or dev); an unknown name lists the valid ones."""
    unknown = [name for name in names if name not in TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; valid: {', '.join(TASKS)}")
    check_eval_split(split)
    return [TASKS[name](split) for name in names]


def get_suite(name: str, split: str = "test") -> list[Task]:
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; valid: {', '.join(SUITES)}")
    return get_tasks(SUITES[name], split)
