"""Named evaluation tasks and suites.

``get_tasks(["STSBenchmark"])`` -> task objects; ``SUITES["offline"]`` names the offline suite:
real, human-labelled data shipped in PyPI packages (fetched by name, cached). Task names follow
mteb where the data is the same. The tasks of the offline suite are built in ``offline_suite``; this
module names them with STS-B and the held-out standard-library code search.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .offline_suite import OFFLINE_TASKS, held_out_stdlib_pairs
from .sts import STSB_LICENSE, STSB_PACKAGE, load_stsb
from .task_types import CodeSearchData, CodeSearchTask, SentencePairs, STSTask, Task, TaskInfo


def _stsb_pairs() -> SentencePairs:
    data = load_stsb("test")
    return SentencePairs(data.sentences1, data.sentences2, np.asarray(data.scores))


def stsbenchmark() -> Task:
    return STSTask(TaskInfo(
        name="STSBenchmark", type="STS", description="STS Benchmark test: 1,379 sentence pairs rated 0-5",
        source="{}=={}: data/sts_b/sts-test.csv".format(*STSB_PACKAGE), license=STSB_LICENSE), _stsb_pairs)


def stdlib_code_search() -> Task:
    def load() -> CodeSearchData:
        held_out = held_out_stdlib_pairs()
        return CodeSearchData([p.docstring for p in held_out], [p.code for p in held_out])

    return CodeSearchTask(TaskInfo(
        name="PythonStdlibCodeSearch", type="CodeSearch",
        description="docstring -> function over held-out standard-library modules (never trained on)",
        source="Python standard library (ast), held-out top-level modules", license="PSF-2.0",
        split="held-out modules"), load)


TASKS: dict[str, Callable[[], Task]] = {
    "STSBenchmark": stsbenchmark,
    **OFFLINE_TASKS,
    "PythonStdlibCodeSearch": stdlib_code_search,
}
EXTRA_TASKS = ("DisasterTweetsClassification",)  # available by name, left out of the suite to keep it fast
SUITES: dict[str, list[str]] = {
    "offline": [name for name in TASKS if name not in EXTRA_TASKS],
}


def get_tasks(names: Sequence[str]) -> list[Task]:
    """Task objects for ``names``; an unknown name lists the valid ones."""
    unknown = [name for name in names if name not in TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; valid: {', '.join(TASKS)}")
    return [TASKS[name]() for name in names]


def get_suite(name: str) -> list[Task]:
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; valid: {', '.join(SUITES)}")
    return get_tasks(SUITES[name])
