"""What a recipe builds before the first step: the model, the training sources and their sampler, the
negatives curriculum, and the modules the optimizer trains.

These check what only the loaded model or data can tell: that ``model.max_seq_length`` fits the model's
position embeddings, that every pair has the negatives the curriculum ranks, that ``data.weights``,
``data.caps`` and ``data.prefixes`` name sources that exist, that no source repeats an evaluation
split (``data.guard_tasks``). Depends on the model, data, losses and evaluation-guard packages and on
``recompute`` and ``lora``; never on the training loop or the step.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import nn

from ..config import ConfigError, CurriculumKind, DataConfig, Recipe, Recompute
from ..data.curriculum import EasyToHardNegatives
from ..data.pairs import PairFormatError, load_sources
from ..data.sampler import SourceSampler, source_probabilities
from ..evaluation.guard import check_no_evaluation_overlap
from ..losses import Temperature
from ..model.embedder import Embedder
from .lora import add_lora
from .recompute import enable_recompute

REPLAY_PREFIX = "replay:"  # the name of a data.replay source starts with it


def pairs_per_rank(batch_size: int, world_size: int) -> int:
    """This rank's pairs of a global batch of ``train.batch_size``, which must divide evenly over the ranks."""
    if batch_size % world_size:
        raise ValueError(f"train.batch_size={batch_size} is the global batch: it must divide evenly "
                         f"over the {world_size} processes")
    return batch_size // world_size


def prepare_model(recipe: Recipe, model: Embedder | None, device: torch.device) -> Embedder:
    """The model to train, on ``device``: ``model``, or the one the recipe names, built after seeding every
    random generator with ``train.seed`` (the same initial weights on every rank); its positions checked, its
    Matryoshka dimensions checked and recorded in its settings (saved with it: :func:`record_matryoshka_dims`),
    LoRA adapters added if ``model.lora`` asks for them (``lora``; then only they train), and its activations
    recomputed in backward if ``train.gradient_checkpointing`` or ``train.recompute`` ask for it."""
    cfg = recipe.train
    seed_everything(cfg.seed)
    model = (model if model is not None else build_model(recipe)).to(device)
    check_positions(model, recipe.model.name)
    record_matryoshka_dims(model, recipe.loss.matryoshka_dims, recipe.model.name)
    if recipe.model.lora is not None:  # before the optimizer and DDP see the parameters
        add_lora(model, recipe.model.lora, recipe.model.name)
    if cfg.gradient_checkpointing or cfg.recompute == Recompute.SELECTIVE:
        enable_recompute(model.encoder, selective=not cfg.gradient_checkpointing)
    return model


def build_model(recipe: Recipe) -> Embedder:
    """The Embedder a recipe names: loaded weights, or a random encoder with the named tokenizer."""
    m = recipe.model
    overrides = {"max_seq_length": m.max_seq_length, "query_prefix": m.query_prefix,
                 "document_prefix": m.document_prefix, "delimiters": m.delimiters}
    if m.pooling is not None:
        overrides["pooling"] = m.pooling
    if m.random_init:
        model = Embedder.from_config(m.name, hidden_size=m.hidden_size, num_layers=m.num_layers,
                                     num_heads=m.num_heads, seed=recipe.train.seed, **overrides)
    else:
        model = Embedder.load(m.name, **overrides)
    model.packing = m.packing
    return model


def check_positions(model: Embedder, name: str) -> None:
    """``model.max_seq_length`` may not exceed the position embeddings of the model (where its config says)."""
    positions = getattr(model.encoder.config, "max_position_embeddings", None)
    length = model.settings.max_seq_length
    if isinstance(positions, int) and length > positions:
        raise ConfigError(f"model.max_seq_length={length} is more than the {positions} positions of model {name!r} "
                          f"(max_position_embeddings in its config): set it in [1, {positions}]")


def record_matryoshka_dims(model: Embedder, dims: list[int], name: str) -> None:
    """``loss.matryoshka_dims`` may not exceed the model's dimension; the model's settings record them (its
    ``gtekit_config.json`` then says which truncations it was trained for; [] when this run trains none)."""
    too_large = [dim for dim in dims if dim > model.dimension]
    if too_large:
        raise ConfigError(f"loss.matryoshka_dims={dims}: {too_large} more than the {model.dimension} dimensions of "
                          f"model {name!r}; give prefix sizes in [1, {model.dimension}]")
    model.settings.matryoshka_dims = list(dims)


def negative_curriculum(recipe: Recipe) -> EasyToHardNegatives | None:
    """The hard-negative curriculum ``data.curriculum`` asks for over ``train.steps``; None when off."""
    c = recipe.data.curriculum
    if c.kind == CurriculumKind.NONE:
        return None
    return EasyToHardNegatives(recipe.data.negatives_per_query, recipe.train.steps, c.pool, c.hold)


