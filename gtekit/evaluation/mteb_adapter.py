"""A gtekit ``Embedder`` as an mteb 2.x encoder, so ``mteb.evaluate`` runs any mteb task on it.

With internet (mteb downloads the task's data)::

    import mteb
    from gtekit.evaluation.mteb_adapter import MtebEncoder

    results = mteb.evaluate(MtebEncoder("all-MiniLM-L6-v2"), mteb.get_tasks(tasks=["STSBenchmark"]))
    print(results.task_results[0].get_score())

:class:`MtebEncoder` meets mteb's ``EncoderProtocol`` (``mteb/models/models_protocols.py``):

- ``encode(inputs, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs)`` takes the
  ``"text"`` entry of each batch of mteb's DataLoader (for retrieval documents mteb has already
  joined title and body into it) and returns float32 (N, H) from ``Embedder.encode``. mteb's
  ``prompt_type`` picks the text kind, so the model's own query/document prefixes and cpt-text
  delimiters apply: ``PromptType.query`` -> ``kind="query"``, ``PromptType.document`` (mteb 1.x
  called it ``passage``) -> ``kind="document"``, ``None`` (STS, classification, clustering, ...)
  -> no prefix. Task-specific prompts and instructions are not added.
- ``similarity`` / ``similarity_pairwise``: cosine, as mteb computes it for a cosine model.
- ``mteb_model_meta``: a ``ModelMeta`` (name, embedding size, max tokens, cosine similarity, ...).
  Its revision is a short hash of the weights, tokenizer and settings, so results in mteb's
  result cache never mix two versions of a model saved under the same name.

mteb is an optional dependency (``pip install mteb``); nothing else in gtekit imports this module.
Depends on the embedder's ``encode``, ``settings``, ``dimension`` and ``source`` and on
``evaluation.embedding_cache.model_fingerprint``; knows nothing about training.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..model.embedder import Embedder, TextKind
from .embedding_cache import model_fingerprint

try:
    import mteb  # noqa: F401  (the optional dependency: fail here, with the fix, when it is missing)
except ModuleNotFoundError as error:
    raise ImportError("gtekit.evaluation.mteb_adapter needs mteb, which is not installed: pip install mteb") from error
from mteb.models.model_meta import ModelMeta
from mteb.similarity_functions import cos_sim, pairwise_cos_sim

if TYPE_CHECKING:
    import torch
    from mteb.abstasks.task_metadata import TaskMetadata
    from mteb.types import Array, BatchedInput, PromptType
    from torch.utils.data import DataLoader

# mteb's prompt type (a str enum; mteb 1.x said "passage") -> gtekit's text kind
TEXT_KINDS: dict[str, TextKind] = {"query": "query", "document": "document", "passage": "document"}
REVISION_LENGTH = 16  # hex digits of the model fingerprint used as the mteb revision


class MtebEncoder:
    """An :class:`~gtekit.Embedder` that ``mteb.evaluate`` accepts as a model.

    ``model`` is an Embedder or anything ``Embedder.load`` takes (a folder, ``"all-MiniLM-L6-v2"``,
    a hub name). ``batch_size`` is the number of texts gtekit encodes at once; mteb's
    ``encode_kwargs["batch_size"]`` only sizes mteb's own DataLoader batches, which are joined
    before encoding. ``name`` is the name mteb files results under, ``"organisation/model"``;
    by default a hub name (``"thenlper/gte-small"``) is kept and anything else becomes
    ``"gtekit/<folder or model name>"``.
    """

    def __init__(self, model: Embedder | str, batch_size: int = 64, name: str | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if name is not None and "/" not in name:
            raise ValueError(f"mteb model names look like 'organisation/model', got {name!r}")
        self.model = model if isinstance(model, Embedder) else Embedder.load(model)
        self.batch_size = batch_size
        self.name = name or mteb_name(getattr(self.model, "source", None))

    @property
    def mteb_model_meta(self) -> ModelMeta:
        """What mteb records about the model; rebuilt on each access so it follows changed weights."""
        settings = self.model.settings
        return ModelMeta(
            loader=None,  # mteb cannot load a gtekit model by name; pass the MtebEncoder itself
            name=self.name,
            revision=model_fingerprint(self.model)[:REVISION_LENGTH],
            release_date=None,
            languages=None,
            n_parameters=sum(p.numel() for p in self.model.encoder.parameters()),
            memory_usage_mb=None,
            max_tokens=settings.max_seq_length,
            embed_dim=self.model.dimension,
            license=None,
            open_weights=None,
            public_training_code=None,
            public_training_data=None,
            framework=["PyTorch", "Transformers"],
            similarity_fn_name="cosine",
            use_instructions=bool(settings.query_prefix or settings.document_prefix or settings.delimiters),
            training_datasets=None,
            modalities=["text"],
            model_type=["dense"],
        )

    def encode(self, inputs: DataLoader[BatchedInput], *, task_metadata: TaskMetadata, hf_split: str,
               hf_subset: str, prompt_type: PromptType | None = None, **kwargs: Any) -> np.ndarray:
        """All texts of ``inputs``, in order -> float32 (N, H), prefixed as ``prompt_type`` says.

        ``kwargs`` are mteb's ``encode_kwargs``: ``show_progress_bar`` is passed on, ``batch_size``
        is mteb's (see the class), and a ``precision`` other than float32 is refused rather than
        recorded for embeddings that do not have it."""
        precision = kwargs.get("precision")
        if precision not in (None, "float32"):
            raise ValueError(f"MtebEncoder returns float32 embeddings; precision={precision!r} is not supported")
        texts = []
        for batch in inputs:
            if "text" not in batch:
                raise ValueError(f"MtebEncoder encodes text only; task {task_metadata.name} gave a batch "
                                 f"with {sorted(batch)}")
            texts.extend(batch["text"])
        return self.model.encode(texts, batch_size=self.batch_size, kind=text_kind(prompt_type),
                                 show_progress=kwargs.get("show_progress_bar"))

    def similarity(self, embeddings1: Array, embeddings2: Array) -> torch.Tensor:
        """Cosine similarity of every pair (N, H) x (M, H) -> (N, M)."""
        return cos_sim(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Array, embeddings2: Array) -> torch.Tensor:
        """Cosine similarity of matching rows (N, H), (N, H) -> (N,)."""
        return pairwise_cos_sim(embeddings1, embeddings2)


def text_kind(prompt_type: PromptType | str | None) -> TextKind:
    """mteb's prompt type -> gtekit's text kind: query -> "query", document/passage -> "document", None -> None."""
    if prompt_type is None:
        return None
    value = getattr(prompt_type, "value", prompt_type)
    if value not in TEXT_KINDS:
        raise ValueError(f"unknown mteb prompt type {prompt_type!r}; valid: {', '.join(TEXT_KINDS)}, None")
    return TEXT_KINDS[value]


def mteb_name(source: str | None) -> str:
    """The mteb model name for a model loaded from ``source``: a hub name ("org/model") as it is,
    otherwise "gtekit/" + the folder or model name ("random:x" -> "gtekit/random-x")."""
    if not source:
        return "gtekit/model/embedder"
    path = Path(source).expanduser()
    if not path.exists():
        if source.count("/") == 1 and not source.startswith((".", "/", "~")):
            return source
    else:
        path = path.resolve()
    return "gtekit/" + (path.name or "embedder").replace(":", "-")
