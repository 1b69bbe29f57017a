"""Atomic, pickle-free training checkpoints.

A checkpoint is a folder ``checkpoints/step-NNNNNNN/`` holding
- ``model.safetensors``: the model's (and a trainable temperature's) parameters;
- ``optimizer.safetensors`` + ``optimizer.json``: optimizer tensors and their structure;
- ``rng.safetensors``: each process's torch (and CUDA) random state, so dropout continues exactly;
- ``trainer_state.json``: step, scheduler, sampler and any extra JSON state; written last.
The folder is written under a temporary name and renamed into place, so a crash mid-write
leaves the previous checkpoint as the latest complete one. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

logger = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"
PREFIX = "step-"


def save_checkpoint(directory: Path, step: int, model: nn.Module, optimizer_state: dict[str, Any],
                    state: dict[str, Any], keep: int = 2,
                    random_states: list[dict[str, torch.Tensor]] | None = None) -> Path:
    """Write checkpoint ``step`` under ``directory`` atomically and keep the newest ``keep`` ones.

    ``optimizer_state`` is a full ``optimizer.state_dict()`` (consolidated first when sharded);
    ``random_states`` holds :func:`random_state` of every rank, in rank order (default: this process's).
    """
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{PREFIX}{step:07d}"
    tmp = Path(tempfile.mkdtemp(dir=directory, prefix=f".tmp-{PREFIX}{step:07d}-"))
    try:
        save_model(model, str(tmp / "model.safetensors"))
        tensors, structure = _flatten_optimizer(optimizer_state)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        _write_json(tmp / "optimizer.json", structure)
        states = random_states if random_states is not None else [random_state(torch.device("cpu"))]
        save_file({f"rank{rank}.{key}": value for rank, entry in enumerate(states) for key, value in entry.items()},
                  str(tmp / "rng.safetensors"))
        _write_json(tmp / STATE_FILE, {"step": step, **state})  # last: marks the folder complete
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
    found = [p for p in directory.glob(f"{PREFIX}*") if (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name.removeprefix(PREFIX)))


def latest_checkpoint(directory: Path) -> Path | None:
    checkpoints = list_checkpoints(directory)
    return checkpoints[-1] if checkpoints else None


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, rank: int = 0,
                    device: torch.device | None = None) -> dict[str, Any]:
    """Restore model, optimizer and rank ``rank``'s random state in place; return the trainer state.

    A sharded optimizer takes the full state and keeps its own shard. A rank the checkpoint has no
    random state for (the job grew) keeps its seeded state, with a warning."""
    missing, unexpected = load_model(model, str(path / "model.safetensors"), strict=False)
    if unexpected or [name for name in missing if "pooler" not in name]:
        raise RuntimeError(f"{path}: checkpoint does not match the model (missing {missing}, "
                           f"unexpected {unexpected})")
    structure = json.loads((path / "optimizer.json").read_text())
    optimizer.load_state_dict(_unflatten_optimizer(load_file(str(path / "optimizer.safetensors")), structure))
    _restore_random_state(load_file(str(path / "rng.safetensors")), rank, device or torch.device("cpu"), path)
    return json.loads((path / STATE_FILE).read_text())


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