def load_training_sources(recipe: Recipe, curriculum: EasyToHardNegatives | None) -> list:
    """The recipe's sources, then its replay sources, each named ``replay:<name>``; with a curriculum, each
    row of the first checked for enough negatives and scores kept."""
    data = recipe.data
    requirements = curriculum.requirements if curriculum is not None else None
    try:
        sources = load_sources(data.sources, skip_invalid=data.skip_invalid, resident_shards=data.resident_shards,
                               requirements=requirements)
    except PairFormatError as error:
        if requirements is not None and error.field == "negatives":
            error.add_note(f"data.curriculum ranks {requirements.min_count} negatives of every pair: mine at least "
                           f"that many (gtekit mine --num-negatives {requirements.min_count}), lower "
                           "data.curriculum.pool, or leave such rows out with data.skip_invalid=true")
        raise
    replay = load_sources(data.replay, skip_invalid=data.skip_invalid,
                          resident_shards=data.resident_shards) if data.replay else []
    for source in replay:
        source.name = REPLAY_PREFIX + source.name  # in logs, weights and caps; its batches have no hard negatives
    return sources + replay


def is_replay(source) -> bool:
    """Whether ``source`` came from ``data.replay``."""
    return source.name.startswith(REPLAY_PREFIX)


def replay_weights(sizes: list[int], alpha: float, weights: list[float], replay: list[bool],
                   share: float) -> list[float]:
    """``weights`` with the replay sources' scaled so that they hold ``share`` of the probability:
    p_i ∝ w_i n_i^α among the others and among the replay sources, and Σ_{j replay} p_j = share.

    With M = Σ_{i not replay} w_i n_i^α and R = Σ_{j replay} w_j n_j^α, replay weights are multiplied by
    share / (1 - share) · M / R."""
    p = source_probabilities(sizes, alpha, weights)  # Eq. 4 over every source: w_i n_i^α, normalised
    main = sum(p_i for p_i, r in zip(p, replay, strict=True) if not r)
    replayed = sum(p_i for p_i, r in zip(p, replay, strict=True) if r)
    if main <= 0 or replayed <= 0:
        raise ConfigError("data.replay_share needs sources and replay sources that can be drawn (weight > 0)")
    scale = share / (1 - share) * main / replayed
    return [w * scale if r else w for w, r in zip(weights, replay, strict=True)]


def check_sources(data: DataConfig, sources: list) -> None:
    """No source repeats a text of the evaluation splits in ``data.guard_tasks``; the mixture names only
    sources that exist."""
    if data.guard_tasks:
        check_no_evaluation_overlap(sources, data.guard_tasks)
    check_mixture_names(data.weights, data.caps, data.prefixes, [s.name for s in sources])


def source_sampler(recipe: Recipe, sources: list) -> SourceSampler:
    """The sampler of the recipe's mixture (``data.alpha``, ``data.weights``, ``data.caps``,
    ``data.replay_share``), seeded with ``train.seed``: every rank builds the same one, so all draw the same
    source and global batch each step."""
    data, names = recipe.data, [s.name for s in sources]
    weights, caps = [data.weights.get(n, 1.0) for n in names], [data.caps.get(n) for n in names]
    if data.replay_share:
        sizes = [int(sum(s.shard_sizes)) for s in sources]
        sizes = [size if cap is None else min(size, cap) for size, cap in zip(sizes, caps, strict=True)]
        weights = replay_weights(sizes, data.alpha, weights, [is_replay(s) for s in sources], data.replay_share)
    return SourceSampler([s.shard_sizes for s in sources], recipe.train.batch_size, alpha=data.alpha,
                         seed=recipe.train.seed, weights=weights, names=names, caps=caps)


def trained_parts(model: Embedder, temperature: Temperature, device: torch.device) -> nn.ModuleDict:
    """Every module the optimizer trains and a checkpoint holds: the embedder, and a trainable temperature
    (a ``LogitScale``, moved to ``device``) as ``logit_scale``."""
    parts = nn.ModuleDict({"embedder": model})
    if isinstance(temperature, nn.Module):
        parts["logit_scale"] = temperature.to(device)
    return parts


def check_mixture_names(weights: dict, caps: dict, prefixes: dict, names: list[str]) -> None:
    """data.weights, data.caps and data.prefixes may only name sources that exist, and prefix kinds that exist."""
    for key, mapping in (("weights", weights), ("caps", caps), ("prefixes", prefixes)):
        unknown = set(mapping) - set(names)
        if unknown:
            raise ValueError(f"data.{key} names unknown sources {sorted(unknown)}; sources: {names}")
    for name, kinds in prefixes.items():
        unknown = set(kinds) - {"query", "document"}
        if unknown:
            raise ValueError(f"data.prefixes.{name}: unknown kinds {sorted(unknown)}; valid: query, document")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
