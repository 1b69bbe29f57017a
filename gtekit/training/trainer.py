"""The training loop around :func:`step.train_step`: setup, the steps, logging, validation and checkpoints.

One source per batch (GTE Eq. 4 sampler), optionally an easy-to-hard curriculum over each pair's hard
negatives (``gtekit.data.curriculum``), AdamW, warm-up then linear decay, optional bf16 autocast, a log
line per step, atomic checkpoints and exact resume (``run_folder``: one run per output folder; ``train_log``:
the log survives crashes). A loss or gradient that is not finite stops the run before the optimizer applies
it (``step.NonFiniteLossError``), so neither a checkpoint nor the model ever holds NaN. Batches are read and
tokenized in DataLoader worker processes (``training.batches``) while the step computes. The same loop runs
in one process or in every process of a torchrun job (``distributed``): each rank trains on its slice of
every global batch, and ZeroRedundancyOptimizer shards AdamW's state. What one step does is
``step.train_step``; this module decides when steps, validations and checkpoints happen.

Rank 0 also mirrors the log into TensorBoard event files (``tensorboard_log``), draws ``curves.png`` at every
checkpoint (``curves``), records the sources in ``sources.json`` and writes a model card (``README.md``) into
every model folder it saves (``run_summary``, ``gtekit.model.model_card``).
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ..config import Recipe, recipe_to_yaml
from ..data.pairs import Pair
from ..io.atomic import atomic_path
from ..losses import get_loss, temperature_for
from ..model.card_data import build_card
from ..model.device import uses_bf16
from ..model.embedder import Embedder
from ..model.model_card import write_card
from .batches import BatchLoader, BatchPreparer, BatchStream, PreparedBatch
from .checkpoint import (
    load_checkpoint,
    newest_intact_checkpoint,
    random_state,
    remove_temporary_checkpoints,
    save_checkpoint,
)
from .curves import draw_run_curves
from .distributed import (
    ProcessGroup,
    adamw,
    data_parallel,
    full_optimizer_state,
    gather_tensors,
    init_process_group,
)
from .lora import ADAPTER_DIR, merged_embedder, save_adapter
from .objective import load_objective
from .run_folder import (
    RECIPE_FILE,
    TENSORBOARD_DIR,
    check_fresh_folder,
    check_resumable,
    clear_run,
    remove_leftovers,
)
from .run_summary import run_summary, write_sources_file
from .schedule import warmup_linear_decay
from .setup import (
    build_model,
    check_sources,
    is_replay,
    load_training_sources,
    negative_curriculum,
    pairs_per_rank,
    prepare_model,
    source_sampler,
    trained_parts,
)
from .step import NonFiniteLossError, StepParts, train_step
from .tensorboard_log import TensorBoardLog
from .train_log import LOG_FILE, TrainLog, truncate_log
from .validation import Validation

__all__ = ["NonFiniteLossError", "TrainResult", "Trainer", "build_model"]

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model_dir: Path
    steps: int
    losses: list[float] = field(default_factory=list)


class Trainer:
    """Runs a recipe. ``Trainer(recipe).train()`` writes checkpoints and the final model folder."""

    def __init__(self, recipe: Recipe, model: Embedder | None = None, sources: list | None = None,
                 group: ProcessGroup | None = None):
        self.recipe, cfg, data = recipe, recipe.train, recipe.data
        self.output_dir = Path(cfg.output_dir)
        self.group = group if group is not None else init_process_group(cfg.device)
        self.device = self.group.device
        cfg.bf16 = cfg.bf16 or uses_bf16(cfg.precision, self.device)  # every part below reads the choice
        per_rank = pairs_per_rank(cfg.batch_size, self.group.world_size)
        self.model = prepare_model(recipe, model, self.device)
        self.curriculum = negative_curriculum(recipe)
        self.sources = sources if sources is not None else load_training_sources(recipe, self.curriculum)
        check_sources(data, self.sources)
        self.sampler = source_sampler(recipe, self.sources)
        self._sampler_state = self.sampler.state_dict()  # position after the last batch trained on
        temperature = temperature_for(recipe.loss.name, recipe.loss.temperature)
        self.parts = trained_parts(self.model, temperature, self.device)
        engine = data_parallel(self.model, self.group, cfg.seed)
        self.optimizer = adamw((p for p in self.parts.parameters() if p.requires_grad), self.group, cfg.lr,
                               cfg.weight_decay, shard=cfg.zero_optimizer)
        self.scheduler = warmup_linear_decay(self.optimizer, cfg.steps, cfg.warmup_ratio)
        objective = load_objective(recipe, self.model, self.group)
        self.step_parts = StepParts(engine, self.parts, self.optimizer, self.scheduler, get_loss(recipe.loss.name),
                                    temperature, self.group, cfg, objective)
        own_tokens = objective.teacher.model if objective.teacher and objective.teacher.own_tokens else None
        self.preparer = BatchPreparer(self.sources, self.model.tokenizer, self.model.settings,
                                      self.group.local_slice(per_rank), cfg.chunk_size, data.negatives_per_query,
                                      data.prefixes, self.curriculum,
                                      frozenset(s.name for s in self.sources if is_replay(s)),
                                      text_ids=recipe.loss.mask_duplicates,
                                      teacher_tokenizer=own_tokens.tokenizer if own_tokens else None,
                                      teacher_settings=own_tokens.settings if own_tokens else None)
        self.step = 0
        self.validation = Validation(recipe.eval, self.output_dir)
        self.source_stats: dict[str, dict[str, float]] = {
            s.name: {"steps": 0, "pairs": 0, "tokens": 0, "loss": 0.0, "skipped": 0} for s in self.sources}
        self.batches = BatchLoader(self._open_stream, workers=cfg.data_workers, prefetch=cfg.prefetch,
                                   pin_memory=self.device.type == "cuda")
        self._log: TrainLog | None = None  # open during train(), rank 0 only
        self._board: TensorBoardLog | None = None  # the log's scalars as TensorBoard events, likewise
        self._started = False  # train() has claimed the output folder
        self._masked: dict[str, int] = {}  # the logits each mask left out at the last step (objective)

    def _open_stream(self) -> BatchStream:
        """The batches from the one after the last batch trained on (the loader opens one after each close)."""
        self.sampler.load_state_dict(self._sampler_state)
        return BatchStream(self.sampler, self.preparer, first_step=self.step)

    def columns(self, pairs: list[Pair]) -> list[tuple[list[str], str]]:
        """The batch as columns of (texts, kind): queries, positives and, if used, hard negatives (B·K)."""
        return self.preparer.columns(pairs, self.step)

    def train_step(self) -> tuple[str, float, int, int]:
        """One step (``step.train_step``) on the next batch; returns its source, the loss and the pairs and
        non-padding tokens of the global batch."""
        batch = self.batches.next()
        loss, tokens, self._masked = train_step(self.step_parts, batch)
        self.batches.settle()
        self._sampler_state = batch.sampler_state
        self.step += 1
        if batch.skipped:
            self._note_skipped(batch)
        return batch.source, loss, batch.pairs, tokens

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
        with (TrainLog(self.output_dir / LOG_FILE) if main else nullcontext() as log,
              TensorBoardLog(self.output_dir / TENSORBOARD_DIR, first_step=self.step + 1) if main
              else nullcontext() as board):
            self._log, self._board = log, board
            try:
                losses = self._run_steps(last)
                self._drop_prefetched()
                self.save_checkpoint()
            finally:
                self._log = self._board = None
                self._drop_prefetched()  # after an error too: stop the batch workers
        model_dir = self.output_dir / "model"
        if self.step >= cfg.steps:
            self.save_model(model_dir)
        return TrainResult(model_dir=model_dir, steps=self.step, losses=losses)

    def _run_steps(self, last: int) -> list[float]:
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
                    self._write(record)
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4f}", src=name)
                    if cfg.log_every and (self.step % cfg.log_every == 0 or self.step == 1):
                        bar.write(_format(record))
                if self.validation.due(self.step):
                    if main:
                        self._write(self.validation.run(self.model, self.step, self.save_model))
                        self.model.train()
                    self.group.barrier()
                if cfg.save_every and self.step % cfg.save_every == 0 and self.step < cfg.steps:
                    self.save_checkpoint()
        return losses

    def _write(self, record: dict) -> None:
        """A step's or validation's record into train_log.jsonl and the TensorBoard event files (rank 0)."""
        self._log.write(record)
        self._board.write(record)

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
                "tokens_per_s": round(tokens / seconds, 1), "source_mean_loss": round(stats["loss"], 6),
                **self._masked}

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
            write_sources_file(self.output_dir, self.sources)
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
            self._board.flush()
        optimizer_state = full_optimizer_state(self.optimizer, self.group)  # rank 0: every rank's shards
        random_states = gather_tensors(random_state(self.device), self.group)  # every rank's, in rank order
        path = None
        if self.group.is_main:
            state = {"scheduler": self.scheduler.state_dict(), "sampler": self._sampler_state,
                     "source_stats": self.source_stats, "validation": self.validation.state_dict(),
                     "world_size": self.group.world_size}
            path = save_checkpoint(self.output_dir / "checkpoints", self.step, self.parts, optimizer_state, state,
                                   keep=self.recipe.train.keep_checkpoints, random_states=random_states)
            self._draw_curves()
        self.group.barrier()
        return path

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
        """Write the trained model (sentence-transformers format), atomically; rank 0 only. With ``model.lora``
        the folder holds the adapters merged into the encoder (the training model keeps them apart), and with
        ``train.save_adapter`` also the adapters alone in ``adapter/`` (``lora``)."""
        if self.group.is_main:
            with atomic_path(folder) as tmp:
                merged_embedder(self.model).save(tmp)
                if self.recipe.train.save_adapter:
                    save_adapter(self.model, tmp / ADAPTER_DIR)
                self._write_card(tmp, folder)
        return folder

    def _draw_curves(self) -> None:
        """``curves.png`` from the log (rank 0, at every checkpoint and so at the end)."""
        try:
            draw_run_curves(self.output_dir)
        except Exception as error:  # a figure is not worth a run: name the problem and train on
            logger.warning("could not draw the training curves of %s (%s: %s)", self.output_dir,
                           type(error).__name__, error)

    def _write_card(self, tmp: Path, folder: Path) -> None:
        """The model card (``README.md``) of a model folder being written to ``tmp``: the run's recipe, sources
        and log (``run_summary``); ``gtekit card`` rewrites it, e.g. with evaluation results."""
        try:
            card = build_card(tmp, name=f"{self.output_dir.resolve().name}/{folder.name}", model_id=str(folder),
                              run=run_summary(self.output_dir))
            write_card(tmp, card)
        except Exception as error:  # the weights matter more than their description: keep the model
            logger.warning("could not write the model card of %s (%s: %s); write it with `gtekit card %s`",
                           folder, type(error).__name__, error, folder)


def train(recipe: Recipe, *, resume: bool = False, overwrite: bool = False) -> TrainResult:
    """The train stage: run ``recipe`` to ``train.steps`` into ``train.output_dir`` (``gtekit train`` and a
    pipeline's train stage both call this). ``resume`` continues the run there, ``overwrite`` replaces it;
    with neither, a folder that holds a run is refused (see ``Trainer.train``)."""
    return Trainer(recipe).train(resume=resume, overwrite=overwrite)


def _format(record: dict) -> str:
    return (f"step {record['step']:>6}  {record['source']:<24} loss {record['loss']:.4f}  "
            f"lr {record['lr']:.2e}  {record['pairs_per_s']:.1f} pairs/s  {record['tokens_per_s']:.0f} tok/s")


