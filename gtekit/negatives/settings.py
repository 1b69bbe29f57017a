"""The settings of hard-negative mining (``gtekit mine``, and a mine stage of ``gtekit run``): one dataclass that
``gtekit.config.from_dict`` builds from a pipeline file and the command line builds from its options.

Every check runs when the settings are made, before a model is loaded: the index kind (one of
``MINING_KINDS``), the device, the selection rules and search settings they describe, the number of
samples. An enumerated option (``index``, ``sampling``) given as a string becomes its enum member.

Depends on ``gtekit.config``'s checks and this package's option types; never on a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import AT_LEAST_0, ConfigError, check_device, check_number, parse_choice
from .candidate_search import MINING_KINDS, IndexKind, SearchSettings
from .encode_store import DEFAULT_CHUNK_SIZE
from .select import Sampling, SelectionRules


@dataclass
class MineSettings:
    """``gtekit mine`` options under their long names (see ``gtekit mine --help``)."""

    model: str = ""  # required: a model name (in a pipeline, or {from: TRAIN_STAGE})
    pairs: list[str] = field(default_factory=list)  # required: pair files or folders ({from: MINE_STAGE | DATA_STAGE})
    corpus: str | None = None  # candidate documents besides the positives (.txt or .jsonl)
    corpus_field: str = "text"
    skip_invalid: bool = False
    top_k: int = SearchSettings.k
    index: IndexKind = SearchSettings.index  # auto | flat | ivf | hnsw (MINING_KINDS)
    nprobe: int = SearchSettings.nprobe
    ef_search: int = SearchSettings.ef_search
    num_negatives: int = SelectionRules.num_negatives
    range_min: int = 0
    range_max: int | None = None
    relative_margin: float | None = SelectionRules.relative_margin  # None (YAML null) turns it off
    absolute_margin: float | None = None
    max_score: float | None = None
    min_score: float | None = None
    sampling: Sampling = SelectionRules.sampling  # top | random
    seed: int = 0
    keep_short: bool = False
    batch_size: int = 64
    chunk_size: int = DEFAULT_CHUNK_SIZE
    bf16: bool = False
    device: str = "auto"  # a DeviceKind (auto | cpu | cuda) or cuda:N, checked by check_device
    samples: int = 5
    with_scores: bool = False
    output_dir: str | None = None  # the folder for the outputs (a pipeline stage: default output_dir/<stage name>)

    def __post_init__(self) -> None:
        self.index = parse_choice("index", self.index, IndexKind)
        if self.index not in MINING_KINDS:
            raise ConfigError(f"index: unknown value {self.index.value!r}; valid: "
                              f"{', '.join(kind.value for kind in MINING_KINDS)}")
        self.sampling = parse_choice("sampling", self.sampling, Sampling)
        check_device("device", self.device)
        check_number("samples", self.samples, AT_LEAST_0)
        try:  # the rules and search settings these describe, checked now rather than when mining starts
            self.rules(), self.search()
        except ValueError as error:
            raise ConfigError(str(error)) from None

    def rules(self) -> SelectionRules:
        return SelectionRules(num_negatives=self.num_negatives, range_min=self.range_min, range_max=self.range_max,
                              absolute_margin=self.absolute_margin, relative_margin=self.relative_margin,
                              max_score=self.max_score, min_score=self.min_score, sampling=self.sampling,
                              seed=self.seed)

    def search(self) -> SearchSettings:
        return SearchSettings(k=self.top_k, index=self.index, nprobe=self.nprobe, ef_search=self.ef_search)
