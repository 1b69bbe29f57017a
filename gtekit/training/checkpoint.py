"""Atomic, pickle-free training checkpoints.

A checkpoint is a folder ``checkpoints/step-NNNNNNN/`` holding
- ``model.safetensors``: the model's (and a trainable temperature's) parameters;
- ``optimizer.safetensors`` + ``optimizer.json``: optimizer tensors and their structure;
- ``rng.safetensors``: each process's torch (and CUDA) random state, so dropout continues exactly;
- ``trainer_state.json``: step, scheduler, sampler and any extra JSON state;
- ``manifest.json``: the size and SHA-256 of each of those files; written last.
The folder is written under a temporary name (``.tmp-step-NNNNNNN-*``) and renamed into place, so a crash
mid-write leaves the previous checkpoint as the latest complete one; ``remove_temporary_checkpoints``
deletes what such a crash left. A checkpoint damaged afterwards (a file cut short or changed on disk) is
found by ``verify_checkpoint``, and ``newest_intact_checkpoint`` then falls back to the one before it.
Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

logger = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"
MANIFEST_FILE = "manifest.json"
FILES = ("model.safetensors", "optimizer.safetensors", "optimizer.json", "rng.safetensors", STATE_FILE)
PREFIX = "step-"
TMP_PREFIX = f".tmp-{PREFIX}"
T = TypeVar("T")


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file that is missing, cut short, changed since it was written, or unreadable."""


