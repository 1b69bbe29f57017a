"""LoRA fine-tuning (``model.lora``): low-rank adapters on a frozen encoder, through the ``peft`` library.

LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models", arXiv:2106.09685, Eq. 3) replaces a
linear layer's W₀x by W₀x + (α / r) · B A x, with W₀ frozen, A (r, in) random and B (out, r) zero, so the first
step starts from the model itself. Only A and B train: the optimizer holds state for them alone, and W₀ is
never changed. Three operations:

1. :func:`add_lora` wraps ``Embedder.encoder`` in a peft model, before the optimizer is built (and before DDP
   wraps the embedder). The layers adapted are the ``nn.Linear`` modules whose last name is in
   ``model.lora.target_modules``, except the pooler's: embeddings never use it, so its adapters would get no
   gradient (which DDP refuses). They are passed to peft by their full names.
2. :func:`merged_embedder` gives what the model folder holds: a copy of the encoder with B A merged into W₀
   (``merge_and_unload`` on a deep copy), a plain transformers encoder that ``Embedder.load`` and
   sentence-transformers read unchanged. The training model keeps its separate adapters, so a run that
   continues after saving (validation's best model, a later ``train()``) is not changed by it.
3. :func:`save_adapter` writes the adapters alone (``adapter_config.json`` + ``adapter_model.safetensors``),
   which ``peft.PeftModel.from_pretrained(base_encoder, folder)`` applies to the base model.

Checkpoints need nothing of their own: a checkpoint stores the state of every module the trainer holds, so the
frozen W₀ and the adapters are both in it, under peft's parameter names, and a resumed run rebuilds the same
wrapping (``model.lora`` may not change on resume) before loading them. Depends on the model package and torch;
imports peft only when LoRA is asked for.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

from torch import nn

from ..config import LoraConfig
from ..model.embedder import Embedder

ADAPTER_DIR = "adapter"  # model/adapter/ with train.save_adapter
UNUSED_LAYERS = ("pooler",)  # top-level encoder parts whose output embeddings never use
PEFT_MISSING = ("model.lora trains LoRA adapters with the peft library, which is not installed: "
                "pip install 'gtekit[lora]'")


def require_peft():
    """The ``peft`` module, or an ImportError that says how to install it."""
    try:
        import peft
    except ImportError as error:
        raise ImportError(PEFT_MISSING) from error
    return peft


def lora_targets(encoder: nn.Module, names: list[str]) -> list[str]:
    """The full names of ``encoder``'s linear layers whose last name is in ``names``, the pooler's left out; a
    ValueError listing the linear layers there are when none matches."""
    linear = [name for name, module in encoder.named_modules() if isinstance(module, nn.Linear)]
    targets = [name for name in linear
               if name.rsplit(".", 1)[-1] in names and name.split(".", 1)[0] not in UNUSED_LAYERS]
    if not targets:
        found = sorted({name.rsplit(".", 1)[-1] for name in linear})
        raise ValueError(f"model.lora.target_modules={names} names none of the encoder's linear layers; "
                         f"its linear layers are named: {', '.join(found)}")
    return targets


def add_lora(model: Embedder, settings: LoraConfig, base_name: str | None = None) -> None:
    """Wrap ``model.encoder`` with LoRA adapters as ``settings`` say; every other weight is frozen.
    ``base_name`` (the recipe's ``model.name``) is recorded in the adapter's config as its base model."""
    peft = require_peft()
    config = peft.LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                             target_modules=lora_targets(model.encoder, settings.target_modules),
                             task_type=peft.TaskType.FEATURE_EXTRACTION)
    with warnings.catch_warnings():  # peft asks transformers 5 about gradient checkpointing by its old name
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        model.encoder = peft.get_peft_model(model.encoder, config)
    if base_name is not None:
        model.encoder.peft_config["default"].base_model_name_or_path = base_name


def has_lora(model: Embedder) -> bool:
    """Whether ``model.encoder`` carries LoRA adapters (a peft model)."""
    return hasattr(model.encoder, "merge_and_unload")


def merged_embedder(model: Embedder) -> Embedder:
    """``model`` with its adapters merged into a copy of the encoder (W₀ + (α / r) · B A): a plain transformers
    encoder; ``model`` itself when it has none. ``model`` is left as it is (the copy holds the encoder's weights
    once more while it exists)."""
    if not has_lora(model):
        return model
    merged = copy.deepcopy(model.encoder).merge_and_unload()
    return Embedder(merged, model.tokenizer, model.settings)


def save_adapter(model: Embedder, folder: Path) -> Path:
    """Write ``model``'s adapters alone under ``folder`` (peft's ``save_pretrained``, safetensors)."""
    if not has_lora(model):
        raise ValueError("the model has no LoRA adapters to save (model.lora is not set)")
    # no embedding layer is adapted: without this, peft looks the base model's config up (on the hub, for a name)
    model.encoder.save_pretrained(folder, safe_serialization=True, save_embedding_layers=False)
    return folder
