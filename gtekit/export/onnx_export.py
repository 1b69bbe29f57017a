"""Export an ``Embedder`` to ONNX: encoder, pooling and L2 normalisation in one graph, checked against PyTorch.

``export_onnx(model, ExportSettings(DIR))`` writes the folder that ``OnnxEmbedder`` reads (layout: ``runtime``):

1. trace ``SentenceEmbeddingGraph`` (token ids -> pooled, normalised embedding) with PyTorch's
   TorchScript ONNX exporter (``torch.onnx.export(dynamo=False)``: it needs nothing beyond torch and
   onnx, where the dynamo exporter also needs onnxscript), with dynamic batch and sequence axes. The
   encoder is traced with transformers' eager attention, whose MatMul/Softmax pattern onnxruntime's
   transformer optimizer fuses into its Attention op; the dummy batch has padding, so the traced
   graph keeps the attention mask;
2. with ``optimize``: onnxruntime's offline transformer optimizer (fused Attention, SkipLayerNorm,
   BiasGelu, EmbedLayerNorm; the graph then needs onnxruntime's contrib ops);
3. with ``int8``: ``onnxruntime.quantization.quantize_dynamic`` of the (optimised) fp32 graph: int8
   weights per output channel, in 7-bit range so that AVX2/AVX-512 CPUs without VNNI cannot saturate
   (onnxruntime's quantization guide), activations quantised at run time;
4. verify: embed ``VERIFY_TEXTS`` with ``OnnxEmbedder`` and with ``Embedder.encode``; the export fails
   unless every row's cosine reaches ``FP32_MIN_COSINE`` (``INT8_MIN_COSINE`` for int8).

Everything is written into a temporary folder renamed into place, so a failed export leaves nothing.
Depends on ``embedder``, ``model_files``, ``atomic`` and ``runtime``; never on training or evaluation.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import __version__
from ..io.atomic import atomic_path
from ..model.embedder import Embedder
from ..model.model_files import write_settings
from .runtime import (
    INSTALL_HINT,
    MANIFEST,
    MANIFEST_FORMAT,
    MANIFEST_VERSION,
    POOLED_OUTPUT,
    SENTENCE_OUTPUT,
    OnnxEmbedder,
    OptionalDependencyError,
    Precision,
    require_onnxruntime,
)
from .settings import FP32_MIN_COSINE, INT8_MIN_COSINE, ExportSettings

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # in the order the graph takes them
DUMMY_TEXTS = ("a", "a longer text with several more tokens, so that the first one is padded")
VERIFY_BATCH_SIZE = 4  # several batches of different padded lengths
VERIFY_TEXTS = (
    "A man is playing a guitar.",
    "A woman is slicing an onion in the kitchen.",
    "How do I reset my password?",
    "def add(a, b):\n    return a + b",
    "",
    "42",
    "Ünïcödé text — with dashes, “quotes” and émojis 🙂",
    "東京は日本の首都です。",
    "The quick brown fox jumps over the lazy dog. " * 80,  # longer than any max_seq_length: truncated
    "what is the capital of france",
    "Paris is the capital and most populous city of France.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "SELECT name, COUNT(*) FROM users GROUP BY name HAVING COUNT(*) > 1;",
)


class ExportVerificationError(RuntimeError):
    """The exported graph's embeddings disagree with PyTorch's."""


@dataclass(frozen=True)
class Agreement:
    """How one graph's embeddings compare with ``Embedder.encode`` on the same texts (normalised rows)."""

    texts: int
    min_cosine: float
    mean_cosine: float
    max_abs_diff: float

    @classmethod
    def measure(cls, reference: np.ndarray, candidate: np.ndarray) -> Agreement:
        """cos_i = <r_i, c_i> / (||r_i|| ||c_i||); max |r - c| after normalising both."""
        reference = reference / np.maximum(np.linalg.norm(reference, axis=1, keepdims=True), 1e-12)
        candidate = candidate / np.maximum(np.linalg.norm(candidate, axis=1, keepdims=True), 1e-12)
        cosines = (reference * candidate).sum(axis=1)
        return cls(texts=len(cosines), min_cosine=float(cosines.min()), mean_cosine=float(cosines.mean()),
                   max_abs_diff=float(np.abs(reference - candidate).max()))


@dataclass(frozen=True)
class ExportResult:
    """What ``export_onnx`` wrote: the folder, the graph of each precision, its agreement with PyTorch."""

    folder: Path
    files: dict[str, Path]  # precision value -> graph file
    agreement: dict[str, Agreement]  # precision value -> agreement on VERIFY_TEXTS
    manifest: dict


