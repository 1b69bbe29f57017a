"""One training step, top to bottom: batch → embed → loss (row-blocked) → backward → clip → step.

:func:`train_step` is the whole step on this rank. It embeds each column of the batch (queries,
positives, hard negatives) directly, or through the gradient cache (``grad_cache``) when
``train.chunk_size`` > 0; gathers every rank's columns into the global batch (``distributed``);
computes this rank's rows of the loss (``gtekit.losses``, with what the recipe adds to it: in-batch false
negatives masked, a teacher's distillation term, Matryoshka prefixes: ``objective``)
``train.loss_block_size`` rows at a time (:func:`row_blocked`);
back-propagates it scaled by the one cross-process rule (``distributed.with_loss_scale``); averages a
trainable temperature's gradient over the ranks (DDP averages the encoder's); clips the gradient norm;
refuses a step whose loss or gradient is not finite (:class:`NonFiniteLossError`); and steps AdamW and
the learning-rate schedule. Everything it works with comes in one :class:`StepParts`. Depends on torch,
the losses and ``training.batches``' batch layout; knows nothing of the loop, logs or checkpoints
(``trainer``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn

from ..config import TrainConfig
from ..losses import Temperature, row_blocks, trainable
from .batches import PreparedBatch
from .distributed import ProcessGroup, gather_with_grad, with_loss_scale
from .grad_cache import cached_backward, to_device
from .objective import Objective


class NonFiniteLossError(RuntimeError):
    """The loss or the gradient norm of a step is NaN or infinite; the step was not applied."""


@dataclass
class StepParts:
    """What a training step works with."""

    engine: nn.Module  # runs the forward: the embedder, or DDP around it
    parts: nn.ModuleDict  # every trained module: "embedder", and "logit_scale" for a trainable τ
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    loss: Callable[..., Tensor]  # loss(q, d, negatives, temperature=τ, rows=slice), see gtekit.losses
    temperature: Temperature  # τ: a float, or the LogitScale in parts
    group: ProcessGroup
    settings: TrainConfig  # chunk_size, loss_block_size, bf16, max_grad_norm, output_dir
    objective: Objective = field(default_factory=Objective)  # the loss section's additions: masks, teacher,
    # Matryoshka prefixes


def train_step(s: StepParts, batch: PreparedBatch) -> tuple[float, int, dict[str, int]]:
    """One optimizer step on this rank's part of the global batch; every rank calls it. Returns the loss
    of the global batch, its non-padding tokens (both summed over ranks) and the logits each mask left out."""
    cfg, group = s.settings, s.group
    own_parameters = trainable(s.temperature)  # a trainable τ: outside DDP, so averaged below
    loss_fn, masked = s.objective.for_batch(s.loss, batch, group, cfg.loss_block_size)  # teacher, guide: once

    def loss_of(columns: list[Tensor]) -> Tensor:  # this rank's columns, each (n, H) -> its share L_r
        n = columns[0].size(0)
        gathered = [gather_with_grad(column, group) for column in columns]  # each (N, H), N = W·n, rank order
        rows = range(group.rank * n, (group.rank + 1) * n)  # this rank's rows of the global batch
        loss = row_blocked(partial(columns_loss, loss_fn, s.temperature), gathered, rows, cfg.loss_block_size,
                           own_parameters)
        return with_loss_scale(loss, group)  # its backward is that of loss_scale(group) · L_r

    if cfg.chunk_size:  # gradient cache: embed without a graph, backward to the columns, re-embed chunk by chunk
        loss = cached_backward(s.engine, batch.groups, loss_of, bf16=cfg.bf16)
    else:
        with torch.autocast(group.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            columns = [s.engine(to_device(chunk.features, group.device)) for (chunk,) in batch.groups]  # (n, H)
        loss = loss_of(columns)
        loss.backward()
    group.average_gradients(own_parameters)
    tokens = torch.tensor(float(batch.tokens), device=loss.device, dtype=torch.float64)
    totals = group.sum(torch.stack([loss.detach().double(), tokens]))  # (2,): Σ_r L_r, Σ_r tokens

    parameters = [p for p in s.parts.parameters() if p.grad is not None]
    norm = (torch.nn.utils.clip_grad_norm_(parameters, cfg.max_grad_norm) if cfg.max_grad_norm > 0
            else torch.nn.utils.get_total_norm([p.grad for p in parameters]))
    if not (math.isfinite(float(totals[0])) and math.isfinite(float(norm))):  # the same on every rank
        s.optimizer.zero_grad(set_to_none=True)
        raise NonFiniteLossError(non_finite_message(batch, float(totals[0]), float(norm), Path(cfg.output_dir)))
    s.optimizer.step()
    s.scheduler.step()
    s.optimizer.zero_grad(set_to_none=True)
    return float(totals[0]), int(totals[1]), masked


def columns_loss(loss: Callable[..., Tensor], temperature: Temperature, columns: Sequence[Tensor],
                 rows: slice | None = None) -> Tensor:
    """``loss`` on a batch laid out in columns: q (N, H), d (N, H) and, if used, the hard negatives (N·K, H),
    pair-major (query i's k-th negative is row i·K + k, as ``BatchPreparer.columns`` lists them)."""
    q, d, *rest = columns
    negatives = rest[0].view(q.size(0), -1, q.size(1)) if rest else None  # (N, K, H)
    return loss(q, d, negatives, temperature=temperature, rows=rows)


def row_blocked(loss: Callable[..., Tensor], columns: Sequence[Tensor], rows: range, block_size: int,
                parameters: Sequence[nn.Parameter] = ()) -> Tensor:
    """Σ over the blocks of :func:`~gtekit.losses.row_blocks` of ``loss(columns, rows=block)``: the loss of
    ``rows``, differentiable in ``columns`` and in ``parameters`` (tensors the loss reads besides the
    columns, e.g. a trainable τ; the only others it may read are constants).

    With more than one block, only one block of the similarity matrices exists at a time: the forward
    computes each block's loss without a graph, and the backward computes each block again with its
    graph, back-propagates it and frees it before the next (one more forward of the loss, which is a
    small part of a step). With one block (``block_size`` 0, or at least ``len(rows)``) it is
    ``loss(columns, rows=...)`` itself.
    """
    blocks = row_blocks(rows, block_size)
    if len(blocks) == 1:
        return loss(list(columns), rows=blocks[0])
    return _RowBlocked.apply(loss, blocks, len(columns), *columns, *parameters)


class _RowBlocked(torch.autograd.Function):
    """y = Σ_b loss(x, rows=b); dL/dx = Σ_b dL/dy · d loss(x, rows=b)/dx, one block's graph at a time."""

    @staticmethod
    def forward(ctx, loss: Callable[..., Tensor], blocks: list[slice], count: int, *tensors: Tensor) -> Tensor:
        columns = list(tensors[:count])
        ctx.loss, ctx.blocks = loss, blocks
        ctx.parameters = tensors[count:]  # leaves: kept as they are, so the loss reads these very tensors
        ctx.save_for_backward(*columns)
        return torch.stack([loss(columns, rows=block) for block in blocks]).sum()  # no graph in forward

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        columns = [column.detach().requires_grad_() for column in ctx.saved_tensors]  # each (N, H)
        inputs = [*columns, *(p for p in ctx.parameters if p.requires_grad)]
        totals: list[Tensor | None] = [None] * len(inputs)
        with torch.enable_grad():
            for block in ctx.blocks:
                part = ctx.loss(columns, rows=block)  # this block's graph, freed after the next line
                grads = torch.autograd.grad(part, inputs, grad_output, allow_unused=True)
                totals = [t if g is None else g if t is None else t + g for t, g in zip(totals, grads, strict=True)]
        found = iter(totals[len(columns):])
        parameter_grads = [next(found) if p.requires_grad else None for p in ctx.parameters]
        return None, None, None, *totals[:len(columns)], *parameter_grads


def non_finite_message(batch: PreparedBatch, loss: float, grad_norm: float, output_dir: Path) -> str:
    what = f"the loss is {loss}" if not math.isfinite(loss) else f"the loss is {loss:.4g} but the gradient " \
                                                                 f"norm is {grad_norm}"
    return (f"step {batch.step + 1} (source {batch.source!r}): {what}. Training stopped before applying it: the "
            f"newest checkpoint in {output_dir / 'checkpoints'} holds no NaN and --resume continues from it. Check "
            "loss.temperature (too small overflows), train.lr (too high diverges) and the data of that source.")
