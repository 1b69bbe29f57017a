"""One full optimizer step of gtekit and of sentence-transformers on the same pairs, timed side by side.

A step, for both systems: tokenize the batch, embed it through a gradient cache (chunks of at most
``chunk`` texts, or ``token_budget`` non-padding tokens for sentence-transformers' token packing),
the GTE loss (all four directions, one joint partition function, τ = 0.01), backward, clip the
gradient norm to 1.0, AdamW (lr 1e-5), zero the gradients.

- gtekit: ``Trainer.train_step()`` (one source holding exactly the batch's pairs, so every step
  is those pairs in a fresh order; the GTE loss does not depend on the order). The trainer tokenizes
  the next batch on a worker thread during the step and waits for it before returning.
- sentence-transformers: ``model.preprocess`` on the query column and on the document column (what
  its data collator does: each column padded to its longest text), then
  ``CachedMultipleNegativesRankingLoss(...)(features, None).backward()``, clip, step, zero.
  With bf16 the model's forward runs under ``torch.autocast`` and returns fp32, as accelerate sets it
  up for ``SentenceTransformerTrainingArguments(bf16=True)``.

Each system starts from the same weights. Its first step, the warm-up, runs in eval mode (no dropout),
so the loss values of that step must agree across systems (the *check*); the timed steps then run
in train mode. The steps of all configurations are interleaved (round r times every configuration's
r-th step), so a change in machine load hits every configuration alike.
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import torch
from transformers import AutoConfig

from gtekit import Embedder
from gtekit.config import load_recipe
from gtekit.data.pairs import Pair, Source
from gtekit.model.model_files import resolve_model_folder
from gtekit.training.grad_cache import chunk_by_length
from gtekit.training.trainer import Trainer

from .flops import EncoderShape, executed_step_flops, useful_step_flops

TEMPERATURE = 0.01
LR = 1e-5
MAX_GRAD_NORM = 1.0
DIRECTIONS = ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")
FP32_RTOL = 1e-4  # check: eval-mode first-step losses of the two systems, fp32
BF16_RTOL = 1e-2  # the same in bf16: different chunk shapes round differently


@dataclass(frozen=True)
class RunConfig:
    """One configuration to time: a system and its batch, chunk and precision settings."""

    system: str  # "gtekit" | "sentence-transformers"
    batch: int
    chunk: int  # texts per encoder call (gtekit chunk_size, sentence-transformers mini_batch_size)
    bf16: bool = False
    token_budget: int | None = None  # sentence-transformers mini_batch_num_tokens
    overrides: tuple[str, ...] = ()  # gtekit recipe overrides, e.g. ("train.loss_block_size=1024",)
    device: str = "cpu"  # or "cuda" (benchmarks/gpu_check.py)

    @property
    def name(self) -> str:
        packing = f"≤{self.token_budget} tokens" if self.token_budget else f"chunk {self.chunk}"
        extra = "".join(f" {o}" for o in self.overrides)
        return f"{self.system} {'bf16' if self.bf16 else 'fp32'} {packing}{extra} (batch {self.batch})"


class GtekitStep:
    """gtekit's ``Trainer`` on one source holding exactly the batch's pairs."""

    def __init__(self, model_name: str, pairs: list[Pair], config: RunConfig, max_seq_length: int) -> None:
        self.model = Embedder.load(model_name, max_seq_length=max_seq_length)
        self._workdir = tempfile.TemporaryDirectory(prefix="gtekit-bench-")
        recipe = load_recipe(None, [
            "loss.name=gte", f"loss.temperature={TEMPERATURE}", f"train.batch_size={config.batch}",
            f"train.chunk_size={config.chunk}", f"train.precision={'bf16' if config.bf16 else 'fp32'}",
            f"train.lr={LR}", f"train.max_grad_norm={MAX_GRAD_NORM}", "train.warmup_ratio=0", "train.steps=1000000",
            f"train.device={config.device}", "train.log_every=0", f"train.output_dir={self._workdir.name}",
            "data.guard_tasks=[]", *config.overrides])
        self.model.packing = recipe.model.packing  # `--gtekit-set model.packing=false`: the padded chunks
        source = Source(name="stdlib", path=Path("stdlib.jsonl"), pairs=pairs[:config.batch], skipped=[])
        self.trainer = Trainer(recipe, model=self.model, sources=[source])
        self.pairs, self.chunk = source.pairs, config.chunk

    def step(self) -> float:
        _, loss, _, _ = self.trainer.train_step()
        return loss

    def shapes(self) -> tuple[list[int], list[tuple[int, int]]]:
        """(non-padding tokens of each text, (b, T) of each encoder call) of one step."""
        lengths, batches = [], []
        for texts, kind in self.trainer.columns(self.pairs):
            tokenize = partial(self.model.tokenize, kind=kind)
            lengths += tokenize(texts)["attention_mask"].sum(dim=1).tolist()
            batches += [tuple(self.model.encoder_inputs(c.features)["input_ids"].shape)  # packed where it runs so
                        for c in chunk_by_length(texts, self.chunk, tokenize)]
        return lengths, batches



class SentenceTransformersStep:
    """sentence-transformers' ``CachedMultipleNegativesRankingLoss`` with GTE's directions, and a plain step."""

    def __init__(self, model_name: str, pairs: list[Pair], config: RunConfig, max_seq_length: int) -> None:
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.losses import CachedMultipleNegativesRankingLoss

        if config.overrides:
            raise ValueError(f"recipe overrides {config.overrides} are for gtekit configurations only")
        self.model = SentenceTransformer(str(resolve_model_folder(model_name)), device=config.device,
                                         trust_remote_code=False)
        self.model.max_seq_length = max_seq_length
        if config.bf16:
            _autocast_forward(self.model, torch.device(config.device).type)
        self.loss = CachedMultipleNegativesRankingLoss(
            self.model, scale=1 / TEMPERATURE, mini_batch_size=config.chunk,
            mini_batch_num_tokens=config.token_budget, directions=DIRECTIONS, partition_mode="joint")
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=LR, weight_decay=0.01)
        self.columns = [[p.query for p in pairs[:config.batch]], [p.positive for p in pairs[:config.batch]]]

    def features(self) -> list[dict]:
        device = self.model.device  # the features go where the model is, as its trainer moves them
        return [{key: value.to(device) if torch.is_tensor(value) else value
                 for key, value in self.model.preprocess(texts).items()}
                for texts in self.columns]  # each column padded to its longest

    def step(self) -> float:
        loss = self.loss(self.features(), None)
        loss.backward()  # the loss's hook re-embeds every mini-batch with gradients here
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), MAX_GRAD_NORM)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def shapes(self) -> tuple[list[int], list[tuple[int, int]]]:
        """(non-padding tokens of each text, (b, T) of each encoder call), as the loss slices its mini-batches."""
        from sentence_transformers.base.losses.gradcache import _create_minibatch, _minibatch_ranges

        lengths, batches = [], []
        for features in self.features():
            lengths += features["attention_mask"].sum(dim=1).tolist()
            for begin, end in _minibatch_ranges(features, self.loss.mini_batch_size, self.loss.mini_batch_num_tokens):
                batches.append(tuple(_create_minibatch(features, begin, end)["input_ids"].shape))
        return lengths, batches


def _autocast_forward(model: torch.nn.Module, device_type: str = "cpu") -> None:
    """Run ``model.forward`` under bf16 autocast and return fp32 tensors, as accelerate does for bf16."""
    forward = model.forward

    def autocast_forward(*args, **kwargs):
        with torch.autocast(device_type, dtype=torch.bfloat16):
            output = forward(*args, **kwargs)
        return {key: value.float() if torch.is_tensor(value) and value.dtype == torch.bfloat16 else value
                for key, value in output.items()}

    model.forward = autocast_forward


STEPPERS = {"gtekit": GtekitStep, "sentence-transformers": SentenceTransformersStep}


def measure(configs: list[RunConfig], model_name: str, pairs: list[Pair], repeats: int,
            max_seq_length: int = 128, log=print) -> list[dict]:
    """Time ``repeats`` train-mode steps of every configuration, after one eval-mode warm-up (the check)."""
    unknown = {c.system for c in configs} - set(STEPPERS)
    if unknown:
        raise ValueError(f"unknown systems {sorted(unknown)}; valid: {', '.join(STEPPERS)}")
    model_config = AutoConfig.from_pretrained(resolve_model_folder(model_name), trust_remote_code=False)
    shape = EncoderShape.from_config(model_config)
    steppers, results = [], []
    for config in configs:
        stepper = STEPPERS[config.system](model_name, pairs, config, max_seq_length)
        lengths, batches = stepper.shapes()
        stepper.model.eval()
        started = time.perf_counter()
        check_loss = stepper.step()
        warmup_s = time.perf_counter() - started
        log(f"  {config.name}: warm-up (eval) {warmup_s:.1f} s, loss {check_loss:.6f}")
        stepper.model.train()
        steppers.append(stepper)
        results.append({**asdict(config), "name": config.name, "check_loss": check_loss, "warmup_s": warmup_s,
                        "seconds": [], "train_losses": [], "useful_tokens": sum(lengths),
                        "executed_tokens": sum(b * t for b, t in batches), "encoder_calls": len(batches),
                        "useful_flops": useful_step_flops(shape, lengths),
                        "executed_flops": executed_step_flops(shape, batches)})
    for r in range(repeats):
        for stepper, result in zip(steppers, results, strict=True):
            started = time.perf_counter()
            result["train_losses"].append(stepper.step())
            result["seconds"].append(time.perf_counter() - started)
            log(f"  {result['name']}: step {r + 1}/{repeats} {result['seconds'][-1]:.1f} s")
    del steppers
    gc.collect()
    for result in results:
        seconds = statistics.median(result["seconds"])
        result.update(median_s=seconds, pairs_per_s=result["batch"] / seconds,
                      tokens_per_s=result["useful_tokens"] / seconds,
                      useful_flop_per_s=result["useful_flops"] / seconds,
                      executed_flop_per_s=result["executed_flops"] / seconds,
                      padding_share=1 - result["useful_tokens"] / result["executed_tokens"])
    return results


def check_losses(results: list[dict]) -> list[dict]:
    """Each configuration's eval-mode first-step loss against the first gtekit one at the same batch and precision."""
    checks = []
    for result in results:
        reference = next((r for r in results if r["system"] == "gtekit" and r["batch"] == result["batch"]
                          and r["bf16"] == result["bf16"]), None)
        if reference is None or reference is result:
            continue
        rtol = BF16_RTOL if result["bf16"] else FP32_RTOL
        rel = abs(result["check_loss"] - reference["check_loss"]) / abs(reference["check_loss"])
        checks.append({"name": result["name"], "reference": reference["name"], "loss": result["check_loss"],
                       "reference_loss": reference["check_loss"], "rel_diff": rel, "rtol": rtol, "ok": rel <= rtol})
    return checks


