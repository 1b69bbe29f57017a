"""``gtekit train RECIPE --dry-run``: the recipe at toy scale for two steps, to check it before a cluster.

:func:`dry_run_recipe` shrinks a recipe. It is a pure function of the recipe and the files on this
machine: it looks up which tokenizer and which sources are at hand, and writes no file of its own
(:func:`prepare_dry_run` then writes the sample data it may need). What changes:

- model: a random BERT, hidden 32, 2 layers, 2 heads (``model.random_init``), with the tokenizer of
  the recipe's model when that loads without the network, else the bundled all-MiniLM-L6-v2's (the
  uncased BERT vocabulary of MiniLM-L12-H384-uncased and bert-*-uncased too), with a logged notice;
- shapes: batch 8 (global; 1, 2, 4 or 8 processes divide it), gradient-cache chunks of 4 and loss
  blocks of 4 when the recipe uses them, at most 32 tokens per text, validation batches of 8;
- length: 2 steps, a checkpoint after each, validation (if any) by step 2, all into ``output_dir``;
- data: the recipe's sources when they exist, else two small sources of real (docstring, code)
  pairs mined from the standard library (:func:`write_sample_sources`), each pair with K negatives
  drawn from the other pairs of its source when ``data.negatives_per_query`` is K > 0 (as many as
  ``data.curriculum.pool`` when that is larger and the curriculum is on).

Everything else is the recipe's: loss, τ, α, negatives per query, prefixes, pooling, optimiser
settings, bf16, gradient checkpointing, ZeRO (and the device, unless it names a GPU this machine
lacks). Depends on config, model_files and miners; nothing here knows about training, and the
trainer joins the process group under torchrun.
"""

from __future__ import annotations

import copy
import glob
import json
import logging
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..config import Recipe
from ..data.extract.python_code import mine_python_pairs, stdlib_root
from ..io.atomic import atomic_path
from ..model.model_files import (
    BUNDLED_MODELS,
    ST_PREFIX,
    RemoteCodeRefusedError,
    refuse_remote_code,
    resolve_model_folder,
)

logger = logging.getLogger(__name__)

STEPS = 2
TINY_BERT = (32, 2, 2)  # hidden size, layers, attention heads
BATCH_SIZE = 8
CHUNK_SIZE = 4
LOSS_BLOCK_SIZE = 4
MAX_SEQ_LENGTH = 32
FALLBACK_TOKENIZER = "all-MiniLM-L6-v2"
SAMPLE_PACKAGES = ("urllib", "http")  # standard-library packages on the training side of the held-out split
SAMPLE_PAIRS_PER_SOURCE = 32
SOURCE_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")


def dry_run_recipe(recipe: Recipe, output_dir: str | Path) -> Recipe:
    """A copy of ``recipe`` at toy scale (see the module docstring); ``recipe`` is left unchanged."""
    shrunk = copy.deepcopy(recipe)
    model, train, data, evaluation = shrunk.model, shrunk.train, shrunk.data, shrunk.eval
    tokenizer = local_tokenizer_source(recipe.model.name)
    if tokenizer is None:
        logger.warning("dry run: the tokenizer of %r is not on this machine; using the bundled %s tokenizer "
                       "(the same uncased BERT vocabulary)", recipe.model.name, FALLBACK_TOKENIZER)
        tokenizer = FALLBACK_TOKENIZER
    model.name, model.random_init = tokenizer, True
    model.hidden_size, model.num_layers, model.num_heads = TINY_BERT
    model.max_seq_length = min(model.max_seq_length, MAX_SEQ_LENGTH)
    train.steps = STEPS
    train.batch_size = min(train.batch_size, BATCH_SIZE)
    if train.chunk_size:
        train.chunk_size = min(train.chunk_size, CHUNK_SIZE)
    if train.loss_block_size:
        train.loss_block_size = min(train.loss_block_size, LOSS_BLOCK_SIZE)
    train.output_dir = str(output_dir)
    train.save_every, train.log_every = 1, 1
    if train.device.startswith("cuda") and not torch.cuda.is_available():
        train.device = "auto"  # a laptop without a GPU
    if evaluation.every:
        evaluation.every = min(evaluation.every, STEPS)
        evaluation.batch_size = min(evaluation.batch_size, BATCH_SIZE)
    if not sources_exist(recipe.data.sources):
        data.sources = [str(path) for path in sample_source_paths(output_dir)]
        data.weights, data.caps, data.prefixes = {}, {}, {}  # they name the recipe's sources
    return shrunk


def describe_dry_run(recipe: Recipe, shrunk: Recipe) -> list[str]:
    """One line per setting the dry run changed, ``key: recipe -> dry run``, then what it kept."""
    m, tiny = recipe.model, shrunk.model
    lines = [f"model: {m.name} ({'random' if m.random_init else 'its'} weights) -> a random BERT: "
             f"hidden {tiny.hidden_size}, {tiny.num_layers} layers, {tiny.num_heads} heads",
             f"tokenizer: {tiny.name}"]
    if tiny.name == FALLBACK_TOKENIZER != m.name:
        lines[-1] += f" ({m.name}'s is not on this machine; the same uncased BERT vocabulary)"
    before, after = _flatten(recipe.to_dict()), _flatten(shrunk.to_dict())
    model_keys = {"model.name", "model.random_init", "model.hidden_size", "model.num_layers", "model.num_heads"}
    for key, value in after.items():
        if key in model_keys or before[key] == value:
            continue
        line = f"{key}: {before[key]} -> {value}"
        if key == "data.sources":
            negatives = sample_negatives(recipe)
            line += (f" (not on this machine: {SAMPLE_PAIRS_PER_SOURCE} standard-library (docstring, code) pairs "
                     "each" + (f", with {negatives} negatives from other pairs)" if negatives else ")"))
        lines.append(line)
    kept = ("loss.name", "loss.temperature", "data.alpha", "data.negatives_per_query", "model.pooling",
            "train.lr", "train.precision", "train.gradient_checkpointing", "train.zero_optimizer")
    lines.append("kept: " + ", ".join(f"{key}={after[key]}" for key in kept if key in after))
    return lines


