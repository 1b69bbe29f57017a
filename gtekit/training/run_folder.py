"""One training run per output folder: refuse to mix two, and resume only with the recipe that started it.

A folder holds a run when it has any of ``RUN_MARKS`` (checkpoints, ``train_log.jsonl``, the final
model). Training into it again needs a decision:

- ``--resume`` continues that run from its newest intact checkpoint. The new recipe is compared with the
  stored ``recipe.yaml``: every setting that changes what is trained (the model, the data, the loss, the
  optimisation: ``train.lr``, ``train.batch_size``, ``train.chunk_size``, ``train.seed``, ...) must be the
  same, or the resume is refused with a list of what changed (old -> new). Only ``RESUMABLE`` settings
  may change: bookkeeping, where and how fast the work runs, and ``train.steps``, to extend or shorten a
  run (the learning-rate schedule, and a negatives curriculum, then run to the new last step from the
  step resumed on).
- ``--overwrite`` deletes the old run's files (``RUN_FILES``) first; other files in the folder (data a
  quickstart or dry run put there) stay.

Depends on ``gtekit.config`` and ``train_log``, not on torch: the command line lists ``RESUMABLE`` in its help.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import yaml

from ..config import ConfigError, Recipe
from ..io.atomic import remove_leftovers as remove_temporary_copies
from .train_log import LOG_FILE

logger = logging.getLogger(__name__)

RECIPE_FILE = "recipe.yaml"
SOURCES_FILE = "sources.json"  # the training sources: sizes, licences (run_summary)
CURVES_FILE = "curves.png"  # loss, learning rate and validation drawn from the log (curves)
TENSORBOARD_DIR = "tensorboard"  # the log's scalars as TensorBoard event files (tensorboard_log)
RUN_MARKS = ("checkpoints", LOG_FILE, "model")  # any of these: the folder holds a run
RUN_FILES = (*RUN_MARKS, "best_model", RECIPE_FILE, SOURCES_FILE, CURVES_FILE, TENSORBOARD_DIR)  # --overwrite: deleted
RESUMABLE = (  # settings that may differ from the stored recipe on --resume
    "train.steps",  # extend (or shorten) the run
    "train.output_dir",  # the same folder, however it is spelled
    "train.log_every", "train.save_every", "train.keep_checkpoints",  # bookkeeping
    "train.save_adapter",  # what the final model folder holds besides the merged model
    "train.device", "train.data_workers", "train.prefetch",  # where and how fast, not what
    "train.zero_optimizer", "train.gradient_checkpointing", "train.recompute",  # memory levers: same results
    "eval.every", "eval.batch_size",  # how often validation runs, and its batches
    "data.resident_shards", "data.guard_tasks",  # memory, and a check before training
)


class RunFolderError(ValueError):
    """An output folder that holds another run, or a resume whose recipe changes what was trained."""


def run_marks(output_dir: Path) -> list[str]:
    """The names of ``RUN_MARKS`` present in ``output_dir``: empty when no run was started there."""
    return [name for name in RUN_MARKS if (output_dir / name).exists()]


def check_fresh_folder(output_dir: Path, overwrite: bool) -> None:
    """Refuse to start a run in a folder that holds one, unless ``overwrite``."""
    found = run_marks(output_dir)
    if found and not overwrite:
        raise RunFolderError(f"{output_dir} already holds a training run ({', '.join(found)}): pass --resume to "
                             "continue it from its newest checkpoint, or --overwrite to delete it and start again "
                             "(or set another train.output_dir)")


def clear_run(output_dir: Path) -> list[str]:
    """Delete the files of the run in ``output_dir`` (``RUN_FILES``); return the names deleted."""
    deleted = []
    for name in RUN_FILES:
        path = output_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        deleted.append(name)
    return deleted


def remove_leftovers(output_dir: Path) -> list[Path]:
    """Delete the temporary copies (``.tmp-PID-NAME``) of the model, best model, recipe, sources and curves that
    writes cut short by a crash left; none is ever valid (``checkpoint.remove_temporary_checkpoints`` does the
    same for checkpoints)."""
    leftovers = remove_temporary_copies(output_dir, ("model", "best_model", RECIPE_FILE, SOURCES_FILE, CURVES_FILE))
    for path in leftovers:
        logger.warning("removed %s, left by an interrupted write", path)
    return leftovers


def check_resumable(output_dir: Path, recipe: Recipe) -> None:
    """Refuse to resume the run in ``output_dir`` with a recipe that changes what it trains (see the module
    docstring); a run without a stored recipe is resumed with a warning."""
    stored_file = output_dir / RECIPE_FILE
    try:
        stored = yaml.safe_load(stored_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        logger.warning("%s is missing: cannot check that the recipe is the one the run started with", stored_file)
        return
    except yaml.YAMLError as error:
        raise ConfigError(f"{stored_file}: not valid YAML ({error}); it records the recipe of the run being "
                          "resumed: restore it, or delete it to resume without the check") from None
    if not isinstance(stored, dict):
        raise ConfigError(f"{stored_file}: a recipe is a mapping of sections, got {type(stored).__name__}")
    changes = changed_settings(stored, recipe.to_dict())
    refused = [change for change in changes if not _resumable(change[0])]
    if refused:
        listed = "\n  ".join(f"{key}: {old!r} -> {new!r}" for key, old, new in refused)
        raise RunFolderError(
            f"cannot resume the run in {output_dir}: the recipe changes what it trains (compared with "
            f"{stored_file}):\n  {listed}\nOnly these may change on --resume: {', '.join(RESUMABLE)}. To train "
            "with the new settings, start a new run: another train.output_dir, or --overwrite to replace this one.")
    for key, old, new in changes:
        logger.warning("resuming with %s: %r -> %r", key, old, new)


def changed_settings(stored: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(dotted key, old, new)`` for every setting that differs; a key the stored recipe lacks (written by an
    older gtekit) counts as its default."""
    defaults = Recipe().to_dict()
    before = {**_flatten(defaults, defaults), **_flatten(stored, defaults)}
    after = _flatten(new, defaults)
    missing = "(unset)"
    keys = dict.fromkeys([*after, *before])
    return [(key, before.get(key, missing), after.get(key, missing)) for key in keys
            if before.get(key, missing) != after.get(key, missing)]


def _resumable(key: str) -> bool:
    return any(key == allowed or key.startswith(allowed + ".") for allowed in RESUMABLE)


def _flatten(config: dict[str, Any], sections: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train.lr": ...}``: nested sections (the non-empty mappings of ``sections``, a default recipe) are
    opened; every other value, a mapping like ``data.weights`` included, is one setting."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        section = sections.get(key) if isinstance(sections, dict) else None
        if isinstance(section, dict) and section and isinstance(value, dict):
            flat.update(_flatten(value, section, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
