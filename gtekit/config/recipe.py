"""The training recipe (``gtekit train RECIPE``): typed dataclasses read from YAML, with dotted overrides.

``load_recipe("recipes/example.yaml", ["train.lr=1e-4"])`` -> ``Recipe``. Loading goes through
``loader.from_dict``: an unknown key, a value of the wrong type, a value outside an option's choices (the
``StrEnum`` classes below) or a number outside its field's range (every int and float field declares one:
``ranged``) is an error that names the file and the key and lists the valid values. An enumerated option
arrives as its enum member (which equals its string), so the rest of gtekit never sees a string to
compare; ``to_dict`` and ``recipe_to_yaml`` write plain strings again. ``train.device`` stays a string,
checked at load time by ``check_device``: besides the ``DeviceKind`` names it may be ``cuda:N`` for any
GPU index N.

The names of the losses and poolings are listed here again so that the config imports nothing else from
gtekit; tests check that they match ``gtekit.losses.LOSSES`` and ``gtekit.model.pooling.POOLINGS``.
"""

from __future__ import annotations

import enum
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .loader import (
    AT_LEAST_0,
    AT_LEAST_1,
    POSITIVE,
    ConfigError,
    Range,
    apply_override,
    check_number,
    check_ranges,
    from_dict,
    matches_path,
    parse_choice,
    plain_dict,
    ranged,
    read_yaml,
)


class PoolingName(enum.StrEnum):
    """How token embeddings become one vector (``gtekit.model.pooling.POOLINGS``)."""

    MEAN = "mean"  # mean over non-padding tokens (GTE Eq. 2)
    CLS = "cls"  # the first token
    LAST = "last"  # the last non-padding token


class LossName(enum.StrEnum):
    """The contrastive objective (``gtekit.losses.LOSSES``)."""

    GTE = "gte"  # improved contrastive loss (GTE Eq. 5-6)
    INFONCE = "infonce"  # in-batch and hard negatives (GTE Eq. 3)
    SYMMETRIC = "symmetric"  # cpt-text's symmetric in-batch loss, trainable temperature
    BIDIRECTIONAL = "bidirectional"  # q→d and d→q in-batch at a fixed τ (the loss ablation's middle row)


class DeviceKind(enum.StrEnum):
    """Where a model runs; ``cuda:N`` (GPU N) is valid too."""

    AUTO = "auto"  # cuda (the process's local rank) when CUDA is available, else cpu
    CPU = "cpu"
    CUDA = "cuda"


class Recompute(enum.StrEnum):
    """Which encoder activations backward recomputes instead of keeping (``gtekit.training.recompute``)."""

    NONE = "none"  # keep them all
    SELECTIVE = "selective"  # keep the matmul outputs, recompute the element-wise rest: same results, less memory


class Precision(enum.StrEnum):
    """The arithmetic of training's matmuls (``gtekit.model.device.uses_bf16``)."""

    AUTO = "auto"  # bf16 where the device has bf16 matrix units (CUDA compute capability >= 8; CPUs with
    # AVX512-BF16 or AMX), else fp32: bf16 without them is emulated and slower than fp32
    FP32 = "fp32"
    BF16 = "bf16"  # bf16 autocast over fp32 weights (the optimizer's state stays fp32)


class CurriculumKind(enum.StrEnum):
    """How the hard negatives a pair contributes change over training."""

    NONE = "none"  # always its first negatives_per_query negatives, as listed
    EASY_TO_HARD = "easy_to_hard"  # a window over its negatives ranked by difficulty, easiest to hardest


CUDA_INDEXED = re.compile(r"cuda:\d+")  # cuda:0, cuda:1, ...


def check_device(key: str, value: Any) -> None:
    """Raise a ConfigError naming ``key`` and listing the valid values unless ``value`` is a ``DeviceKind`` name
    or ``cuda:N`` (N: any GPU index, so not a closed enum)."""
    if isinstance(value, str) and CUDA_INDEXED.fullmatch(value):
        return
    valid = [kind.value for kind in DeviceKind]
    if value not in valid:
        raise ConfigError(f"{key}: unknown value {value!r}; valid: {', '.join(valid)}, cuda:N (N: a GPU index)")


@dataclass
class LoraConfig:
    """Low-rank adapters (LoRA; Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models",
    arXiv:2106.09685, Eq. 3): each targeted linear layer computes W₀x + (alpha / r) · B A x with W₀ frozen,
    A (r, in) random and B (out, r) zero at the start, so training starts from the model itself and only A and
    B learn (``gtekit.training.lora``, through the ``peft`` library: ``pip install 'gtekit[lora]'``)."""

    r: int = ranged(16, AT_LEAST_1)  # the rank of B A
    alpha: float = ranged(32.0, POSITIVE)  # the update B A is scaled by alpha / r
    dropout: float = ranged(0.05, Range(0, 1, high_open=True, note="0: none"))  # dropout on the adapters' input
    target_modules: list[str] = field(default_factory=lambda: ["query", "key", "value", "dense"])  # the linear
    # layers adapted, by the last part of their names (BERT-like encoders: attention q/k/v, its output projection
    # and both feed-forward layers); the pooler's layer, which embeddings never use, is left out

    def __post_init__(self) -> None:
        check_ranges(self, "model.lora")
        if not self.target_modules:
            raise ConfigError("model.lora.target_modules is empty: name the linear layers to adapt, e.g. "
                              "[query, key, value, dense] for BERT-like encoders")


