"""What a recipe's ``loss`` section adds around its contrastive loss, made into one batch's loss.

:meth:`Objective.for_batch` wraps the step's loss, innermost first:

1. in-batch false negatives left out of its denominators (``gtekit.losses.false_negatives``): candidates
   whose text is the row's query or positive (``loss.mask_duplicates``; the batch's per-text ids,
   gathered across processes like the embeddings) and candidates a guide model scores above the row's
   positive (``loss.guide_model``, GISTEmbed; the guide's columns, gathered likewise);
2. a teacher's distillation term (``loss.distill_teacher``, ``teacher``);
3. the sum over Matryoshka prefixes of the embeddings (``loss.matryoshka_dims``, ``gtekit.losses.matryoshka``),
   of the contrastive loss and of the distillation term alike.

Each wrapped loss is called as every loss is, so the gradient cache and the row blocks of ``step`` run it
unchanged. It also counts what each mask leaves out on the global batch (this rank's rows, summed over
the ranks), in the blocks of similarities the loss computes: ``masked_duplicates`` and ``masked_by_guide``
in the training log (a logit both masks leave out counts in both). Depends on torch, the losses,
``training.batches``' layout, ``distributed`` and ``teacher``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor

from ..config import Recipe
from ..losses import DIRECTIONS, Direction, ExcludedLogits, guided, matryoshka, row_blocks, same_text, with_exclusions
from ..model.embedder import Embedder
from .batches import PreparedBatch
from .distributed import ProcessGroup, gather_with_grad
from .teacher import Guide, Teacher, load_guide, load_teacher

Exclusions = Callable[[slice | None], ExcludedLogits]  # rows of the global batch -> their masks


@dataclass(frozen=True)
class Objective:
    """The additions of a recipe's ``loss`` section; the default adds nothing."""

    teacher: Teacher | None = None  # loss.distill_teacher
    guide: Guide | None = None  # loss.guide_model
    mask_duplicates: bool = False  # loss.mask_duplicates: needs the batches' text_ids
    directions: tuple[Direction, ...] = tuple(Direction)  # the blocks of similarities the loss computes
    matryoshka_dims: tuple[int, ...] = ()  # loss.matryoshka_dims; () : the full embeddings only
    matryoshka_weights: tuple[float, ...] = ()  # loss.matryoshka_weights; () : all 1

    def for_batch(self, loss: Callable[..., Tensor], batch: PreparedBatch, group: ProcessGroup,
                  block_size: int = 0) -> tuple[Callable[..., Tensor], dict[str, int]]:
        """``loss`` with this objective's additions for ``batch``, and the logits each mask leaves out of the
        global batch (counted ``block_size`` rows at a time, as the loss runs). Every rank calls it."""
        masks: dict[str, Exclusions] = {}
        if self.mask_duplicates:
            if not batch.text_ids:
                raise ValueError("loss.mask_duplicates compares texts: prepare the batches with their text ids "
                                 "(BatchPreparer(text_ids=True))")
            ids = [gather_with_grad(column.to(group.device), group) for column in batch.text_ids]  # each (N·…,)
            query_ids, positive_ids, *rest = ids
            negative_ids = rest[0].view(query_ids.size(0), -1) if rest else None  # (N, K), pair-major
            masks["masked_duplicates"] = partial(same_text, query_ids, positive_ids, negative_ids,
                                                 directions=self.directions)
        if self.guide is not None:
            masks["masked_by_guide"] = partial(guided, self.guide.columns(batch), self.guide.margin,
                                               directions=self.directions)
        counts: dict[str, int] = {}
        if masks:
            n = len(batch.rows)
            rows = range(group.rank * n, (group.rank + 1) * n)  # this rank's rows of the global batch
            counts = {name: masked_count(exclusions, rows, block_size, group) for name, exclusions in masks.items()}
            loss = with_exclusions(loss, partial(union, list(masks.values())))
        if self.teacher is not None:
            loss = self.teacher.distilled(loss, batch)
        if self.matryoshka_dims:
            loss = matryoshka(loss, self.matryoshka_dims, self.matryoshka_weights)
        return loss, counts


def union(masks: list[Exclusions], rows: slice | None) -> ExcludedLogits:
    """The logits any of ``masks`` leaves out, for ``rows``."""
    excluded = masks[0](rows=rows)
    for exclusions in masks[1:]:
        excluded = excluded | exclusions(rows=rows)
    return excluded


def masked_count(exclusions: Exclusions, rows: range, block_size: int, group: ProcessGroup) -> int:
    """The logits ``exclusions`` leaves out of ``rows``, summed over the ranks."""
    count = sum(exclusions(rows=block).count() for block in row_blocks(rows, block_size))
    return int(group.sum(torch.tensor(count, dtype=torch.int64, device=group.device)))


def load_objective(recipe: Recipe, student: Embedder, group: ProcessGroup) -> Objective:
    """The recipe's additions to its loss: its teacher and guide loaded (checked against ``student``)."""
    cfg = recipe.loss
    return Objective(teacher=load_teacher(recipe, student, group), guide=load_guide(recipe, student, group),
                     mask_duplicates=cfg.mask_duplicates, directions=DIRECTIONS[cfg.name],
                     matryoshka_dims=tuple(cfg.matryoshka_dims), matryoshka_weights=tuple(cfg.matryoshka_weights))
