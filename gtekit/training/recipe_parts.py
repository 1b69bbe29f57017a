"""What a recipe builds before the first step: the model, the training sources and the negatives curriculum.

``build_model`` and ``load_training_sources`` check what only the loaded model or data can tell: that
``model.max_seq_length`` fits the model's position embeddings, that every pair has the negatives the
curriculum ranks, that ``data.weights``, ``data.caps`` and ``data.prefixes`` name sources that exist.
Depends on the model and data packages; never on the training loop.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from ..config import ConfigError, CurriculumKind, Recipe
from ..data.curriculum import EasyToHardNegatives
from ..data.pairs import PairFormatError, load_sources
from ..model.embedder import Embedder


def build_model(recipe: Recipe) -> Embedder:
    """The Embedder a recipe names: loaded weights, or a random encoder with the named tokenizer."""
    m = recipe.model
    overrides = {"max_seq_length": m.max_seq_length, "query_prefix": m.query_prefix,
                 "document_prefix": m.document_prefix, "delimiters": m.delimiters}
    if m.pooling is not None:
        overrides["pooling"] = m.pooling
    if m.random_init:
        return Embedder.from_config(m.name, hidden_size=m.hidden_size, num_layers=m.num_layers,
                                    num_heads=m.num_heads, seed=recipe.train.seed, **overrides)
    return Embedder.load(m.name, **overrides)


def check_positions(model: Embedder, name: str) -> None:
    """``model.max_seq_length`` may not exceed the position embeddings of the model (where its config says)."""
    positions = getattr(model.encoder.config, "max_position_embeddings", None)
    length = model.settings.max_seq_length
    if isinstance(positions, int) and length > positions:
        raise ConfigError(f"model.max_seq_length={length} is more than the {positions} positions of model {name!r} "
                          f"(max_position_embeddings in its config): set it in [1, {positions}]")


def negative_curriculum(recipe: Recipe) -> EasyToHardNegatives | None:
    """The hard-negative curriculum ``data.curriculum`` asks for over ``train.steps``; None when off."""
    c = recipe.data.curriculum
    if c.kind == CurriculumKind.NONE:
        return None
    return EasyToHardNegatives(recipe.data.negatives_per_query, recipe.train.steps, c.pool, c.hold)


def load_training_sources(recipe: Recipe, curriculum: EasyToHardNegatives | None) -> list:
    """The recipe's sources; with a curriculum, each row checked for enough negatives and scores kept."""
    data = recipe.data
    requirements = curriculum.requirements if curriculum is not None else None
    try:
        return load_sources(data.sources, skip_invalid=data.skip_invalid, resident_shards=data.resident_shards,
                            requirements=requirements)
    except PairFormatError as error:
        if requirements is not None and error.field == "negatives":
            error.add_note(f"data.curriculum ranks {requirements.min_count} negatives of every pair: mine at least "
                           f"that many (gtekit mine --num-negatives {requirements.min_count}), lower "
                           "data.curriculum.pool, or leave such rows out with data.skip_invalid=true")
        raise


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
