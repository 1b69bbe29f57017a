"""The settings of an evaluation (``gtekit eval``, and an eval stage of ``gtekit run``): which models, on which
tasks, and which files the results go to. ``gtekit.config.from_dict`` builds them from a pipeline file; the
command line builds them from its options.

The results JSON comes in one of two layouts (:class:`ResultsLayout`): always a list with each model's label
and the model it loaded (what an eval stage writes), or, for a single model, that model's result alone
(what ``gtekit eval -o`` writes).

The settings of a merge stage (:class:`MergeSelectionSettings`, run by ``merge_selection``) live here too, so that
reading a pipeline file imports no model code. Depends on ``gtekit.config``'s checks only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ..config import ConfigError, parse_choice


class EvalSplit(StrEnum):
    """Which split of named tasks and suites is scored."""

    TEST = "test"  # published tables
    DEV = "dev"  # every choice a recipe or a user makes (disjoint from test)


class ResultsLayout(StrEnum):
    """The shape of the results JSON."""

    LABELLED_LIST = "labelled_list"  # a list of {"model": label, "path": model, "tasks": {...}}, one per model
    OBJECT_FOR_ONE = "object_for_one"  # one model: {"model", "tasks"}; several: a list of them


@dataclass
class EvalModel:
    """One model to evaluate: one column of the comparison table."""

    model: str = ""  # a model folder, bundled or hub name (in a pipeline, or {from: TRAIN_STAGE})
    label: str = ""  # its column's name; default: the model (in a pipeline, the stage a reference names)

    def __post_init__(self) -> None:
        self.label = self.label or self.model


@dataclass
class EvalSettings:
    """Models to compare on the same tasks, and where the results go."""

    models: list[EvalModel] = field(default_factory=list)  # items: NAME, {from: STAGE} or {label, model}
    tasks: list[str] = field(default_factory=list)  # named tasks, e.g. [STSBenchmark]
    suite: str | None = None  # a named suite, e.g. offline
    split: EvalSplit = EvalSplit.TEST  # of named tasks and suites: test (published tables) or dev (choices)
    task_files: list[str] = field(default_factory=list)  # local YAML/JSON task definitions
    beir: list[str] = field(default_factory=list)  # BEIR folders, as retrieval tasks
    beir_split: str = "test"
    batch_size: int = 64
    use_cache: bool = True  # the embedding cache (~/.cache/gtekit/embeddings)
    dims: list[int] = field(default_factory=list)  # score each model's embeddings truncated to each of these
    # sizes and re-normalised (Matryoshka prefixes), one column LABEL@DIM each; []: the full embeddings
    output_dir: str | None = None  # a pipeline stage's folder (default: output_dir/<stage name>)
    results_json: str | None = None  # the results, as ``results_layout`` says (a stage: output_dir/results.json)
    results_layout: ResultsLayout = ResultsLayout.LABELLED_LIST
    markdown: str | None = None  # the comparison table (a stage: output_dir/results.md)
    plot: str | None = None  # a PNG bar chart of the main scores
    resamples: int = 1000  # paired bootstrap resamples for each model's change to the first (0: none)
    bootstrap_seed: int = 0

    def __post_init__(self) -> None:
        self.results_layout = parse_choice("results_layout", self.results_layout, ResultsLayout)
        if not (self.tasks or self.suite or self.task_files or self.beir):
            raise ConfigError("nothing to evaluate: give tasks, suite, task_files or beir")
        self.split = parse_choice("split", self.split, EvalSplit)
        if self.resamples < 0:
            raise ConfigError(f"resamples must be 0 (no intervals) or positive, got {self.resamples}")
        if any(not isinstance(dim, int) or isinstance(dim, bool) or dim < 1 for dim in self.dims) \
                or len(set(self.dims)) != len(self.dims):
            raise ConfigError(f"dims must be distinct whole numbers >= 1 (embedding sizes), got {self.dims}")


DEFAULT_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass
class MergeSelectionSettings:
    """A merge stage: θ(λ) = (1 − λ)·θ_start + λ·θ_trained, λ chosen among ``weights`` on dev."""

    start: str = ""  # the model training began from (a name, folder, or in a pipeline {from: STAGE})
    trained: str = ""  # the trained model (in a pipeline, {from: TRAIN_STAGE})
    weights: list[float] = field(default_factory=lambda: list(DEFAULT_WEIGHTS))  # candidate λ, each in [0, 1]
    tasks: list[str] = field(default_factory=list)  # named tasks scored on their dev split
    suite: str | None = None  # or a named suite
    batch_size: int = 64
    use_cache: bool = True
    output_dir: str | None = None  # a pipeline stage's folder (default: output_dir/<stage name>)

    def __post_init__(self) -> None:
        if not self.weights or any(not 0.0 <= w <= 1.0 for w in self.weights):
            raise ConfigError(f"weights must be a non-empty list of numbers in [0, 1], got {self.weights}")
        if not (self.tasks or self.suite):
            raise ConfigError("nothing to choose λ on: give tasks or suite (scored on their dev split)")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be positive, got {self.batch_size}")