def save_checkpoint(directory: Path, step: int, model: nn.Module, optimizer_state: dict[str, Any],
                    state: dict[str, Any], keep: int = 2,
                    random_states: list[dict[str, torch.Tensor]] | None = None) -> Path:
    """Write checkpoint ``step`` under ``directory`` atomically and keep the newest ``keep`` ones.

    ``optimizer_state`` is a full ``optimizer.state_dict()`` (consolidated first when sharded);
    ``random_states`` holds :func:`random_state` of every rank, in rank order (default: this process's).
    """
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{PREFIX}{step:07d}"
    tmp = Path(tempfile.mkdtemp(dir=directory, prefix=f"{TMP_PREFIX}{step:07d}-"))
    try:
        save_model(model, str(tmp / "model.safetensors"))
        tensors, structure = _flatten_optimizer(optimizer_state)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        _write_json(tmp / "optimizer.json", structure)
        states = random_states if random_states is not None else [random_state(torch.device("cpu"))]
        save_file({f"rank{rank}.{key}": value for rank, entry in enumerate(states) for key, value in entry.items()},
                  str(tmp / "rng.safetensors"))
        _write_json(tmp / STATE_FILE, {"step": step, **state})
        _write_json(tmp / MANIFEST_FILE, {"files": {name: _fingerprint(tmp / name) for name in FILES}})
        _fsync_tree(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in list_checkpoints(directory)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(directory: Path) -> list[Path]:
    """Complete checkpoints under ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.glob(f"{PREFIX}*")
             if p.name.removeprefix(PREFIX).isdigit() and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name.removeprefix(PREFIX)))


def latest_checkpoint(directory: Path) -> Path | None:
    checkpoints = list_checkpoints(directory)
    return checkpoints[-1] if checkpoints else None


def remove_temporary_checkpoints(directory: Path) -> list[Path]:
    """Delete the ``.tmp-step-*`` folders that checkpoint writes cut short by a crash left under ``directory``
    (never valid: a checkpoint is complete only once renamed); return what was deleted."""
    leftovers = sorted(p for p in directory.glob(f"{TMP_PREFIX}*") if p.is_dir()) if directory.is_dir() else []
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
        logger.warning("removed %s, left by an interrupted checkpoint write", path)
    return leftovers


def verify_checkpoint(path: Path) -> None:
    """Raise CorruptCheckpointError naming the first file of checkpoint ``path`` that is missing, has another
    size or SHA-256 than its manifest records, or cannot be read (checkpoints without a manifest: read only)."""
    manifest = path / MANIFEST_FILE
    if manifest.is_file():
        files = _read_file(manifest, lambda: json.loads(manifest.read_text()))
        entries = files.get("files") if isinstance(files, dict) else None
        if not isinstance(entries, dict):
            raise CorruptCheckpointError(f"{manifest}: no \"files\" object")
        for name, expected in entries.items():
            if not isinstance(expected, dict):
                raise CorruptCheckpointError(f"{manifest}: the entry of {name!r} is not an object")
            found = _fingerprint(path / name) if (path / name).is_file() else None
            if found is None:
                raise CorruptCheckpointError(f"{path / name}: missing (listed in {MANIFEST_FILE})")
            if found["bytes"] != expected.get("bytes"):
                raise CorruptCheckpointError(f"{path / name}: {found['bytes']} bytes, but {expected.get('bytes')} "
                                             f"were written (cut short or changed)")
            if found["sha256"] != expected.get("sha256"):
                raise CorruptCheckpointError(f"{path / name}: its content changed since it was written "
                                             f"(SHA-256 differs from {MANIFEST_FILE})")
    for name in FILES:
        file = path / name
        if not file.is_file():
            raise CorruptCheckpointError(f"{file}: missing")
        if name.endswith(".safetensors"):
            _read_file(file, lambda file=file: _read_safetensors_header(file))
        else:
            _read_file(file, lambda file=file: json.loads(file.read_text()))


def newest_intact_checkpoint(directory: Path) -> Path | None:
    """The newest checkpoint under ``directory`` that passes ``verify_checkpoint``; each newer one that does
    not is named in a warning. None when there is none at all; CorruptCheckpointError when none is intact."""
    problems = []
    for path in reversed(list_checkpoints(directory)):
        try:
            verify_checkpoint(path)
        except CorruptCheckpointError as error:
            logger.warning("checkpoint %s is damaged, not resuming from it: %s", path.name, error)
            problems.append(str(error))
            continue
        if problems:
            logger.warning("resuming from %s instead, the newest intact checkpoint", path)
        return path
    if problems:
        raise CorruptCheckpointError(f"{directory}: no intact checkpoint to resume from:\n  " + "\n  ".join(problems))
    return None


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, rank: int = 0,
                    device: torch.device | None = None) -> dict[str, Any]:
    """Restore model, optimizer and rank ``rank``'s random state in place; return the trainer state.

    A sharded optimizer takes the full state and keeps its own shard. A rank the checkpoint has no
    random state for (the job grew) keeps its seeded state, with a warning. A file that cannot be read
    raises CorruptCheckpointError naming it."""
    weights = path / "model.safetensors"
    missing, unexpected = _read_file(weights, lambda: load_model(model, str(weights), strict=False))
    if unexpected or [name for name in missing if "pooler" not in name]:
        raise RuntimeError(f"{path}: checkpoint does not match the model (missing {missing}, "
                           f"unexpected {unexpected})")
    structure = _read_file(path / "optimizer.json", lambda: json.loads((path / "optimizer.json").read_text()))
    tensors = _read_file(path / "optimizer.safetensors", lambda: load_file(str(path / "optimizer.safetensors")))
    optimizer.load_state_dict(_unflatten_optimizer(tensors, structure))
    random_states = _read_file(path / "rng.safetensors", lambda: load_file(str(path / "rng.safetensors")))
    _restore_random_state(random_states, rank, device or torch.device("cpu"), path)
    return _read_file(path / STATE_FILE, lambda: json.loads((path / STATE_FILE).read_text()))


def _read_file(file: Path, read: Callable[[], T]) -> T:
    """``read()``, with a file that is missing, cut short or not what it should be raised as
    CorruptCheckpointError naming ``file``."""
    try:
        return read()
    except FileNotFoundError:
        raise CorruptCheckpointError(f"{file}: missing") from None
    except json.JSONDecodeError as error:
        raise CorruptCheckpointError(f"{file}: not valid JSON ({error.msg} at line {error.lineno}, column "
                                     f"{error.colno}); the file was cut short or changed") from None
    except (SafetensorError, UnicodeDecodeError) as error:
        raise CorruptCheckpointError(f"{file}: not a readable safetensors file ({error}); the file was cut "
                                     "short or changed") from None


def _read_safetensors_header(file: Path) -> None:
    """Read the header of a safetensors file; safetensors checks that the data it describes is all there."""
    with safe_open(str(file), framework="pt") as handle:
        handle.keys()


def _fingerprint(file: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return {"bytes": file.stat().st_size, "sha256": digest.hexdigest()}


def _flatten_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in state_dict["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], structure: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    for index, values in structure["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": structure["param_groups"]}


def random_state(device: torch.device) -> dict[str, torch.Tensor]:
    """This process's torch random state and, when it trains on a GPU, that GPU's."""
    tensors = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        tensors["cuda"] = torch.cuda.get_rng_state(device)
    return tensors


def _restore_random_state(tensors: dict[str, torch.Tensor], rank: int, device: torch.device, path: Path) -> None:
    prefix = f"rank{rank}."
    if prefix + "torch" not in tensors:
        logger.warning("%s holds no random state for rank %d: dropout continues from the seed", path, rank)
        return
    torch.set_rng_state(tensors[prefix + "torch"])
    if device.type == "cuda" and prefix + "cuda" in tensors:
        torch.cuda.set_rng_state(tensors[prefix + "cuda"], device)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2))


def _fsync_tree(folder: Path) -> None:
    for file in folder.iterdir():
        if file.is_file():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
