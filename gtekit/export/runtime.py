"""Embed texts with ONNX Runtime from a folder written by ``gtekit export onnx``.

``OnnxEmbedder.load(DIR).encode(texts)`` gives what ``Embedder.encode`` gives for the model that
was exported (same prefixes, delimiters, truncation, length-sorted batches, output in input order,
float32), with no PyTorch forward pass. This module also owns the export folder's layout:

    DIR/model.onnx             fp32 graph: token ids -> sentence_embedding, pooled_embedding
    DIR/model_int8.onnx        the same graph with int8 weights (``--int8`` only)
    DIR/export_manifest.json   model source, opset, precisions, how each graph agreed with PyTorch
    DIR/gtekit_config.json     pooling, normalize, max_seq_length, prefixes (plus the
                               sentence-transformers module files and the encoder's config.json)
    DIR/tokenizer*.json, vocab.txt, ...   the tokenizer

Needs the optional ``onnxruntime`` package (``pip install 'gtekit[onnx]'``), imported on ``load``.
Depends on ``embedder`` for tokenization (``tokenize_texts``) and ``model_files`` for the settings;
never on training, losses or evaluation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..model.embedder import PROGRESS_MIN_TEXTS, TextKind, check_texts, prepare_texts, tokenize_texts
from ..model.model_files import EmbedderSettings, read_settings, refuse_remote_code

MANIFEST = "export_manifest.json"
MANIFEST_FORMAT = "gtekit-onnx"
MANIFEST_VERSION = 1
SENTENCE_OUTPUT = "sentence_embedding"  # pooled, then L2-normalised when the model's settings say normalize
POOLED_OUTPUT = "pooled_embedding"  # pooled, never normalised
NORM_EPSILON = 1e-12  # as torch.nn.functional.normalize: x / max(||x||_2, eps)
INSTALL_HINT = "pip install 'gtekit[onnx]'"


class Precision(StrEnum):
    """Which graph of an export folder to run."""

    FP32 = "fp32"
    INT8 = "int8"

    @property
    def filename(self) -> str:
        return {Precision.FP32: "model.onnx", Precision.INT8: "model_int8.onnx"}[self]


class OptionalDependencyError(ImportError, RuntimeError):
    """An optional package (onnx, onnxruntime) is not installed; the message says how to install it."""


def require_onnxruntime():
    """The ``onnxruntime`` module, or an error naming the install command."""
    try:
        import onnxruntime
    except ImportError as error:
        raise OptionalDependencyError(f"ONNX export and inference need onnxruntime and onnx: {INSTALL_HINT}") from error
    return onnxruntime


@dataclass(frozen=True)
class ExportManifest:
    """The parts of ``export_manifest.json`` that running a graph needs (the file holds more: see docs/export.md)."""

    model: str
    opset: int
    dimension: int
    inputs: tuple[str, ...]
    normalized_output: bool  # whether SENTENCE_OUTPUT is L2-normalised
    files: dict[str, str]  # precision value -> file name in the folder

    @classmethod
    def read(cls, folder: Path) -> ExportManifest:
        path = folder / MANIFEST
        if not folder.is_dir():
            raise FileNotFoundError(f"ONNX export folder {folder} does not exist; "
                                    "create it with `gtekit export onnx MODEL DIR`")
        if not path.is_file():
            raise FileNotFoundError(f"{folder} is not a gtekit ONNX export (no {MANIFEST}); "
                                    "create one with `gtekit export onnx MODEL DIR`")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from None
        if data.get("format") != MANIFEST_FORMAT or data.get("version") != MANIFEST_VERSION:
            raise ValueError(f"{path}: format {data.get('format')!r} version {data.get('version')!r}; "
                             f"expected {MANIFEST_FORMAT!r} version {MANIFEST_VERSION}")
        try:
            return cls(model=str(data["model"]), opset=int(data["opset"]), dimension=int(data["dimension"]),
                       inputs=tuple(data["inputs"]), normalized_output=bool(data["normalized_output"]),
                       files={precision: entry["file"] for precision, entry in data["files"].items()})
        except (KeyError, TypeError) as error:
            raise ValueError(f"{path}: missing or malformed field {error}") from None


class OnnxEmbedder:
    """Text -> embedding with ONNX Runtime, from a ``gtekit export onnx`` folder.

    >>> model = OnnxEmbedder.load("minilm-onnx")              # fp32; int8=True for model_int8.onnx
    >>> model.encode(["a cat", "a dog"]).shape
    (2, 384)
    """

    def __init__(self, session, tokenizer, settings: EmbedderSettings, manifest: ExportManifest,
                 folder: Path, precision: Precision) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.settings = settings
        self.manifest = manifest
        self.folder = folder
        self.precision = precision
        self.input_names = [value.name for value in session.get_inputs()]
        self.source = f"onnx:{folder}" + (":int8" if precision is Precision.INT8 else "")

    @classmethod
    def load(cls, folder: str | os.PathLike, int8: bool = False, threads: int | None = None) -> OnnxEmbedder:
        """Open ``folder/model.onnx`` (``int8=True``: ``model_int8.onnx``) with the CPU execution provider.

        ``threads``: intra-op threads (default: onnxruntime's choice, one per physical core)."""
        ort = require_onnxruntime()
        from transformers import AutoTokenizer

        folder = refuse_remote_code(Path(folder))
        manifest = ExportManifest.read(folder)
        precision = Precision.INT8 if int8 else Precision.FP32
        filename = manifest.files.get(precision.value)
        if filename is None or not (folder / filename).is_file():
            hint = " (export with --int8 to add it)" if int8 else ""
            raise FileNotFoundError(f"{folder} has no {precision.value} graph {precision.filename}{hint}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 (or None for onnxruntime's default), got {threads}")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(folder / filename), options, providers=["CPUExecutionProvider"])
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
        return cls(session, tokenizer, read_settings(folder), manifest, folder, precision)

    # ----------------------------------------------------------------- properties
    @property
    def dimension(self) -> int:
        return self.manifest.dimension

    # ----------------------------------------------------------------- text -> arrays
    def prepare(self, texts: Sequence[str], kind: TextKind = None, prefix: str | None = None) -> list[str]:
        """Add the query/document prefix and delimiters, as :meth:`Embedder.prepare`."""
        return prepare_texts(self.settings, texts, kind, prefix)

    def tokenize(self, texts: Sequence[str], kind: TextKind = None, max_length: int | None = None,
                 prefix: str | None = None) -> dict[str, np.ndarray]:
        """The graph's inputs for ``texts``: int64 arrays (B, T), tokenized as :meth:`Embedder.tokenize`."""
        features = tokenize_texts(self.tokenizer, self.settings, texts, kind, max_length, prefix)
        arrays = {}
        for name in self.input_names:
            if name in features:
                arrays[name] = features[name].numpy().astype(np.int64, copy=False)
            elif name == "token_type_ids":  # a tokenizer without segments: all zeros, as the encoder's default
                arrays[name] = np.zeros_like(features["input_ids"].numpy(), dtype=np.int64)
            else:
                raise ValueError(f"{self.folder}: the graph needs input {name!r}, which the tokenizer does not give")
        return arrays

    # ----------------------------------------------------------------- inference
    def encode(self, texts: Sequence[str] | str, batch_size: int = 64, normalize: bool | None = None,
               kind: TextKind = None, show_progress: bool | None = None) -> np.ndarray:
        """Embed ``texts`` (N,) -> float32 array (N, H), as :meth:`Embedder.encode`: batches of similar
        length (longest first), output in input order; ``normalize=None`` means the model's setting."""
        if isinstance(texts, str):
            texts = [texts]
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        check_texts(texts)
        normalize = self.settings.normalize if normalize is None else normalize
        # the in-graph normalisation when it is wanted; else the raw pooled vector, normalised here if asked
        output_name = SENTENCE_OUTPUT if normalize and self.manifest.normalized_output else POOLED_OUTPUT
        normalize_here = normalize and output_name == POOLED_OUTPUT
        order = np.argsort([-len(text) for text in texts], kind="stable")
        output = np.empty((len(texts), self.dimension), dtype=np.float32)
        show = len(texts) >= PROGRESS_MIN_TEXTS if show_progress is None else show_progress
        for start in tqdm(range(0, len(texts), batch_size), desc="encode", disable=not show, unit="batch"):
            index = order[start:start + batch_size]
            inputs = self.tokenize([texts[i] for i in index], kind)
            embeddings = self.session.run([output_name], inputs)[0].astype(np.float32, copy=False)  # (B, H)
            if normalize_here:
                embeddings = l2_normalize(embeddings)
            output[index] = embeddings
        return output


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows divided by max(||row||_2, 1e-12), as ``torch.nn.functional.normalize``."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, NORM_EPSILON)
