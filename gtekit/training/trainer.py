"""The training loop: batch → embed → loss → backward → clip → step.

One source per batch (GTE Eq. 4 sampler), AdamW, warm-up then linear decay, optional bf16
autocast, a log line per step, atomic checkpoints and exact resume. Deliberately short.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..atomic import atomic_path
from ..config import Recipe, recipe_to_yaml
from ..data.pairs import Pair, Source, load_sources
from ..data.sampler import SourceSampler
from ..embedder import Embedder
from ..evaluation.guard import check_no_evaluation_overlap
from ..losses import LogitScale, get_loss
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .grad_cache import cached_backward, chunk_by_length
from .schedule import warmup_linear_decay
from .validation import Validation

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model_dir: Path
    steps: int
    losses: list[float] = field(default_factory=list)


def build_model(recipe: Recipe) -> Embedder:
    """The Embedder a recipe names: loaded weights, or a random encoder with the named tokenizer."""
    m = recipe.model
    overrides = {"max_seq_length": m.max_seq_length, "query_prefix": m.query_prefix,
                 "document_prefix": m.document_prefix, "delimiters": m.delimiters}
    if m.pooling is not None:
        overrides["pooling"] = m.pooling
    if m.random_init:
        return Embedder.from_config(m.name, hidden_size=m.hidden_size, num_layers=m.num_layers,
                                    num_heads=m.num_heads, seed=recipe.train.seed, **overrides)
    return Embedder.load(m.name, **overrides)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class Trainer:
    """Runs a recipe. ``Trainer(recipe).train()`` writes checkpoints and the final model folder."""

    def __init__(self, recipe: Recipe, model: Embedder | None = None, sources: list[Source] | None = None):
        self.recipe = recipe
        cfg = recipe.train
        self.output_dir = Path(cfg.output_dir)
        self.device = pick_device(cfg.device)
        _seed_everything(cfg.seed)
        self.model = (model if model is not None else build_model(recipe)).to(self.device)
        self.sources = sources if sources is not None else load_sources(
            recipe.data.sources, skip_invalid=recipe.data.skip_invalid)
        if recipe.data.guard_tasks:
            check_no_evaluation_overlap(self.sources, recipe.data.guard_tasks)
        names = [s.name for s in self.sources]
        unknown = set(recipe.data.weights) - set(names)
        if unknown:
            raise ValueError(f"data.weights names unknown sources {sorted(unknown)}; sources: {names}")
        self.sampler = SourceSampler(
            [len(s.pairs) for s in self.sources], cfg.batch_size, alpha=recipe.data.alpha, seed=cfg.seed,
            weights=[recipe.data.weights.get(n, 1.0) for n in names], names=names)
        self.loss_fn = get_loss(recipe.loss.name)
        self.parts = nn.ModuleDict({"embedder": self.model})
        if recipe.loss.name == "symmetric":
            self.parts["logit_scale"] = LogitScale(recipe.loss.temperature).to(self.device)
        params = [p for p in self.parts.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = warmup_linear_decay(self.optimizer, cfg.steps, cfg.warmup_ratio)
        self.step = 0
        self.validation = Validation(recipe.eval, self.output_dir)
        self.source_stats: dict[str, dict[str, float]] = {n: {"steps": 0, "pairs": 0, "tokens": 0, "loss": 0.0}
                                                          for n in names}

    # ------------------------------------------------------------------ one step
    def columns(self, pairs: list[Pair]) -> list[tuple[list[str], str]]:
        """The batch as columns of (texts, kind): queries, positives and, if used, hard negatives (B·K)."""
        k = self.recipe.data.negatives_per_query
        columns = [([p.query for p in pairs], "query"), ([p.positive for p in pairs], "document")]
        if k:
            columns.append(([n for p in pairs for n in _negatives(p, k)], "document"))
        return columns

    def loss_from_embeddings(self, embeddings: list[Tensor]) -> Tensor:
        """The recipe's loss on the batch's columns: q (B, H), d (B, H) and negatives (B·K, H)."""
        q, d, *rest = embeddings
        negatives = rest[0].view(q.size(0), -1, q.size(1)) if rest else None  # (B, K, H)
        if "logit_scale" in self.parts:
            return self.loss_fn(q, d, self.parts["logit_scale"].value)
        return self.loss_fn(q, d, negatives, temperature=self.recipe.loss.temperature)

    def loss_on(self, pairs: list[Pair]) -> tuple[Tensor, int]:
        """Embed a batch of pairs in one forward per column and return (loss, non-padding tokens)."""
        features = [self.model.tokenize(texts, kind) for texts, kind in self.columns(pairs)]
        tokens = sum(int(f["attention_mask"].sum()) for f in features)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.recipe.train.bf16):
            embeddings = [self.model(_to(f, self.device)) for f in features]  # each (B, H) / (B·K, H)
        return self.loss_from_embeddings(embeddings), tokens

    def backward(self, pairs: list[Pair]) -> tuple[Tensor, int]:
        """Loss and parameter gradients of one batch: directly, or through the gradient cache
        (``train.chunk_size`` > 0) when the batch is larger than the encoder fits at once."""
        chunk_size = self.recipe.train.chunk_size
        if not chunk_size:
            loss, tokens = self.loss_on(pairs)
            loss.backward()
            return loss.detach(), tokens
        groups = [chunk_by_length(texts, chunk_size, partial(self.model.tokenize, kind=kind))
                  for texts, kind in self.columns(pairs)]
        tokens = sum(int(chunk.features["attention_mask"].sum()) for group in groups for chunk in group)
        loss = cached_backward(self.model, groups, self.loss_from_embeddings, bf16=self.recipe.train.bf16)
        return loss, tokens

    def train_step(self) -> tuple[str, float, int, int]:
        source_index, indices = self.sampler.next_batch()
        source = self.sources[source_index]
        pairs = [source.pairs[i] for i in indices]
        loss, tokens = self.backward(pairs)
        if self.recipe.train.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.parts.parameters(), self.recipe.train.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return source.name, float(loss.detach()), len(pairs), tokens

    # ------------------------------------------------------------------ the loop
    def train(self, resume: bool = False, stop_after: int | None = None) -> TrainResult:
        """Train to ``train.steps`` (or stop early after ``stop_after`` steps, for tests)."""
        cfg = self.recipe.train
        if resume:
            self.resume()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        (self.output_dir / "recipe.yaml").write_text(recipe_to_yaml(self.recipe))
        self.model.train()
        losses: list[float] = []
        log_path = self.output_dir / "train_log.jsonl"
        last = cfg.steps if stop_after is None else min(cfg.steps, self.step + stop_after)
        bar = tqdm(total=cfg.steps, initial=self.step, desc="train", unit="step", dynamic_ncols=True)
        with open(log_path, "a", encoding="utf-8") as log:
            while self.step < last:
                started = time.perf_counter()
                name, loss, pairs, tokens = self.train_step()
                seconds = time.perf_counter() - started
                losses.append(loss)
                record = self._record(name, loss, pairs, tokens, seconds)
                log.write(json.dumps(record) + "\n")
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", src=name)
                if cfg.log_every and (self.step % cfg.log_every == 0 or self.step == 1):
                    bar.write(_format(record))
                if self.validation.due(self.step):
                    log.write(json.dumps(self.validation.run(self.model, self.step, self.save_model)) + "\n")
                    self.model.train()
                if cfg.save_every and self.step % cfg.save_every == 0 and self.step < cfg.steps:
                    self.save_checkpoint()
        bar.close()
        self.save_checkpoint()
        model_dir = self.output_dir / "model"
        if self.step >= cfg.steps:
            self.save_model(model_dir)
        return TrainResult(model_dir=model_dir, steps=self.step, losses=losses)

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
    def save_checkpoint(self) -> Path:
        state = {"scheduler": self.scheduler.state_dict(), "sampler": self.sampler.state_dict(),
                 "source_stats": self.source_stats, "validation": self.validation.state_dict()}
        return save_checkpoint(self.output_dir / "checkpoints", self.step, self.parts, self.optimizer,
                               state, keep=self.recipe.train.keep_checkpoints)

    def resume(self) -> bool:
        """Continue from the latest complete checkpoint in the output folder, if there is one."""
        path = latest_checkpoint(self.output_dir / "checkpoints")
        if path is None:
            logger.warning("no checkpoint under %s: starting from step 0", self.output_dir)
            return False
        state = load_checkpoint(path, self.parts, self.optimizer)
        self.scheduler.load_state_dict(state["scheduler"])
        self.sampler.load_state_dict(state["sampler"])
        self.source_stats = state["source_stats"]
        self.validation.load_state_dict(state.get("validation", {}))
        self.step = state["step"]
        logger.info("resumed from %s (step %d)", path, self.step)
        return True

    def save_model(self, folder: Path) -> Path:
        """Write the trained model (sentence-transformers format), atomically."""
        with atomic_path(folder) as tmp:
            self.model.save(tmp)
        return folder


def _negatives(pair: Pair, k: int) -> tuple[str, ...]:
    if len(pair.negatives) < k:
        raise ValueError(f"data.negatives_per_query={k} but a pair has only {len(pair.negatives)} "
                         f"negatives (query {pair.query[:60]!r})")
    return pair.negatives[:k]


def _to(features: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    return {key: value.to(device, non_blocking=True) for key, value in features.items()}


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _format(record: dict) -> str:
    return (f"step {record['step']:>6}  {record['source']:<24} loss {record['loss']:.4f}  "
            f"lr {record['lr']:.2e}  {record['pairs_per_s']:.1f} pairs/s  {record['tokens_per_s']:.0f} tok/s")


