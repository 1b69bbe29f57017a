"""Frozen models that score each batch once, without gradients: the teacher of ``loss.distill_teacher`` and
the guide of ``loss.guide_model``.

:meth:`Teacher.distilled` turns the step's loss into ``loss + w · KL(teacher ‖ student)`` over in-batch
similarities (``gtekit.losses.distillation``); a :class:`Guide`'s columns decide which in-batch candidates
are false negatives (GISTEmbed, ``gtekit.losses.false_negatives.guided``). Both embed the batch in eval mode,
chunk by chunk as the gradient cache does (:func:`frozen_columns`), and every rank's columns are gathered into
the global batch, so each rank's loss rows see the same similarities as one process would. A guide, and a
teacher of the student's vocabulary, read the batch's own token ids; a teacher with another vocabulary (a
larger model with its own tokenizer, such as all-mpnet-base-v2 for a MiniLM student) reads the same texts
tokenized by its own tokenizer (``PreparedBatch.teacher_groups``, made where the batch is prepared).
``"start"`` is the model the run starts from (``model.name``, loaded afresh, so a resumed run keeps the same
teacher or guide).

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
from .grad_cache import Chunk, to_device


def at_least_float32(x: Tensor) -> Tensor:
    """bf16 embeddings -> float32; float32 and float64 as they are."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def frozen_columns(model: Embedder, groups: list[list[Chunk]], group: ProcessGroup,
                   bf16: bool = False) -> list[Tensor]:
    """``model``'s global columns of a batch's tokenized ``groups`` (one list of chunks per column) without
    gradients, in the loss layout: q (N, H), d (N, H) and, with hard negatives, (N, K, H)."""
    columns = []
    with torch.no_grad(), torch.autocast(group.device.type, dtype=torch.bfloat16, enabled=bf16):
        for chunks in groups:
            parts = [(chunk.indices, at_least_float32(model(to_device(chunk.features, group.device))))
                     for chunk in chunks]
            column = parts[0][1].new_empty(sum(len(rows) for _, rows in parts), parts[0][1].size(1))
            for indices, rows in parts:
                column[indices.to(column.device)] = rows
            columns.append(gather_with_grad(column, group))  # no graph: a plain gather
    q, d, *rest = columns
    if rest:  # the hard negatives, pair-major (N·K, H) -> (N, K, H)
        return [q, d, rest[0].view(q.size(0), -1, q.size(1))]
    return [q, d]


class Teacher:
    """A frozen embedder whose in-batch similarities the student is pulled towards."""

    def __init__(self, model: Embedder, weight: float, temperature: float, group: ProcessGroup,
                 bf16: bool = False, own_tokens: bool = False) -> None:
        self.model = model.to(group.device).eval().requires_grad_(False)
        self.weight, self.temperature, self.group, self.bf16 = weight, temperature, group, bf16
        self.own_tokens = own_tokens  # another vocabulary: it reads PreparedBatch.teacher_groups

    def columns(self, batch: PreparedBatch) -> list[Tensor]:
        """The teacher's global columns of ``batch`` in the loss layout: q (N, H), d (N, H), negatives (N, K, H)."""
        if self.own_tokens and not batch.teacher_groups:
            raise ValueError("loss.distill_teacher has its own vocabulary, but the batch holds no texts in its tokens "
                             "(BatchPreparer(teacher_tokenizer=...))")
        groups = batch.teacher_groups if self.own_tokens else batch.groups
        return frozen_columns(self.model, groups, self.group, self.bf16)

    def distilled(self, loss: Callable[..., Tensor], batch: PreparedBatch) -> Callable[..., Tensor]:
        """``loss`` plus the weighted distillation term towards this batch's teacher similarities."""
        return with_distillation(loss, self.columns(batch), self.weight, self.temperature)


class Guide:
    """A frozen embedder whose similarities mask the in-batch candidates it scores above a row's positive."""

    def __init__(self, model: Embedder, margin: float, group: ProcessGroup, bf16: bool = False) -> None:
        self.model = model.to(group.device).eval().requires_grad_(False)
        self.margin, self.group, self.bf16 = margin, group, bf16

    def columns(self, batch: PreparedBatch) -> list[Tensor]:
        """The guide's global columns of ``batch`` in the loss layout, as :meth:`Teacher.columns`."""
        return frozen_columns(self.model, batch.groups, self.group, self.bf16)


def shares_vocabulary(model: Embedder, student: Embedder) -> bool:
    return model.tokenizer.get_vocab() == student.tokenizer.get_vocab()


def load_frozen(option: str, name: str, recipe: Recipe, student: Embedder, own_tokens_allowed: bool = False
                ) -> Embedder:
    """The model ``option`` (a ``loss.*`` key) names, in the student's precision: ``name``, or ``model.name`` for
    ``"start"``; one with another vocabulary is refused unless ``own_tokens_allowed``."""
    model = Embedder.load(recipe.model.name if name == "start" else name)
    if shares_vocabulary(model, student):
        model.packing = student.packing  # the student's batch layout, so that both see the same rows
    elif not own_tokens_allowed:
        raise ValueError(f"{option} {name!r} has another vocabulary than the student {recipe.model.name!r}; it "
                         "reads the student's token ids, so it must share them")
    return model.to(dtype=next(student.parameters()).dtype)  # float32, or float64 in tests


def load_teacher(recipe: Recipe, student: Embedder, group: ProcessGroup) -> Teacher | None:
    """The recipe's teacher, or None without ``loss.distill_teacher``; one with another vocabulary than the
    student reads the batch in its own tokens."""
    name = recipe.loss.distill_teacher
    if not name:
        return None
    model = load_frozen("loss.distill_teacher", name, recipe, student, own_tokens_allowed=True)
    return Teacher(model, recipe.loss.distill_weight, recipe.loss.distill_temperature, group, recipe.train.bf16,
                   own_tokens=not shares_vocabulary(model, student))


def load_guide(recipe: Recipe, student: Embedder, group: ProcessGroup) -> Guide | None:
    """The recipe's guide, or None without ``loss.guide_model``."""
    name = recipe.loss.guide_model
    if not name:
        return None
    return Guide(load_frozen("loss.guide_model", name, recipe, student), recipe.loss.guide_margin, group,
                 recipe.train.bf16)
