"""One training run for the distributed tests: under torchrun (one process per rank) or in-process.

``python -m torch.distributed.run --standalone --nproc-per-node 2 distributed_worker.py SPEC.json``.
The spec gives recipe overrides and what to do (``float64``: train in double precision, so that
comparisons are not limited by float32 rounding); every rank writes ``rank{R}.json`` (losses, the
batches it trained on) and rank 0 writes the first step's gradients and the final weights as
safetensors under ``spec["out"]``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from safetensors.torch import save_file

from gtekit.config import load_recipe
from gtekit.training.step import train_step
from gtekit.training.trainer import Trainer, build_model


class Held:
    """Stands in for the optimizer and the scheduler: the step leaves its gradients and applies nothing."""

    def step(self) -> None:
        pass

    def zero_grad(self, set_to_none: bool = True) -> None:
        pass


def run(spec: dict) -> dict:
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    recipe = load_recipe(None, spec["overrides"])
    model = build_model(recipe).double() if spec.get("float64") else None
    trainer = Trainer(recipe, model=model)
    rank = trainer.group.rank
    batches: list[list] = []
    take = trainer.batches.next

    def recording_next():
        batch = take()
        batches.append([batch.source, batch.rows])
        return batch

    trainer.batches.next = recording_next
    result: dict = {"rank": rank, "world_size": trainer.group.world_size}
    if spec.get("first_gradients"):  # one step's gradients, neither clipped nor applied; then start over
        held = replace(trainer.step_parts, optimizer=Held(), scheduler=Held(),
                       settings=replace(recipe.train, max_grad_norm=0.0))
        result["first_loss"], *_ = train_step(held, trainer.batches.next())
        grads = {name: p.grad.detach().clone() for name, p in trainer.parts.named_parameters() if p.grad is not None}
        save_file(grads, str(out / f"grads-rank{rank}.safetensors"))
        trainer.optimizer.zero_grad(set_to_none=True)
        trainer._drop_prefetched()
        batches.clear()
    trained = trainer.train(resume=spec.get("resume", False), stop_after=spec.get("stop_after"))
    result.update(losses=trained.losses, batches=batches, step=trainer.step)
    if rank == 0:
        save_file({k: v.detach().contiguous() for k, v in trainer.parts.state_dict().items()},
                  str(out / "weights.safetensors"))
    (out / f"rank{rank}.json").write_text(json.dumps(result))
    return result


if __name__ == "__main__":
    import torch.distributed as dist

    run(json.loads(Path(sys.argv[1]).read_text()))
    if dist.is_initialized():
        dist.destroy_process_group()
