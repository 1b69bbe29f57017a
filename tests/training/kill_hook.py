"""Run the ``gtekit`` command in this process and SIGKILL it at a chosen point, as a crash would.

``python tests/training/kill_hook.py POINT train recipe.yaml [--resume]``, where POINT is

- ``none``: never (an uninterrupted run);
- ``step:K``: during training step K, after its backward and before the optimizer applies it;
- ``checkpoint:K:N``: while the checkpoint of step K is written, right after its N-th file (1-6);
- ``model``: while the final model folder is written, after its files and before it is renamed into place.

SIGKILL gives the process no chance to flush, close or clean up: what is on disk is what a crash leaves.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

from gtekit.cli.main import main
from gtekit.model.embedder import Embedder
from gtekit.training import checkpoint
from gtekit.training import trainer as trainer_module


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class DieOnStep:
    """Stands in for the optimizer of one step: applying it kills the process."""

    def step(self) -> None:
        die()


def arm(point: str) -> None:
    kind, *args = point.split(":")
    if kind == "none":
        return
    if kind == "step":
        step, run_step = int(args[0]), trainer_module.train_step

        def step_then_die(parts, batch):
            if batch.step + 1 == step:  # let the step compute everything, then die as AdamW would apply it
                parts = replace(parts, optimizer=DieOnStep())
            return run_step(parts, batch)

        trainer_module.train_step = step_then_die
    elif kind == "checkpoint":
        step, count = int(args[0]), int(args[1])
        folder_prefix = f"{checkpoint.TMP_PREFIX}{step:07d}-"
        written: list[Path] = []
        for name in ("save_model", "save_file", "_write_json"):
            setattr(checkpoint, name, _counting(getattr(checkpoint, name), folder_prefix, written, count))
    elif kind == "model":
        save = Embedder.save

        def save_then_die(self, path):
            folder = save(self, path)
            if Path(path).name.startswith(".tmp-") and Path(path).name.endswith("-model"):
                die()
            return folder

        Embedder.save = save_then_die
    else:
        raise SystemExit(f"unknown kill point {point!r}; valid: none, step:K, checkpoint:K:N, model")


def _counting(write, folder_prefix: str, written: list[Path], count: int):
    """``write`` (a function writing one checkpoint file), dying after the ``count``-th file of the folder."""

    def write_then_maybe_die(*args, **kwargs):
        result = write(*args, **kwargs)
        file = Path(next(arg for arg in args if isinstance(arg, str | Path)))
        if file.parent.name.startswith(folder_prefix):
            written.append(file)
            if len(written) == count:
                die()
        return result

    return write_then_maybe_die


if __name__ == "__main__":
    arm(sys.argv[1])
    sys.exit(main(sys.argv[2:]))