@dataclass
class ModelConfig:
    """The encoder to train."""

    name: str = "all-MiniLM-L6-v2"  # local folder, bundled model or hub name
    random_init: bool = False  # a random BERT with `name`'s tokenizer instead of `name`'s weights
    hidden_size: int = ranged(384, AT_LEAST_1)  # random_init only; a multiple of num_heads
    num_layers: int = ranged(6, AT_LEAST_1)  # random_init only
    num_heads: int = ranged(12, AT_LEAST_1)  # random_init only
    pooling: PoolingName | None = None  # mean | cls | last; None keeps the model's own
    max_seq_length: int = ranged(128, Range(1, note="tokens; at most the model's position embeddings"))
    query_prefix: str = ""
    document_prefix: str = ""
    delimiters: bool = False  # cpt-text '[' ']' / '{' '}' around queries / documents
    packing: bool = False  # true: a chunk's texts packed into fewer rows, no FLOP on padding (gtekit.model.packing);
    # the same embeddings, but dropout draws its masks in another layout, so a run differs from a padded one
    lora: LoraConfig | None = None  # train low-rank adapters on the frozen encoder; None: train every weight

    def __post_init__(self) -> None:
        if self.pooling is not None:
            self.pooling = parse_choice("model.pooling", self.pooling, PoolingName)
        check_ranges(self, "model")
        if self.random_init and self.hidden_size % self.num_heads:
            raise ConfigError(f"model.hidden_size={self.hidden_size} must be a multiple of "
                              f"model.num_heads={self.num_heads} (random_init)")
        if self.random_init and self.lora is not None:
            raise ConfigError("model.lora trains adapters on frozen weights, and model.random_init makes those "
                              "weights random: use one or the other")


@dataclass
class CurriculumConfig:
    """A curriculum over hard-negative difficulty (``gtekit.data.curriculum``, docs/curriculum.md)."""

    kind: CurriculumKind = CurriculumKind.NONE  # none | easy_to_hard
    pool: int = ranged(0, Range(0, note="0: all of a pair's negatives"))  # easy_to_hard: the hardest `pool`
    # negatives of a pair are ranked (0: all it has); every pair needs at least that many, and the window of
    # negatives_per_query slides over them
    hold: float = ranged(0.0, Range(0, 1, high_open=True, note="a share of the steps"))  # easy_to_hard: the last
    # share of the steps stays on the hardest window

    def __post_init__(self) -> None:
        self.kind = parse_choice("data.curriculum.kind", self.kind, CurriculumKind)
        check_ranges(self, "data.curriculum")


