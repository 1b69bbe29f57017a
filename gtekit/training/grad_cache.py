"""Gradient cache: contrastive training on batches larger than the encoder fits at once, for any loss.

A contrastive loss needs every embedding of the batch together, so the batch cannot be split into
accumulated micro-batches. The gradient cache (Gao et al. 2021, arXiv:2101.06983) splits the encoder
work instead, in three steps:

1. embed every chunk of every column without gradients, saving the random state before each chunk;
2. put each column's rows back in their original order, compute the loss on the full batch and
   back-propagate to the embeddings (and to trainable parameters of the loss, e.g. a logit scale),
   caching d loss / d embeddings;
3. re-embed each chunk with gradients under its saved random state, so dropout draws the masks of
   step 1, and back-propagate the chunk's rows of the cached gradient into the encoder.

Only one chunk's activations are alive at a time, and the parameter gradients are those of one
``loss.backward()`` through the same chunked forward. The engine knows nothing about which loss runs
inside it: the loss is a callable from the list of columns, each (N, H), to a scalar. Depends on torch
only. In a training step, in place of embed → loss → ``loss.backward()``::

    columns = [chunk_by_length(texts, 32, partial(model.tokenize, kind=kind))
               for texts, kind in ((queries, "query"), (documents, "document"))]
    loss = cached_backward(model, columns, lambda c: gte(c[0], c[1], temperature=0.01))
    optimizer.step()
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

Features = dict[str, Tensor]  # tokenizer output: each (b, T)


class Chunk(NamedTuple):
    """Rows ``indices`` (b,) of a column, tokenized together: ``features``, each (b, T)."""

    indices: Tensor
    features: Features


@dataclass(frozen=True)
class RandomStateSnapshot:
    """The CPU random state and, for a model on a GPU, that GPU's, taken at one moment.

    ``replay()`` runs a block from this state and on exit puts back the state it found, so a replay
    never changes the random numbers the rest of training draws (torch.utils.checkpoint does the same
    for its recomputation).
    """

    cpu: Tensor
    cuda_index: int | None = None
    cuda: Tensor | None = None

    @classmethod
    def capture(cls, device: torch.device) -> RandomStateSnapshot:
        if device.type == "cpu":
            return cls(torch.get_rng_state())
        if device.type == "cuda":
            index = device.index if device.index is not None else torch.cuda.current_device()
            return cls(torch.get_rng_state(), index, torch.cuda.get_rng_state(index))
        raise ValueError(f"the gradient cache replays random state on 'cpu' and 'cuda' only, not {device.type!r}")

    @contextmanager
    def replay(self) -> Iterator[None]:
        with torch.random.fork_rng(devices=[] if self.cuda_index is None else [self.cuda_index]):
            torch.set_rng_state(self.cpu)
            if self.cuda is not None:
                torch.cuda.set_rng_state(self.cuda, self.cuda_index)
            yield


def chunk_by_length(texts: Sequence[str], chunk_size: int, tokenize: Callable[[list[str]], Features],
                    pack: bool = True) -> list[Chunk]:
    """Split a column into chunks of texts of similar token length, longest first.

    ``tokenize`` maps texts to padded features holding an ``attention_mask``. The first chunk holds
    the ``chunk_size`` longest texts; with ``pack`` (the default) every later chunk holds as many
    texts as fit in the same padded size, ``chunk_size`` × (the column's longest length) tokens, so
    short texts go through the encoder in fewer, larger calls while no chunk takes more activation
    memory than the first (attention's b·T² shrinks too, as b·T is fixed and T falls). Without
    ``pack`` every chunk holds ``chunk_size`` texts. Each chunk is tokenized on its own, so it is
    padded only to its longest text; ``Chunk.indices`` are the texts' positions in ``texts``, which
    :func:`cached_backward` uses to give the loss the rows in their original order.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    lengths = [tokenize(list(texts[start:start + chunk_size]))["attention_mask"].sum(dim=1)  # (b,) tokens
               for start in range(0, len(texts), chunk_size)]
    if not lengths:
        return []
    lengths = torch.cat(lengths)  # (N,)
    order = torch.argsort(lengths, descending=True, stable=True)  # (N,), ties keep input order
    sorted_lengths = lengths[order].tolist()
    budget = chunk_size * max(sorted_lengths[0], 1)  # padded tokens of the first, longest chunk
    chunks, start = [], 0
    while start < len(order):
        size = max(budget // max(sorted_lengths[start], 1), 1) if pack else chunk_size
        rows = order[start:start + size]
        chunks.append(Chunk(rows, tokenize([texts[i] for i in rows.tolist()])))
        start += size
    return chunks


def embed_without_grad(model: nn.Module, features_chunks: Sequence[Features],
                       bf16: bool = False) -> tuple[list[Tensor], list[RandomStateSnapshot]]:
    """Step 1: each chunk's embeddings (b, H), without a graph, and the random state before each chunk."""
    device = _device_of(model)
    embeddings, states = [], []
    with torch.no_grad():
        for features in features_chunks:
            states.append(RandomStateSnapshot.capture(device))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                embeddings.append(model(to_device(features, device)))
    return embeddings, states


def cached_backward(model: nn.Module, feature_groups: Sequence[Sequence[Chunk | Features]],
                    loss_fn: Callable[[list[Tensor]], Tensor], bf16: bool = False) -> Tensor:
    """Back-propagate ``loss_fn(columns)`` into ``model`` chunk by chunk; return the loss, detached.

    ``feature_groups`` holds one list of chunks per column (queries, documents, hard negatives, ...).
    A chunk is a :class:`Chunk` or plain features, which then stand for the column's next rows in
    order. ``loss_fn`` gets every column as one (N, H) tensor in original row order and returns a
    scalar; whatever it does in between (gather the columns across processes, compute the loss in row
    blocks) is its own autograd, and parameters it uses itself (a trainable temperature) get their
    gradients from its backward as usual. Gradients accumulate into ``.grad`` as ``loss.backward()``
    would, so call this where the step did that. A model wrapped in ``DistributedDataParallel``
    all-reduces its gradients once, in the backward of the last chunk; the chunks before it run under
    ``no_sync()``.
    """
    device = _device_of(model)
    columns = [_with_positions(chunks) for chunks in feature_groups]
    embedded = [embed_without_grad(model, [chunk.features for chunk in chunks], bf16) for chunks in columns]

    leaves = [_in_order(chunks, embeddings).requires_grad_()  # each (N, H), original row order
              for chunks, (embeddings, _) in zip(columns, embedded, strict=True)]
    loss = loss_fn(leaves)
    loss.backward()  # fills leaf.grad, d loss / d column (N, H), and the loss's own parameters' .grad

    replays = [(chunk, state, leaf.grad)
               for chunks, (_, states), leaf in zip(columns, embedded, leaves, strict=True)
               if leaf.grad is not None  # None: the loss did not use this column
               for chunk, state in zip(chunks, states, strict=True)]
    for position, (chunk, state, grad) in enumerate(replays):
        last = position == len(replays) - 1
        with _gradient_sync(model, last), state.replay(), \
                torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            embeddings = model(to_device(chunk.features, device))  # (b, H), the same values as in step 1
        with _gradient_sync(model, last):
            embeddings.backward(grad[chunk.indices.to(device)])
    return loss.detach()


def _gradient_sync(model: nn.Module, sync: bool):
    """DDP's ``no_sync()`` for every chunk but the last; nothing for a plain module."""
    no_sync = getattr(model, "no_sync", None)
    return nullcontext() if sync or no_sync is None else no_sync()


def _with_positions(chunks: Sequence[Chunk | Features]) -> list[Chunk]:
    """Give plain features the next consecutive rows; check that the chunks cover rows 0..N-1 once each."""
    positioned, offset = [], 0
    for chunk in chunks:
        if not isinstance(chunk, Chunk):
            chunk = Chunk(torch.arange(offset, offset + len(next(iter(chunk.values())))), chunk)
        positioned.append(chunk)
        offset += len(chunk.indices)
    if not positioned:
        raise ValueError("every column needs at least one chunk")
    rows = torch.cat([chunk.indices for chunk in positioned]).sort().values
    if not torch.equal(rows.cpu(), torch.arange(len(rows))):
        raise ValueError(f"a column's chunks must hold rows 0..{len(rows) - 1} once each")
    return positioned


def _in_order(chunks: list[Chunk], embeddings: list[Tensor]) -> Tensor:
    """The column (N, H): each chunk's rows (b, H) written back to their original positions."""
    column = embeddings[0].new_empty(sum(len(e) for e in embeddings), embeddings[0].size(1))
    for chunk, rows in zip(chunks, embeddings, strict=True):
        column[chunk.indices.to(column.device)] = rows
    return column


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def to_device(features: Features, device: torch.device) -> Features:
    """The features on ``device`` (copied without blocking where the source memory allows)."""
    return {key: value.to(device, non_blocking=True) for key, value in features.items()}
