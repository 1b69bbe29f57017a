"""The settings of a data stage, a mine stage and an eval stage of a multi-stage recipe (``recipe``), as dataclasses
that ``gtekit.config.from_dict`` checks key by key. A train stage's settings are a ``gtekit.config.Recipe``.

Depends on ``gtekit.negatives``' option types (for the defaults and choices of ``gtekit mine``) and
``gtekit.config``'s checks only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import check_choice, check_device
from ..negatives.candidate_search import IndexKind, SearchSettings
from ..negatives.encode_store import DEFAULT_CHUNK_SIZE
from ..negatives.select import Sampling, SelectionRules


@dataclass
class DataSettings:
    """A data stage: ``gtekit data build MIXTURE -o OUTPUT`` (see ``gtekit data build --help``)."""

    mixture: str = ""  # required: a mixture YAML (recipes/data/offline-mix.yaml is one)
    rows_per_shard: int | None = None  # default: the mixture's rows_per_shard
    output_dir: str | None = None  # default: output_dir/<stage name>


@dataclass
class MineSettings:
    """A mine stage: ``gtekit mine`` options (see ``gtekit mine --help``) under their long names."""

    model: str = ""  # required: a model name or {from: TRAIN_STAGE}
    pairs: list[str] = field(default_factory=list)  # required: pair files or folders, {from: MINE_STAGE | DATA_STAGE}
    corpus: str | None = None  # candidate documents besides the positives (.txt or .jsonl)
    corpus_field: str = "text"
    skip_invalid: bool = False
    top_k: int = SearchSettings.k
    index: str = SearchSettings.index.value  # an IndexKind: auto | flat | ivf | hnsw
    nprobe: int = SearchSettings.nprobe
    ef_search: int = SearchSettings.ef_search
    num_negatives: int = SelectionRules.num_negatives
    range_min: int = 0
    range_max: int | None = None
    relative_margin: float | None = SelectionRules.relative_margin  # null turns it off
    absolute_margin: float | None = None
    max_score: float | None = None
    min_score: float | None = None
    sampling: str = SelectionRules.sampling.value  # a Sampling: top | random
    seed: int = 0
    keep_short: bool = False
    batch_size: int = 64
    chunk_size: int = DEFAULT_CHUNK_SIZE
    bf16: bool = False
    device: str = "auto"  # a DeviceKind: auto | cpu | cuda, or cuda:N
    samples: int = 5
    with_scores: bool = False
    output_dir: str | None = None  # default: output_dir/<stage name>

    def __post_init__(self) -> None:
        check_choice("index", self.index, IndexKind)
        check_choice("sampling", self.sampling, Sampling)
        check_device("device", self.device)

    def rules(self) -> SelectionRules:
        return SelectionRules(num_negatives=self.num_negatives, range_min=self.range_min, range_max=self.range_max,
                              absolute_margin=self.absolute_margin, relative_margin=self.relative_margin,
                              max_score=self.max_score, min_score=self.min_score, sampling=self.sampling,
                              seed=self.seed)

    def search(self) -> SearchSettings:
        return SearchSettings(k=self.top_k, index=self.index, nprobe=self.nprobe, ef_search=self.ef_search)


@dataclass
class EvalModel:
    """One column of the comparison table."""

    model: str = ""  # a model name or {from: TRAIN_STAGE}
    label: str = ""  # default: the model name, or the stage a reference names


@dataclass
class EvalSettings:
    """An eval stage: models to compare on the same tasks (as ``gtekit eval``)."""

    models: list[EvalModel] = field(default_factory=list)  # items: NAME, {from: STAGE} or {label, model}
    tasks: list[str] = field(default_factory=list)  # named tasks, e.g. [STSBenchmark]
    suite: str | None = None  # a named suite, e.g. offline
    task_files: list[str] = field(default_factory=list)  # local YAML/JSON task definitions
    beir: list[str] = field(default_factory=list)  # BEIR folders, as retrieval tasks
    beir_split: str = "test"
    batch_size: int = 64
    use_cache: bool = True  # the embedding cache (~/.cache/gtekit/embeddings)
    output_dir: str | None = None  # default: output_dir/<stage name>