@dataclass
class DataConfig:
    """Training sources and their mix: every batch comes from one source (GTE Eq. 4).

    A file is one source, held in memory; a built mixture folder (``gtekit data build``, with a
    ``manifest.json``) gives one streamed source per manifest entry. ``caps``, ``weights`` and
    ``prefixes`` name sources; an unknown name is an error.

    ``replay`` mixes general-purpose pairs into a run (a fine-tuning or domain run) against forgetting, as
    experience replay does in continual learning (Rolnick et al. 2019, "Experience Replay for Continual
    Learning"): a ``replay_share`` of the batches comes from the replay sources (chosen among them by
    p_j ∝ w_j n_j^α, as among the others), with in-batch negatives only."""

    sources: list[str] = field(default_factory=list)  # files, folders, globs (JSONL, JSONL.gz, Parquet), mixtures
    alpha: float = ranged(0.5, Range(0, note="0: every source equally likely, 1: in proportion to its size"))
    # p_i ∝ n_i^α
    weights: dict[str, float] = field(default_factory=dict)  # per-source multipliers on n_i^α (>= 0; 0: off)
    caps: dict[str, int] = field(default_factory=dict)  # a capped source counts min(n, cap) examples, for p_i and
    # per epoch: each epoch takes the first `cap` examples of its (shard, row) order, a different subset each epoch
    prefixes: dict[str, dict[str, str]] = field(default_factory=dict)  # {source: {query: "...", document: "..."}}
    # instead of the model's query/document prefix, for that source's batches
    negatives_per_query: int = ranged(0, AT_LEAST_0)  # hard negatives used per pair (group size - 1)
    replay: list[str] = field(default_factory=list)  # general pairs mixed in against forgetting (as `sources`);
    # their batches use in-batch negatives only, whatever negatives_per_query says
    replay_share: float = ranged(0.0, Range(0, 1, high_open=True, note="the share of batches drawn from replay"))
    skip_invalid: bool = False  # skip and count malformed rows instead of stopping
    guard_tasks: list[str] = field(default_factory=lambda: ["offline"])  # refuse sources repeating their texts
    resident_shards: int = ranged(0, Range(0, note="0: one per source, plus one"))  # decoded shards of streamed
    # sources kept per process
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)  # off by default

    def __post_init__(self) -> None:
        check_ranges(self, "data")
        for name, weight in self.weights.items():
            check_number(f"data.weights.{name}", weight, Range(0, note="0: the source is off"))
        for name, cap in self.caps.items():
            check_number(f"data.caps.{name}", cap, AT_LEAST_1)
        if bool(self.replay) != (self.replay_share > 0):
            raise ConfigError(f"data.replay ({len(self.replay)} source(s)) and data.replay_share "
                              f"({self.replay_share}) go together: give both, or neither")
        c, k = self.curriculum, self.negatives_per_query
        if c.kind != CurriculumKind.NONE and k < 1:
            raise ConfigError(f"data.curriculum.kind={c.kind} chooses among hard negatives: "
                              "set data.negatives_per_query (>= 1)")
        if c.kind != CurriculumKind.NONE and c.pool and c.pool <= k:
            raise ConfigError(f"data.curriculum.pool={c.pool} leaves no choice with data.negatives_per_query={k}: "
                              "rank more negatives than are used (mine more), or set pool to 0 (all of each pair's)")