def add_utilisation(results: list[dict], peaks: dict) -> None:
    """Model FLOP utilisation: useful and executed FLOP/s over the measured matmul peak of the step's dtype."""
    for result in results:
        peak = peaks.get("bf16" if result["bf16"] else "fp32", {}).get("peak_flop_per_s")
        if peak:
            result["peak_flop_per_s"] = peak
            result["useful_mfu"] = result["useful_flop_per_s"] / peak
            result["executed_mfu"] = result["executed_flop_per_s"] / peak


def compare(results: list[dict]) -> list[dict]:
    """gtekit-best / sentence-transformers-best in pairs/s, per batch size and precision that both systems ran."""
    comparisons = []
    for batch in sorted({r["batch"] for r in results}, reverse=True):
        for bf16 in (False, True):
            group = [r for r in results if r["batch"] == batch and r["bf16"] == bf16]
            ours = [r for r in group if r["system"] == "gtekit"]
            theirs = [r for r in group if r["system"] == "sentence-transformers"]
            if ours and theirs:
                best_ours = max(ours, key=lambda r: r["pairs_per_s"])
                best_theirs = max(theirs, key=lambda r: r["pairs_per_s"])
                comparisons.append({"batch": batch, "precision": "bf16" if bf16 else "fp32",
                                    "gtekit": best_ours["name"], "sentence_transformers_best": best_theirs["name"],
                                    "ratio_pairs_per_s": best_ours["pairs_per_s"] / best_theirs["pairs_per_s"]})
    return comparisons