class SentenceEmbeddingGraph(nn.Module):
    """What ``model.onnx`` computes: token ids (B, T) -> (sentence_embedding, pooled_embedding), each (B, H)."""

    def __init__(self, model: Embedder, input_names: tuple[str, ...]) -> None:
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *inputs: Tensor) -> tuple[Tensor, Tensor]:
        pooled = self.model(dict(zip(self.input_names, inputs, strict=True)))  # (B, H)
        sentence = F.normalize(pooled, dim=-1) if self.model.settings.normalize else pooled
        return sentence, pooled


def export_onnx(model: Embedder | str | os.PathLike, settings: ExportSettings) -> ExportResult:
    """Export ``model`` (an Embedder, or a name/path for ``Embedder.load``) into ``settings.output_dir``; see the
    module docstring. The folder must not exist or be empty, unless ``settings.overwrite`` (then it is replaced
    whole)."""
    output, opset, optimize = Path(settings.output_dir), settings.opset, settings.optimize
    _check_output_folder(output, settings.overwrite)
    ort = require_onnxruntime()
    _require_onnx()
    embedder = _cpu_fp32(model if isinstance(model, Embedder) else Embedder.load(model))
    source = str(getattr(embedder, "source", None) or ("Embedder" if isinstance(model, Embedder) else model))
    files = {Precision.FP32.value: Precision.FP32.filename}
    with atomic_path(output) as tmp, _eval_mode(embedder):
        tmp.mkdir()
        fp32_path = tmp / Precision.FP32.filename
        input_names = export_graph(embedder, fp32_path, opset)
        fused = optimize_graph(fp32_path, embedder) if optimize else None
        if settings.int8:
            quantize_graph(fp32_path, tmp / Precision.INT8.filename)
            files[Precision.INT8.value] = Precision.INT8.filename
        embedder.tokenizer.save_pretrained(tmp)
        embedder.encoder.config.save_pretrained(tmp)
        write_settings(tmp, embedder.settings, embedder.dimension)
        manifest = {
            "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "model": source,
            "dimension": embedder.dimension, "opset": opset, "inputs": list(input_names),
            "outputs": [SENTENCE_OUTPUT, POOLED_OUTPUT], "normalized_output": embedder.settings.normalize,
            "pooling": embedder.settings.pooling, "max_seq_length": embedder.settings.max_seq_length,
            "optimized": optimize, "fused_operators": fused,
            "files": {precision: {"file": name} for precision, name in files.items()},
            "versions": _versions(ort),
        }
        _write_json(tmp / MANIFEST, manifest)  # OnnxEmbedder.load needs it to verify
        agreement = {precision: verify_export(embedder, tmp, Precision(precision)) for precision in files}
        for precision, entry in manifest["files"].items():
            entry.update(bytes=(tmp / entry["file"]).stat().st_size, verified=asdict(agreement[precision]))
        manifest["verification"] = {"reference": "Embedder.encode (PyTorch, fp32)", "texts": len(VERIFY_TEXTS),
                                    "min_cosine": {Precision.FP32.value: FP32_MIN_COSINE,
                                                   Precision.INT8.value: INT8_MIN_COSINE}}
        _write_json(tmp / MANIFEST, manifest)
    return ExportResult(output, {precision: output / name for precision, name in files.items()}, agreement, manifest)


def export_graph(model: Embedder, path: Path, opset: int) -> tuple[str, ...]:
    """Trace ``SentenceEmbeddingGraph`` into ``path`` with dynamic batch and sequence axes; returns its inputs."""
    features = model.tokenize(list(DUMMY_TEXTS))
    missing = [name for name in MODEL_INPUTS[:2] if name not in features]
    if missing:
        raise ValueError(f"the tokenizer gives no {missing}; an ONNX export needs input_ids and attention_mask")
    input_names = tuple(name for name in MODEL_INPUTS if name in features)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in input_names}
    dynamic.update({SENTENCE_OUTPUT: {0: "batch"}, POOLED_OUTPUT: {0: "batch"}})
    graph = SentenceEmbeddingGraph(model, input_names)
    packing, model.packing = model.packing, False  # the graph is the padded computation: packing is data-dependent
    try:
        with _eager_attention(model.encoder), warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's deprecation notice and tracer warnings: verify_export
            torch.onnx.export(graph, tuple(features[name] for name in input_names), str(path), dynamo=False,
                              input_names=list(input_names), output_names=[SENTENCE_OUTPUT, POOLED_OUTPUT],
                              dynamic_axes=dynamic, opset_version=opset, do_constant_folding=True)
    finally:
        model.packing = packing
    _declare_output_width(path, model.dimension)
    return input_names