@dataclass
class LossConfig:
    """The contrastive objective (gtekit.losses)."""

    name: LossName = LossName.GTE  # gte | infonce | symmetric | bidirectional
    temperature: float = ranged(0.01, Range(0, low_open=True, note="τ divides the similarities; GTE uses 0.01"))
    # τ; for `symmetric`, the initial value of the trainable τ. GTE's 0.01 is for training from an MLM checkpoint;
    # continuing a contrastively trained model, start from the temperature it was trained with (all-MiniLM-L6-v2:
    # scale 20, τ = 0.05), or it is pushed away from what it learnt (docs/forgetting.md)
    distill_teacher: str = ""  # "": no distillation; "start": the model this run starts from; or a model name/folder
    # (one with its own vocabulary reads the batch's texts through its own tokenizer). Adds
    # distill_weight · KL(teacher ‖ student) over in-batch similarities
    distill_weight: float = ranged(1.0, AT_LEAST_0)  # w; the term is w · τ_d² · KL (sentence-transformers'
    # DistillKLDivLoss), so next to a contrastive loss w = 1 / τ_d² (400 at τ_d = 0.05) weighs the plain KL
    distill_temperature: float = ranged(0.05, POSITIVE)  # τ_d of both similarity distributions
    matryoshka_dims: list[int] = field(default_factory=list)  # e.g. [384, 256, 128, 64]: the loss (and the
    # distillation term) summed over these re-normalised prefixes of the embeddings (Kusupati et al. 2022); []: off
    matryoshka_weights: list[float] = field(default_factory=list)  # one w_m >= 0 per dimension; []: all 1
    mask_duplicates: bool = False  # leave out of every denominator the in-batch texts equal to the row's query or
    # positive (hard negatives included); the number masked per step is logged as masked_duplicates
    guide_model: str = ""  # GISTEmbed: "", "start" or a model name/folder sharing the student's vocabulary, whose
    # similarities mask the candidates it scores above the row's positive (logged as masked_by_guide)
    guide_margin: float = ranged(0.0, AT_LEAST_0)  # also mask the candidates the guide scores up to this much
    # below the positive

    def __post_init__(self) -> None:
        self.name = parse_choice("loss.name", self.name, LossName)
        check_ranges(self, "loss")
        dims, weights = self.matryoshka_dims, self.matryoshka_weights
        for i, dim in enumerate(dims):
            check_number(f"loss.matryoshka_dims[{i}]", dim, AT_LEAST_1)
        if len(set(dims)) != len(dims):
            raise ConfigError(f"loss.matryoshka_dims={dims} names a dimension twice; give each once, in any order")
        for i, weight in enumerate(weights):
            check_number(f"loss.matryoshka_weights[{i}]", weight, AT_LEAST_0)
        if weights and len(weights) != len(dims):
            raise ConfigError(f"loss.matryoshka_weights={weights} needs one weight per dimension of "
                              f"loss.matryoshka_dims={dims} (or none: all 1)")


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping."""

    output_dir: str = "runs/train"
    steps: int = ranged(100, AT_LEAST_1)
    batch_size: int = ranged(32, AT_LEAST_1)  # pairs per step
    chunk_size: int = ranged(0, Range(0, note="0: the whole batch at once"))  # > 0: gradient cache, encoding at
    # most this many texts at once
    lr: float = ranged(2e-5, POSITIVE)
    weight_decay: float = ranged(0.01, AT_LEAST_0)
    warmup_ratio: float = ranged(0.05, Range(0, 1, note="a share of the steps"))  # linear warm-up over this share
    # of steps, then linear decay to 0
    max_grad_norm: float = ranged(1.0, Range(0, note="0: no clipping"))
    loss_block_size: int = ranged(0, Range(0, note="0: all rows at once"))  # > 0 with chunk_size: loss and its
    # backward over this many rows at a time
    precision: Precision = Precision.AUTO  # auto | fp32 | bf16 (autocast, CPU and CUDA); auto: bf16 only where the
    # device has bf16 matrix units, else fp32; the run's choice is logged and kept in the model card
    bf16: bool = False  # true: the same as precision bf16 (older recipes); the trainer sets it to the choice made
    gradient_checkpointing: bool = False  # recompute encoder activations in backward: less memory per chunk
    recompute: Recompute = Recompute.NONE  # none | selective (gradient_checkpointing recomputes everything)
    data_workers: int = ranged(1, Range(0, note="0: in the training process"))  # DataLoader processes that read
    # and tokenize batches
    prefetch: bool = True  # prepare batches ahead (2 per worker; with 0 workers, 1 on a thread); false: on demand
    zero_optimizer: bool = True  # across processes: shard AdamW state (ZeroRedundancyOptimizer, ZeRO stage 1)
    seed: int = ranged(42, Range(0, 2**32 - 1, note="numpy's seeds"))
    device: str = "auto"  # a DeviceKind (auto | cpu | cuda) or cuda:N, checked by check_device
    log_every: int = ranged(1, Range(0, note="0: no console lines"))  # console log line every N steps
    # (train_log.jsonl gets every step)
    save_every: int = ranged(50, Range(0, note="0: only at the end"))  # steps between checkpoints
    keep_checkpoints: int = ranged(2, Range(0, note="0: keep them all"))  # the newest checkpoints kept
    save_adapter: bool = False  # with model.lora: besides the merged model, model/adapter/ holds the adapters
    # alone (peft's save_pretrained, safetensors), to apply to the base model with peft

    def __post_init__(self) -> None:
        check_device("train.device", self.device)
        self.recompute = parse_choice("train.recompute", self.recompute, Recompute)
        self.precision = parse_choice("train.precision", self.precision, Precision)
        if self.bf16 and self.precision is Precision.FP32:
            raise ConfigError("train.bf16: true contradicts train.precision: fp32; set one of them")
        if self.bf16:
            self.precision = Precision.BF16
        check_ranges(self, "train")


@dataclass
class EvalConfig:
    """Validation during training: scores go to the log, the best model is kept."""

    tasks: list[str] = field(default_factory=list)  # named tasks, e.g. [STSBenchmark], scored on their dev split
    task_files: list[str] = field(default_factory=list)  # local YAML/JSON task definitions
    every: int = ranged(0, Range(0, note="0: never"))  # steps between validations
    batch_size: int = ranged(64, AT_LEAST_1)

    def __post_init__(self) -> None:
        check_ranges(self, "eval")


@dataclass
class Recipe:
    """A training recipe: model, data, loss, training settings, validation."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        if self.train.save_adapter and self.model.lora is None:
            raise ConfigError("train.save_adapter writes the LoRA adapters: set model.lora too, or leave it false")

    def to_dict(self) -> dict[str, Any]:
        """Every setting as the plain value YAML gives (an option as its string)."""
        return plain_dict(self)


def load_recipe(path: str | Path | None = None, overrides: typing.Sequence[str] = ()) -> Recipe:
    """Read a YAML recipe (or start from defaults when ``path`` is None) and apply ``key=value`` overrides."""
    data: Any = {}
    where = "recipe"
    if path is not None:
        where = str(path)
        data = read_yaml(path, "recipe") or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a recipe is a mapping of sections, got {type(data).__name__}")
    for override in overrides:
        apply_override(data, override)
    recipe = from_dict(Recipe, data, where=where)
    if path is not None:
        _resolve_relative_sources(recipe, Path(path).parent)
    return recipe


def _resolve_relative_sources(recipe: Recipe, base: Path) -> None:
    """A relative source (file, folder or glob) that matches nothing from the working directory is
    taken relative to the recipe file's folder."""
    recipe.data.sources = [source if Path(source).is_absolute() or matches_path(source) else str(base / source)
                           for source in recipe.data.sources]


def recipe_to_yaml(recipe: Recipe) -> str:
    return yaml.safe_dump(recipe.to_dict(), sort_keys=False)
