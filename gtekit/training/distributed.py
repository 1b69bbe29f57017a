"""Training across processes and machines on PyTorch's own engine (torchrun + torch.distributed).

``torchrun --nproc-per-node N -m gtekit train RECIPE`` starts N processes; each reads its rank from the
environment torchrun sets, joins the process group (NCCL on GPUs, gloo on CPU) and trains on its slice
of every global batch. The pieces here:

- :class:`ProcessGroup`: rank, world size and device of this process, and the collectives the
  trainer needs (barrier, sum, averaging a trainable temperature's gradient); a single process is
  the same object with ``world_size == 1``, so the trainer has one code path;
- :func:`is_main_process`: whether this process prints, before any group exists;
- :func:`data_parallel` and :func:`adamw`: DDP around the model, and AdamW with its state sharded
  over the ranks (ZeroRedundancyOptimizer), with :func:`full_optimizer_state` to collect it;
- :func:`gather_with_grad`: every rank's embeddings concatenated in rank order, with the gradient
  flowing back to each rank's own rows;
- :func:`loss_scale`: the one place the loss is scaled for back-propagation, applied by
  :func:`with_loss_scale`;
- :func:`gather_tensors`: every rank's tensors (its random state, for a checkpoint).

Every call into ``torch.distributed`` in gtekit is in this module. Depends on torch only.
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ..model.device import resolve_device

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place in the job: ``rank`` of ``world_size``, on ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes logs, checkpoints and the final model."""
        return self.rank == 0

    def local_slice(self, per_rank: int) -> slice:
        """This rank's rows of a global batch of ``per_rank * world_size`` rows."""
        return slice(self.rank * per_rank, (self.rank + 1) * per_rank)

    def barrier(self) -> None:
        if self.is_distributed:
            dist.barrier()

    def sum(self, value: Tensor) -> Tensor:
        """Σ over ranks of a tensor (a copy; the input is left alone)."""
        value = value.detach().clone()
        if self.is_distributed:
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return value

    def average_gradients(self, parameters) -> None:
        """Average ``.grad`` over ranks for parameters that DDP does not manage (e.g. a trainable τ)."""
        if not self.is_distributed:
            return
        for parameter in parameters:
            if parameter.grad is not None:
                dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)
                parameter.grad.div_(self.world_size)


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_main_process() -> bool:
    """Rank 0 of a torchrun job (its ``RANK``), or a process run without torchrun: the one that prints."""
    return os.environ.get("RANK", "0") == "0"


