"""The teacher of ``loss.distill_teacher``: a frozen model embedding each batch once, without gradients.

:meth:`Teacher.distilled` turns the step's loss into ``loss + w · KL(teacher ‖ student)`` over in-batch
similarities (``gtekit.losses.distillation``). The teacher embeds the batch's own token ids (it must share
the student's vocabulary), in eval mode, chunk by chunk as the gradient cache does, and every rank's
teacher columns are gathered into the global batch, so each rank's loss rows see the same teacher
similarities as one process would. ``"start"`` is the model the run starts from (``model.name``, loaded
afresh, so a resumed run distils towards the same teacher).

Depends on torch, the losses, ``training.batches``' layout and ``distributed``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..config import Recipe
from ..losses.distillation import with_distillation
from ..model.embedder import Embedder
from .batches import PreparedBatch
from .distributed import ProcessGroup, gather_with_grad
from .grad_cache import to_device


class Teacher:
    """A frozen embedder whose in-batch similarities the student is pulled towards."""

    def __init__(self, model: Embedder, weight: float, temperature: float, group: ProcessGroup,
                 bf16: bool = False) -> None:
        self.model = model.to(group.device).eval().requires_grad_(False)
        self.weight, self.temperature, self.group, self.bf16 = weight, temperature, group, bf16

    def columns(self, batch: PreparedBatch) -> list[Tensor]:
        """The teacher's global columns of ``batch`` in the loss layout: q (N, H), d (N, H), negatives (N, K, H)."""
        columns = []
        with torch.no_grad(), torch.autocast(self.group.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            for chunks in batch.groups:
                parts = [(chunk.indices, self.model(to_device(chunk.features, self.group.device)).float())
                         for chunk in chunks]
                column = parts[0][1].new_empty(sum(len(rows) for _, rows in parts), parts[0][1].size(1))
                for indices, rows in parts:
                    column[indices.to(column.device)] = rows
                columns.append(gather_with_grad(column, self.group))  # no graph: a plain gather
        q, d, *rest = columns
        if rest:  # the hard negatives, pair-major (N·K, H) -> (N, K, H)
            return [q, d, rest[0].view(q.size(0), -1, q.size(1))]
        return [q, d]

    def distilled(self, loss: Callable[..., Tensor], batch: PreparedBatch) -> Callable[..., Tensor]:
        """``loss`` plus the weighted distillation term towards this batch's teacher similarities."""
        return with_distillation(loss, self.columns(batch), self.weight, self.temperature)


def load_teacher(recipe: Recipe, student: Embedder, group: ProcessGroup) -> Teacher | None:
    """The recipe's teacher, or None without ``loss.distill_teacher``; refuses one with another vocabulary."""
    name = recipe.loss.distill_teacher
    if not name:
        return None
    model = Embedder.load(recipe.model.name if name == "start" else name)
    if model.tokenizer.get_vocab() != student.tokenizer.get_vocab():
        raise ValueError(f"loss.distill_teacher {name!r} has another vocabulary than the student "
                         f"{recipe.model.name!r}; the teacher reads the student's token ids, so it must share them")
    model.to(dtype=next(student.parameters()).dtype)  # the student's precision (float32, or float64 in tests)
    return Teacher(model, recipe.loss.distill_weight, recipe.loss.distill_temperature, group, recipe.train.bf16)
