"""The choices of an inference run, importable without torch (the command line builds its help from them), and
:class:`EncodeSettings`, everything ``gtekit encode`` is asked to do, for ``encode_files.encode_files``.

Depends on ``gtekit.io.embedding_store`` (the default shard size) only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ..io.embedding_store import DEFAULT_SHARD_SIZE

DEFAULT_WINDOW_SIZE = 4096  # texts tokenised and length-sorted together
DEFAULT_BATCH_SIZE = 128  # texts per forward pass at most
DEFAULT_MAX_BATCH_TOKENS = 4096  # padded tokens per forward pass at most (fastest of 2048-8192 on MiniLM, CPU)


class Backend(Enum):
    TORCH = "torch"
    ONNX = "onnx"

    @classmethod
    def parse(cls, value: str | Backend) -> Backend:
        if isinstance(value, Backend):
            return value
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown backend {value!r}; valid: {', '.join(b.value for b in cls)}") from None


class ComputePrecision(Enum):
    FP32 = "fp32"
    BF16 = "bf16"
    INT8 = "int8"

    @classmethod
    def parse(cls, value: str | ComputePrecision) -> ComputePrecision:
        if isinstance(value, ComputePrecision):
            return value
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown precision {value!r}; valid: {', '.join(p.value for p in cls)}") from None


@dataclass
class EncodeSettings:
    """Text files -> embeddings: encoded shards in the folder ``output``, or one array when it ends in ``.npy``.

    The model options are those of ``engine.EncodeOptions`` (``max_batch_tokens`` 0: no limit; ``device`` None:
    CUDA when available for the torch backend, else the CPU)."""

    model: str = ""  # a model folder, bundled or hub name; for the onnx backend, a `gtekit export onnx` folder
    inputs: list[str] = field(default_factory=list)  # .txt, .jsonl, .jsonl.gz or .parquet files
    output: str = ""  # a folder of shards, or a .npy file
    text_field: str = "text"  # JSONL field / Parquet column holding the text
    id_field: str | None = None  # JSONL field / Parquet column holding the id; None: "<file>:<line>"
    skip_invalid: bool = False  # leave out (and list) invalid rows instead of stopping; shards only
    kind: str | None = None  # "query" / "document": the model's prefix or delimiters
    normalize: bool = True
    max_seq_length: int | None = None  # None: the model's own
    precision: ComputePrecision = ComputePrecision.FP32
    backend: Backend = Backend.TORCH
    device: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS
    processes: int = 1  # worker processes on the CPU
    shard_size: int = DEFAULT_SHARD_SIZE  # rows per shard: the unit of resuming
    overwrite: bool = False  # start afresh in a folder holding shards of other inputs or options
    progress: bool = True  # a progress bar

    def __post_init__(self) -> None:
        self.precision = ComputePrecision.parse(self.precision)
        self.backend = Backend.parse(self.backend)
        for name in ("batch_size", "processes", "shard_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} (--{name.replace('_', '-')}) must be >= 1, got {getattr(self, name)}")
        if self.max_batch_tokens < 0:
            raise ValueError(f"max_batch_tokens (--max-batch-tokens) must be >= 0, got {self.max_batch_tokens}")
        if self.skip_invalid and self.writes_array:
            raise ValueError("skip_invalid (--skip-invalid) leaves rows out, and a .npy array has no ids to show "
                             "which: write shards (-o DIR) instead")

    @property
    def writes_array(self) -> bool:
        """Whether the output is one .npy array rather than a folder of shards."""
        return self.output.endswith(".npy")
