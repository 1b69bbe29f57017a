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
from pathlib import Path

from safetensors.torch import save_file

from gtekit.config import load_recipe
from gtekit.training.trainer import Trainer, build_model


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
    if spec.get("first_gradients"):  # one backward without a step, then start over from the same state
        loss = trainer.backward(trainer.batches.next())
        result["first_loss"] = float(trainer.group.sum(loss))
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
