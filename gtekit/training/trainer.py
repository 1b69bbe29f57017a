"""The training loop: batch → embed → loss → backward → clip → step.

One source per batch (GTE Eq. 4 sampler), optionally an easy-to-hard curriculum over each pair's hard
negatives (``gtekit.data.curriculum``), AdamW, warm-up then linear decay, optional bf16 autocast, a log
line per step, atomic checkpoints and exact resume (``run_folder``: one run per output folder; ``train_log``:
the log survives crashes). A loss or gradient that is not finite stops the run before the optimizer applies
it (``NonFiniteLossError``), so neither a checkpoint nor the model ever holds NaN. Batches are read and
tokenized in DataLoader worker processes (``training.batches``) while the step computes. The same loop runs
in one process or in every process of a torchrun job: each rank embeds its slice of the global batch, the
embeddings are gathered with gradients, each rank's loss covers its own rows (scaled by
``distributed.loss_scale``), DDP averages gradients and ZeroRedundancyOptimizer shards AdamW's state.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..config import Recipe, Recompute, recipe_to_yaml
from ..data.pairs import Pair
from ..data.sampler import SourceSampler
from ..evaluation.guard import check_no_evaluation_overlap
from ..io.atomic import atomic_path
from ..losses import LogitScale, get_loss, row_blocks
from ..model.embedder import Embedder
from .batches import BatchLoader, BatchPreparer, BatchStream, PreparedBatch
from .checkpoint import (
    load_checkpoint,
    newest_intact_checkpoint,
    random_state,
    remove_temporary_checkpoints,
    save_checkpoint,
)
from .distributed import ProcessGroup, gather_with_grad, init_process_group, loss_scale
from .grad_cache import cached_backward, to_device
from .recipe_parts import (
    build_model,
    check_mixture_names,
    check_positions,
    load_training_sources,
    negative_curriculum,
    seed_everything,
)
from .recompute import enable_recompute
from .run_folder import RECIPE_FILE, check_fresh_folder, check_resumable, clear_run, remove_leftovers
from .schedule import warmup_linear_decay
from .train_log import LOG_FILE, TrainLog, truncate_log
from .validation import Validation

logger = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """The loss or the gradient norm of a step is NaN or infinite; the step was not applied."""


@dataclass
class TrainResult:
    model_dir: Path
    steps: int
    losses: list[float] = field(default_factory=list)


class Trainer:
    """Runs a recipe. ``Trainer(recipe).train()`` writes checkpoints and the final model folder."""

    def __init__(self, recipe: Recipe, model: Embedder | None = None, sources: list | None = None,
                 group: ProcessGroup | None = None):
        self.recipe = recipe
        cfg = recipe.train
        self.output_dir = Path(cfg.output_dir)
        self.group = group if group is not None else init_process_group(cfg.device)
        self.device = self.group.device
        if cfg.batch_size % self.group.world_size:
            raise ValueError(f"train.batch_size={cfg.batch_size} is the global batch: it must divide evenly "
                             f"over the {self.group.world_size} processes")
        self.per_rank = cfg.batch_size // self.group.world_size
        seed_everything(cfg.seed)  # the same initial weights on every rank
        self.model = (model if model is not None else build_model(recipe)).to(self.device)
        check_positions(self.model, recipe.model.name)
        if cfg.gradient_checkpointing or cfg.recompute == Recompute.SELECTIVE:
            enable_recompute(self.model.encoder, selective=not cfg.gradient_checkpointing)
        data = recipe.data
        self.curriculum = negative_curriculum(recipe)
        self.sources = sources if sources is not None else load_training_sources(recipe, self.curriculum)
        if data.guard_tasks:
            check_no_evaluation_overlap(self.sources, data.guard_tasks)
        names = [s.name for s in self.sources]
        check_mixture_names(data.weights, data.caps, data.prefixes, names)
        # every rank builds the same sampler: all draw the same source and global batch each step
        self.sampler = SourceSampler(
            [s.shard_sizes for s in self.sources], cfg.batch_size, alpha=data.alpha, seed=cfg.seed,
            weights=[data.weights.get(n, 1.0) for n in names], names=names, caps=[data.caps.get(n) for n in names])
        self._sampler_state = self.sampler.state_dict()  # position after the last batch trained on
        self.preparer = BatchPreparer(self.sources, self.model.tokenizer, self.model.settings,
                                      self.group.local_slice(self.per_rank), cfg.chunk_size, data.negatives_per_query,
                                      data.prefixes, self.curriculum)
        self.loss_fn = get_loss(recipe.loss.name)
        self.parts = nn.ModuleDict({"embedder": self.model})
        if recipe.loss.name == "symmetric":
            self.parts["logit_scale"] = LogitScale(recipe.loss.temperature).to(self.device)
        self.engine: nn.Module = self.model  # what runs the forward: the model, or DDP around it
        if self.group.is_distributed:
            self.engine = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device] if self.device.type == "cuda" else None,
                broadcast_buffers=False)
            torch.manual_seed(cfg.seed + self.group.rank)  # different dropout masks on each rank
        self.optimizer = self._build_optimizer()
        self.scheduler = warmup_linear_decay(self.optimizer, cfg.steps, cfg.warmup_ratio)
        self.step = 0
        self.validation = Validation(recipe.eval, self.output_dir)
        self.source_stats: dict[str, dict[str, float]] = {
            n: {"steps": 0, "pairs": 0, "tokens": 0, "loss": 0.0, "skipped": 0} for n in names}
        self.batches = BatchLoader(self._open_stream, workers=cfg.data_workers, prefetch=cfg.prefetch,
                                   pin_memory=self.device.type == "cuda")
        self._log: TrainLog | None = None  # open during train(), rank 0 only
        self._started = False  # train() has claimed the output folder

    def _build_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.recipe.train
        params = [p for p in self.parts.parameters() if p.requires_grad]
        if self.group.is_distributed and cfg.zero_optimizer:
            from torch.distributed.optim import ZeroRedundancyOptimizer

            return ZeroRedundancyOptimizer(params, optimizer_class=torch.optim.AdamW, lr=cfg.lr,
                                           weight_decay=cfg.weight_decay)
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    # ------------------------------------------------------------------ one step
    def _open_stream(self) -> BatchStream:
        """The batches from the one after the last batch trained on (the loader opens one after each close)."""
        self.sampler.load_state_dict(self._sampler_state)
        return BatchStream(self.sampler, self.preparer, first_step=self.step)

    def columns(self, pairs: list[Pair]) -> list[tuple[list[str], str]]:
        """The batch as columns of (texts, kind): queries, positives and, if used, hard negatives (B·K)."""
        return self.preparer.columns(pairs, self.step)

    def loss_from_embeddings(self, embeddings: list[Tensor], rows: slice | None = None) -> Tensor:
        """The recipe's loss on the global batch's columns: q (N, H), d (N, H) and negatives (N·K, H);
        with ``rows``, only those rows' terms (see ``gtekit.losses``)."""
        q, d, *rest = embeddings
        negatives = rest[0].view(q.size(0), -1, q.size(1)) if rest else None  # (N, K, H)
        if "logit_scale" in self.parts:
            return self.loss_fn(q, d, self.parts["logit_scale"].value, rows=rows)
        return self.loss_fn(q, d, negatives, temperature=self.recipe.loss.temperature, rows=rows)

    def backward_to_embeddings(self, columns: list[Tensor]) -> Tensor:
        """Back-propagate the loss into this rank's ``columns`` (n, H); return this rank's share of it.

        The columns of every rank are gathered into the global batch (N = W·n rows). This rank's
        loss covers its own n rows, ``train.loss_block_size`` rows at a time, so only a block of the
        similarity matrices exists at once; the gradients collected on the gathered columns then go
        back through the gather in one pass.
        """
        gathered = [gather_with_grad(column, self.group) for column in columns]  # each (N, H)
        leaves = [column.detach().requires_grad_() for column in gathered]
        rows = range(self.group.rank * columns[0].size(0), (self.group.rank + 1) * columns[0].size(0))
        parts = []
        for block in row_blocks(rows, self.recipe.train.loss_block_size):
            part = self.loss_from_embeddings(leaves, rows=block)
            (part * loss_scale(self.group)).backward()
            parts.append(part.detach())
        loss = torch.stack(parts).sum()
        used = [(column, leaf.grad) for column, leaf in zip(gathered, leaves, strict=True) if leaf.grad is not None]
        torch.autograd.backward([column for column, _ in used], [grad for _, grad in used])
        self.group.average_gradients(p for name, part in self.parts.items() if name != "embedder"
                                     for p in part.parameters())
        return loss

    def backward(self, batch: PreparedBatch) -> Tensor:
        """This rank's share of the loss, with parameter gradients: directly, or through the gradient
        cache (``train.chunk_size`` > 0) when the batch is larger than the encoder fits at once."""
        bf16 = self.recipe.train.bf16
        if self.recipe.train.chunk_size:
            return cached_backward(self.engine, batch.groups, bf16=bf16, backward_fn=self.backward_to_embeddings)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            embeddings = [self.engine(to_device(chunk.features, self.device)) for (chunk,) in batch.groups]  # (n, H)
        return self.backward_to_embeddings(embeddings)

    def train_step(self) -> tuple[str, float, int, int]:
        batch = self.batches.next()
        loss = self.backward(batch)
        totals = self.group.sum(torch.stack([loss.double(), torch.tensor(float(batch.tokens), device=loss.device,
                                                                          dtype=torch.float64)]))  # (2,) global
        parameters = [p for p in self.parts.parameters() if p.grad is not None]
        max_norm = self.recipe.train.max_grad_norm
        norm = (torch.nn.utils.clip_grad_norm_(parameters, max_norm) if max_norm > 0
                else torch.nn.utils.get_total_norm([p.grad for p in parameters]))
        self._check_finite(batch.source, float(totals[0]), float(norm))  # the same on every rank
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.batches.settle()
        self._sampler_state = batch.sampler_state
        self.step += 1
        if batch.skipped:
            self._note_skipped(batch)
        return batch.source, float(totals[0]), batch.pairs, int(totals[1])

    def _check_finite(self, source: str, loss: float, grad_norm: float) -> None:
        """Stop before the optimizer applies a step whose loss or gradients are NaN or infinite."""
        if math.isfinite(loss) and math.isfinite(grad_norm):
            return
        self.optimizer.zero_grad(set_to_none=True)
        what = f"the loss is {loss}" if not math.isfinite(loss) else f"the loss is {loss:.4g} but the gradient " \
                                                                       f"norm is {grad_norm}"
        raise NonFiniteLossError(
            f"step {self.step + 1} (source {source!r}): {what}. Training stopped before applying it: the newest "
            f"checkpoint in {self.output_dir / 'checkpoints'} holds no NaN and --resume continues from it. Check "
            "loss.temperature (too small overflows), train.lr (too high diverges) and the data of that source.")

    # ------------------------------------------------------------------ the loop
    def train(self, resume: bool = False, stop_after: int | None = None, overwrite: bool = False) -> TrainResult:
        """Train to ``train.steps`` (or stop early after ``stop_after`` steps, for tests).

        The first call claims ``train.output_dir``: with ``resume``, it continues the run there (see
        ``run_folder``); with ``overwrite``, it deletes that run first; with neither, a folder that holds a
        run is refused. A later call on the same Trainer continues where the last one stopped.
        Every rank runs this; rank 0 alone writes the log, the checkpoints and the model."""
        cfg = self.recipe.train
        main = self.group.is_main
        if not self._started:
            self._start(resume, overwrite)
        self.model.train()
        last = cfg.steps if stop_after is None else min(cfg.steps, self.step + stop_after)
        with TrainLog(self.output_dir / LOG_FILE) if main else nullcontext() as log:
            self._log = log
            try:
                losses = self._run_steps(last, log)
                self._drop_prefetched()
                self.save_checkpoint()
            finally:
                self._log = None
                self._drop_prefetched()  # after an error too: stop the batch workers
        model_dir = self.output_dir / "model"
        if self.step >= cfg.steps:
            self.save_model(model_dir)
        return TrainResult(model_dir=model_dir, steps=self.step, losses=losses)

    def _run_steps(self, last: int, log: TrainLog | None) -> list[float]:
        """Steps up to ``last``: a log line each (rank 0), validation and checkpoints when due; the losses."""
        cfg, main = self.recipe.train, self.group.is_main
        losses: list[float] = []
        bar = tqdm(total=cfg.steps, initial=self.step, desc="train", unit="step", dynamic_ncols=True,
                   disable=not main)
        with bar:
            while self.step < last:
                started = time.perf_counter()
                name, loss, pairs, tokens = self.train_step()
                seconds = time.perf_counter() - started
                losses.append(loss)
                record = self._record(name, loss, pairs, tokens, seconds)
                if main:
                    log.write(record)
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4f}", src=name)
                    if cfg.log_every and (self.step % cfg.log_every == 0 or self.step == 1):
                        bar.write(_format(record))
                if self.validation.due(self.step):
                    if main:
                        log.write(self.validation.run(self.model, self.step, self.save_model))
                        self.model.train()
                    self.group.barrier()
                if cfg.save_every and self.step % cfg.save_every == 0 and self.step < cfg.steps:
                    self.save_checkpoint()
        return losses

    def _note_skipped(self, batch: PreparedBatch) -> None:
        stats = self.source_stats[batch.source]
        stats["skipped"] = stats.get("skipped", 0) + len(batch.skipped)
        if self.group.is_main:
            logger.warning("step %d: skipped %d bad row(s) of %s, e.g. %s", self.step, len(batch.skipped),
                           batch.source, batch.skipped[0])

    def _record(self, name: str, loss: float, pairs: int, tokens: int, seconds: float) -> dict:
        stats = self.source_stats[name]
        stats["steps"] += 1
        stats["pairs"] += pairs
        stats["tokens"] += tokens
        stats["loss"] += (loss - stats["loss"]) / stats["steps"]
        return {"step": self.step, "source": name, "loss": round(loss, 6),
                "lr": self.scheduler.get_last_lr()[0], "pairs_per_s": round(pairs / seconds, 2),
                "tokens_per_s": round(tokens / seconds, 1), "source_mean_loss": round(stats["loss"], 6)}

    # ------------------------------------------------------------------ persistence
    def _start(self, resume: bool, overwrite: bool) -> None:
        """Claim the output folder (every rank looks before rank 0 changes anything): check it, resume or clear
        the run in it, remove what crashed writes left, store the recipe, and cut the log back to the step
        resumed from (later steps are trained again)."""
        if resume and overwrite:
            raise ValueError(f"--resume continues the run in {self.output_dir} and --overwrite deletes it: give one")
        if not resume:
            check_fresh_folder(self.output_dir, overwrite)
        self.group.barrier()
        if resume:
            self.resume()
        self.group.barrier()  # every rank has compared the recipe with the stored one before it is replaced
        if self.group.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            if overwrite:
                logger.warning("--overwrite: deleted %s from %s", ", ".join(clear_run(self.output_dir)) or "nothing",
                               self.output_dir)
            remove_leftovers(self.output_dir)
            remove_temporary_checkpoints(self.output_dir / "checkpoints")
            with atomic_path(self.output_dir / RECIPE_FILE) as tmp:
                tmp.write_text(recipe_to_yaml(self.recipe), encoding="utf-8")
            if resume and (dropped := truncate_log(self.output_dir / LOG_FILE, self.step)):
                logger.warning("%s: dropped %d line(s) after step %d, which is trained again", LOG_FILE, dropped,
                               self.step)
        self._started = True

    def save_checkpoint(self) -> Path | None:
        """Every rank calls this; rank 0 writes the folder (model, full optimizer state, all ranks'
        random states) and returns its path, the others return None once it is complete. The log lines of
        the steps it covers are on disk first."""
        if self._log is not None:
            self._log.sync()
        if hasattr(self.optimizer, "consolidate_state_dict"):  # ZeRO: collect the shards on rank 0
            self.optimizer.consolidate_state_dict(to=0)
        random_states = self._all_random_states()
        path = None
        if self.group.is_main:
            state = {"scheduler": self.scheduler.state_dict(), "sampler": self._sampler_state,
                     "source_stats": self.source_stats, "validation": self.validation.state_dict(),
                     "world_size": self.group.world_size}
            path = save_checkpoint(self.output_dir / "checkpoints", self.step, self.parts,
                                   self.optimizer.state_dict(), state, keep=self.recipe.train.keep_checkpoints,
                                   random_states=random_states)
        self.group.barrier()
        return path

    def _all_random_states(self) -> list[dict[str, Tensor]]:
        """Every rank's random state, in rank order (collected on all ranks; rank 0 writes them)."""
        mine = random_state(self.device)
        if not self.group.is_distributed:
            return [mine]
        import torch.distributed as dist

        gathered: list[dict[str, Tensor]] = [{} for _ in range(self.group.world_size)]
        for key, value in mine.items():
            on_device = value.to(self.device)  # NCCL gathers GPU tensors only
            parts = [torch.empty_like(on_device) for _ in range(self.group.world_size)]
            dist.all_gather(parts, on_device)
            for rank, part in enumerate(parts):
                gathered[rank][key] = part.cpu()
        return gathered

    def resume(self) -> bool:
        """Continue from the newest intact checkpoint in the output folder, if there is one, after checking
        that the recipe may resume it (``run_folder.check_resumable``); a damaged newer checkpoint is named
        in a warning and skipped. Every rank reads the same folder; each restores its own random state and
        optimizer shard."""
        self._drop_prefetched()
        path = newest_intact_checkpoint(self.output_dir / "checkpoints")
        if path is None:
            logger.warning("no checkpoint under %s: starting from step 0", self.output_dir)
            return False
        check_resumable(self.output_dir, self.recipe)
        state = load_checkpoint(path, self.parts, self.optimizer, rank=self.group.rank, device=self.device)
        self.scheduler.load_state_dict(state["scheduler"])
        self.sampler.load_state_dict(state["sampler"])
        self._sampler_state = state["sampler"]
        self.source_stats = state["source_stats"]
        self.validation.load_state_dict(state.get("validation", {}))
        self.step = state["step"]
        logger.info("resumed from %s (step %d)", path, self.step)
        return True

    def _drop_prefetched(self) -> None:
        """Drop the batches prepared ahead and rewind the sampler to the last batch trained on."""
        self.batches.close()
        self.sampler.load_state_dict(self._sampler_state)

    def save_model(self, folder: Path) -> Path:
        """Write the trained model (sentence-transformers format), atomically; rank 0 only."""
        if self.group.is_main:
            with atomic_path(folder) as tmp:
                self.model.save(tmp)
        return folder


def _format(record: dict) -> str:
    return (f"step {record['step']:>6}  {record['source']:<24} loss {record['loss']:.4f}  "
            f"lr {record['lr']:.2e}  {record['pairs_per_s']:.1f} pairs/s  {record['tokens_per_s']:.0f} tok/s")


