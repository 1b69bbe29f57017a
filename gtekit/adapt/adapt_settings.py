"""The settings of ``gtekit adapt``: what is read, how pairs are made, how long training may take, and how
the adapted model is chosen. The command line builds them; ``settings.json`` in the run folder keeps them,
so a rerun resumes the same run (and refuses to continue one made with other settings).

Depends on ``corpus_reading``, ``pair_set`` and ``synthetic_queries`` (their settings) only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .corpus_reading import CorpusSettings
from .pair_set import PairSettings
from .synthetic_queries import SyntheticQuerySettings

# The general tasks guarded during selection (dev) and reported before/after (test): one or more of every
# task type of the offline suite, the quickstart's fast set.
GENERAL_TASKS = ("STSBenchmark", "LeeDocumentSimilarity", "TRECClassification", "TRECClustering",
                 "STSBenchmarkPairClassification", "LeeReranking", "RottenTomatoesZeroShot", "HumanEvalCodeSearch",
                 "PythonStdlibCodeSearch")


@dataclass
class TrainingSettings:
    """Fine-tuning on the mined pairs with hard negatives (the improved contrastive loss, GTE Eq. 5-6)."""

    steps: int = 0  # 0: as many as the time budget allows (between min_steps and max_steps)
    min_steps: int = 20
    max_steps: int = 1000
    batch_size: int = 32  # pairs per step; every batch from one kind of pair (p_i ∝ n_i^0.5, GTE Eq. 4)
    chunk_size: int = 16  # gradient cache: texts encoded at a time (0: the whole batch, ~16 GB at 256 tokens)
    negatives: int = 1  # hard negatives per pair, mined with the base model (group size negatives + 1)
    max_seq_length: int = 128  # in training (cost); the adapted model keeps the base's for encoding
    lr: float = 2e-5
    temperature: float = 0.05  # the base model's own (all-MiniLM-L6-v2: scale 20); GTE's 0.01 is for MLM starts
    relative_margin: float | None = 0.05  # Arctic-Embed: candidates above (1 - margin) x the positive's score
    # are dropped as likely false negatives; None: none dropped
    distill_weight: float = 0.0  # > 0: distillation from the base model (KL over in-batch rows), this weight
    seed: int = 42


@dataclass
class SelectionSettings:
    """WiSE-FT (Wortsman et al. 2022): the weight λ of the adapted model against the base, chosen on the
    held-out pseudo-queries (dev), among those whose general tasks' dev average drops by at most
    ``max_general_drop`` with 95% confidence (the paired bootstrap interval of the change lies above
    ``-max_general_drop``) and that lose no general task significantly by more than ``max_task_drop``."""

    weights: list[float] = field(default_factory=lambda: [0.5, 0.75, 1.0])  # λ = 0, the base, always a choice
    max_general_drop: float = 0.005  # on the 0-1 scale: half a point
    max_task_drop: float | None = 0.01  # one point; None: no per-task check
    general_tasks: list[str] = field(default_factory=lambda: list(GENERAL_TASKS))


@dataclass
class AdaptSettings:
    inputs: list[str] = field(default_factory=list)  # BEIR folders, folders of files, JSONL/Parquet files
    model: str = "all-MiniLM-L6-v2"
    output_dir: str = ""
    budget_minutes: float = 30.0
    eval_beir: list[str] = field(default_factory=list)  # BEIR folders with real queries, scored before and after
    batch_size: int = 64  # evaluation: texts per forward pass
    corpus: CorpusSettings = field(default_factory=CorpusSettings)
    pairs: PairSettings = field(default_factory=PairSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    selection: SelectionSettings = field(default_factory=SelectionSettings)
    llm: SyntheticQuerySettings | None = None

    def as_dict(self) -> dict:
        return asdict(self)