def init_process_group(device_name: str = "auto", timeout_minutes: float = 30.0) -> ProcessGroup:
    """Join the job torchrun started (or return a single-process group when run without torchrun).

    The backend is NCCL when this rank trains on a GPU and gloo on CPU. ``device_name`` "auto" picks
    ``cuda:LOCAL_RANK`` when CUDA is available.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank if world_size > 1 else None)
    if world_size == 1:
        return ProcessGroup(device=device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(minutes=timeout_minutes),
                                device_id=device if device.type == "cuda" else None)
    group = ProcessGroup(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank,
                         device=device)
    logger.info("rank %d of %d on %s (%s backend)", group.rank, group.world_size, device, dist.get_backend())
    return group


def data_parallel(model: nn.Module, group: ProcessGroup, seed: int) -> nn.Module:
    """What runs the forward: ``model`` itself in one process; across processes, DDP around it (which
    broadcasts rank 0's weights), with each rank's random stream reseeded to ``seed + rank`` so that
    the ranks draw different dropout masks."""
    if not group.is_distributed:
        return model
    engine = nn.parallel.DistributedDataParallel(
        model, device_ids=[group.device] if group.device.type == "cuda" else None, broadcast_buffers=False)
    torch.manual_seed(seed + group.rank)
    return engine


def adamw(parameters: Iterable[nn.Parameter], group: ProcessGroup, lr: float, weight_decay: float,
          shard: bool = True) -> torch.optim.Optimizer:
    """AdamW; across processes with ``shard``, a ZeroRedundancyOptimizer that keeps 1/W of its state on
    each rank (ZeRO stage 1)."""
    parameters = list(parameters)
    if group.is_distributed and shard:
        from torch.distributed.optim import ZeroRedundancyOptimizer

        return ZeroRedundancyOptimizer(parameters, optimizer_class=torch.optim.AdamW, lr=lr,
                                       weight_decay=weight_decay)
    return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)


def full_optimizer_state(optimizer: torch.optim.Optimizer, group: ProcessGroup) -> dict | None:
    """The whole ``optimizer.state_dict()`` on rank 0 (a sharded optimizer's shards collected there; every
    rank calls this), None on the other ranks."""
    if hasattr(optimizer, "consolidate_state_dict"):  # ZeRO: collect the shards on rank 0
        optimizer.consolidate_state_dict(to=0)
    return optimizer.state_dict() if group.is_main else None


def gather_tensors(tensors: dict[str, Tensor], group: ProcessGroup) -> list[dict[str, Tensor]]:
    """Every rank's ``tensors`` (the same keys and shapes on each), in rank order, on the CPU; every rank
    calls this and gets them all."""
    if not group.is_distributed:
        return [tensors]
    gathered: list[dict[str, Tensor]] = [{} for _ in range(group.world_size)]
    for key, value in tensors.items():
        on_device = value.to(group.device)  # NCCL gathers GPU tensors only
        parts = [torch.empty_like(on_device) for _ in range(group.world_size)]
        dist.all_gather(parts, on_device)
        for rank, part in enumerate(parts):
            gathered[rank][key] = part.cpu()
    return gathered


class _GatherWithGrad(torch.autograd.Function):
    """y = [x_0; x_1; ...; x_{W-1}] (rank order); dL/dx_r = Σ_ranks' (dL_ranks'/dy)[rows of r]."""

    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:
        world_size = dist.get_world_size()
        tensor = tensor.contiguous()
        output = tensor.new_empty((world_size * tensor.size(0), *tensor.shape[1:]))
        dist.all_gather_into_tensor(output, tensor)
        ctx.rows = tensor.size(0)
        return output

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> Tensor:
        grad = grad_output.contiguous()
        if dist.get_backend() == dist.Backend.NCCL:
            local = grad.new_empty((ctx.rows, *grad.shape[1:]))
            dist.reduce_scatter_tensor(local, grad, op=dist.ReduceOp.SUM)
            return local
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)  # gloo has no reduce-scatter
        rank = dist.get_rank()
        return grad[rank * ctx.rows:(rank + 1) * ctx.rows].clone()


def gather_with_grad(tensor: Tensor, group: ProcessGroup) -> Tensor:
    """Every rank's ``tensor`` (n, ...) stacked in rank order: (W·n, ...); gradients reach each rank's
    own rows, summed over the ranks whose loss used them. Identity in a single process."""
    if not group.is_distributed:
        return tensor
    return _GatherWithGrad.apply(tensor)


def loss_scale(group: ProcessGroup) -> float:
    """The factor on each rank's loss before ``backward()``, the one loss-scaling rule of gtekit.

    Rank r computes L_r = (1/N) Σ_{i ∈ rows of r} ℓ_i over the N = W·n rows of the global batch, so
    Σ_r L_r = L, the loss one process would compute on the whole batch. ``gather_with_grad`` sums
    each embedding's gradient over ranks, giving dL/dx_r, and DDP then *averages* parameter
    gradients over the W ranks; back-propagating W·L_r makes the averaged gradient exactly dL/dθ.
    The logged loss is Σ_r L_r (:meth:`ProcessGroup.sum`), unscaled.
    """
    return float(group.world_size)


class _ScaleGradient(torch.autograd.Function):
    """y = x; dL/dx = s · dL/dy."""

    @staticmethod
    def forward(ctx, loss: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return loss.clone()

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor, None]:
        return grad_output * ctx.scale, None


def with_loss_scale(loss: Tensor, group: ProcessGroup) -> Tensor:
    """``loss`` (this rank's L_r, the value to log), whose ``backward()`` back-propagates
    ``loss_scale(group) · loss``; ``loss`` itself in a single process."""
    if not group.is_distributed:
        return loss
    return _ScaleGradient.apply(loss, loss_scale(group))