def _declare_output_width(path: Path, dimension: int) -> None:
    """Declare the outputs (batch, dimension): the tracer leaves the width after the Div symbolic."""
    import onnx

    graph_model = onnx.load(str(path), load_external_data=False)  # weights of a > 2 GB graph stay in their files
    for output in graph_model.graph.output:
        output.type.tensor_type.shape.dim[1].dim_value = dimension  # replaces the symbolic dim_param
    onnx.save(graph_model, str(path))


def optimize_graph(path: Path, model: Embedder) -> dict[str, int]:
    """Rewrite ``path`` with onnxruntime's transformer optimizer; returns the fused operators and their counts."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = model.encoder.config
    model_type = config.model_type if config.model_type in ("bert", "roberta", "distilbert") else "bert"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimized = optimize_model(str(path), model_type=model_type, num_heads=int(config.num_attention_heads),
                                   hidden_size=int(config.hidden_size), opt_level=0)
    optimized.save_model_to_file(str(path))
    return {name: count for name, count in optimized.get_fused_operator_statistics().items() if count}


def quantize_graph(fp32_path: Path, int8_path: Path) -> None:
    """Dynamic quantisation: int8 weights (per output channel, 7-bit range), uint8 activations at run time."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _without_root_log("pre-processing before quantization"):  # advice for static quantisation only
        quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=True, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def verify_export(model: Embedder, folder: Path, precision: Precision) -> Agreement:
    """Compare the folder's ``precision`` graph with ``model.encode`` on VERIFY_TEXTS; raise when they disagree."""
    texts = list(VERIFY_TEXTS)
    reference = model.encode(texts, batch_size=VERIFY_BATCH_SIZE, normalize=True)
    exported = OnnxEmbedder.load(folder, int8=precision is Precision.INT8)
    agreement = Agreement.measure(reference, exported.encode(texts, batch_size=VERIFY_BATCH_SIZE, normalize=True))
    bound = INT8_MIN_COSINE if precision is Precision.INT8 else FP32_MIN_COSINE
    if not agreement.min_cosine >= bound:  # also catches NaN
        raise ExportVerificationError(
            f"the exported {precision.value} graph disagrees with PyTorch: minimum cosine {agreement.min_cosine:.6f} "
            f"over {agreement.texts} texts (required: {bound}); mean {agreement.mean_cosine:.6f}, "
            f"max |difference| {agreement.max_abs_diff:.3g}. Nothing was written.")
    return agreement


def _check_output_folder(output: Path, overwrite: bool) -> None:
    if output.exists() and not output.is_dir():
        raise ValueError(f"{output} exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise ValueError(f"{output} exists and is not empty; choose another folder, or pass --overwrite "
                         "(overwrite=True) to replace it")


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401  (torch.onnx.export and the quantizer need it)
    except ImportError as error:
        raise OptionalDependencyError(f"ONNX export needs onnx and onnxruntime: {INSTALL_HINT}") from error


def _cpu_fp32(model: Embedder) -> Embedder:
    """The model itself when it is on the CPU in float32, else a CPU float32 copy."""
    parameter = next(model.parameters())
    if parameter.device.type != "cpu" or parameter.dtype != torch.float32:
        source = getattr(model, "source", None)
        model = copy.deepcopy(model).to("cpu", torch.float32)
        if source is not None:
            model.source = source
    return model


@contextmanager
def _eval_mode(model: nn.Module):
    """Eval mode (no dropout) while exporting; the model's own mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@contextmanager
def _eager_attention(encoder: nn.Module):
    """Trace with transformers' eager attention (fusable by onnxruntime); restore the encoder's own afterwards."""
    config = getattr(encoder, "config", None)
    before = getattr(config, "_attn_implementation", None)
    switch = getattr(encoder, "set_attn_implementation", None)
    if switch is None or before in (None, "eager"):
        yield
        return
    switch("eager")
    try:
        yield
    finally:
        switch(before)


@contextmanager
def _without_root_log(fragment: str):
    """Drop root-logger records containing ``fragment`` (the quantizer logs its advice there) while inside."""

    def keep(record: logging.LogRecord) -> bool:
        return fragment not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def _versions(ort) -> dict[str, str]:
    import onnx

    return {"gtekit": __version__, "torch": torch.__version__, "onnx": onnx.__version__,
            "onnxruntime": ort.__version__}


def _write_json(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