def local_tokenizer_source(name: str) -> str | None:
    """What to pass as ``model.name`` for ``name``'s tokenizer without the network, or None.

    A local folder or the bundled model keeps its name; a hub name found in the Hugging Face cache
    becomes its cached folder, so that nothing tries to download it again."""
    from transformers import AutoTokenizer

    try:
        if Path(name).expanduser().is_dir() or name.removeprefix(ST_PREFIX) in BUNDLED_MODELS:
            source, folder = name, resolve_model_folder(name)
        elif name.startswith((".", "/", "~")) or name.count("/") > 1:
            return None  # a folder that does not exist
        else:
            from huggingface_hub import snapshot_download

            folder = source = snapshot_download(repo_id=name, local_files_only=True)
        AutoTokenizer.from_pretrained(refuse_remote_code(Path(folder)), trust_remote_code=False)
    except RemoteCodeRefusedError:
        raise  # usable offline, but never loaded: say why
    except Exception:  # not cached, no tokenizer files, a broken folder: all mean "not usable offline"
        return None
    return str(source)


def sources_exist(sources: list[str]) -> bool:
    """Whether every entry names at least one file: a file, a folder holding source files, or a glob."""
    def found(entry: str) -> bool:
        path = Path(entry)
        if path.is_file():
            return True
        if path.is_dir():  # a folder of source files, or a built mixture (its manifest)
            return any(p.is_file() and (p.name.endswith(SOURCE_SUFFIXES) or p.name == "manifest.json")
                       for p in path.iterdir())
        return glob.has_magic(entry) and any(Path(match).is_file() for match in glob.glob(entry))

    return bool(sources) and all(found(entry) for entry in sources)


def sample_source_paths(output_dir: str | Path) -> list[Path]:
    """The sample sources of a dry run in ``output_dir``: one file per standard-library package."""
    return [Path(output_dir) / "data" / f"stdlib-{package}.jsonl" for package in SAMPLE_PACKAGES]


def write_sample_sources(output_dir: str | Path, negatives_per_query: int = 0, seed: int = 0) -> list[Path]:
    """Mine (docstring, code) pairs from a few standard-library packages into the sample sources.

    Each row is ``{"query": docstring, "positive": code}``, plus ``"negatives"``: the code of
    ``negatives_per_query`` other pairs of the same source, drawn with a seeded RNG. The files are
    the same on every run and every process, and each is written atomically, so the processes of a
    torchrun job can all write them."""
    rng = random.Random(seed)
    paths = sample_source_paths(output_dir)
    for package, path in zip(SAMPLE_PACKAGES, paths, strict=True):
        pairs, _ = mine_python_pairs(stdlib_root() / package)
        pairs = pairs[:SAMPLE_PAIRS_PER_SOURCE]
        if len(pairs) < 2:
            raise RuntimeError(f"dry run: found {len(pairs)} documented functions in the standard library's "
                               f"{package} package; give data.sources that exist instead")
        rows: list[dict[str, Any]] = [{"query": p.docstring, "positive": p.code} for p in pairs]
        if negatives_per_query:
            for i, row in enumerate(rows):
                others = [p.code for j, p in enumerate(pairs) if j != i]
                row["negatives"] = (rng.sample(others, negatives_per_query) if negatives_per_query <= len(others)
                                    else rng.choices(others, k=negatives_per_query))
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return paths


def default_output_dir(recipe_path: str | Path) -> Path:
    """A new folder under the system's temporary folder. Under torchrun the processes of one node
    share it (it is named after the launcher's process id), as they share ``train.output_dir``."""
    name = f"gtekit-dry-run-{Path(recipe_path).name.split('.')[0]}"
    if "LOCAL_RANK" in os.environ:  # set by torchrun for each process it starts
        folder = Path(tempfile.gettempdir()) / f"{name}-torchrun-{os.getppid()}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return Path(tempfile.mkdtemp(prefix=f"{name}-"))


def prepare_dry_run(recipe: Recipe, output_dir: str | Path) -> tuple[Recipe, list[str]]:
    """The shrunk recipe with its sample data written (when it needs some), and the lines that
    describe it (:func:`describe_dry_run`)."""
    shrunk = dry_run_recipe(recipe, output_dir)
    if shrunk.data.sources != recipe.data.sources:
        write_sample_sources(output_dir, sample_negatives(shrunk), seed=shrunk.train.seed)
    return shrunk, describe_dry_run(recipe, shrunk)


def sample_negatives(recipe: Recipe) -> int:
    """Negatives per sample pair: ``data.negatives_per_query``, or a curriculum's larger pool."""
    data = recipe.data
    return data.negatives_per_query if data.curriculum.kind == "none" else max(data.negatives_per_query,
                                                                               data.curriculum.pool)


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and key != "weights":
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
