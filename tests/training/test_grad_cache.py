"""The gradient cache against plain training, for every loss, with hard negatives and a trainable temperature.

How the references are arranged. Dropout (p = 0.1 in the tiny model) draws its masks from the random
stream, one forward at a time; a mask depends on the shape of the forward and on where the stream
stands. Plain training embeds each column in one forward, the gradient cache chunk by chunk, so with
dropout on the two draw different masks and cannot agree. The tests therefore compare:

1. dropout off (``model.eval()``): the cached step against plain training exactly as ``step.train_step``
   does it without the cache (one forward per column, one ``loss.backward()``), for chunk sizes 1, 3 and
   larger than the batch. This checks chunking, padding per chunk, re-ordering and the cached backward.
2. dropout on: the cached step against a *chunked reference*, which embeds the very same chunks in the
   same order with gradients, puts the rows back in order by itself (gather, where the engine scatters),
   and calls one ``loss.backward()``. Starting from the same seed, the reference draws the masks that
   the cache's first pass draws, so it is the function the cache differentiates; the cache must give its
   loss and gradients, and must leave the random stream where the reference leaves it (its replays run
   on a forked stream), so the next step draws the same masks too.
3. dropout on: the cache's second pass embeds exactly what its first pass did (bit for bit), which is
   what makes 2 hold; and with one chunk per column in input order the cache draws the masks of plain
   training, so it equals plain training with dropout on as well.

Losses and gradients (the logit scale's included) must agree in float32 to rtol 1e-5, with an atol of
1e-5 of each tensor's largest element (see ``assert_close``), and so must the weights after three AdamW
steps, with dropout off (against plain training) and on (against the chunked reference). A stand-in
encoder with exact float64 arithmetic checks the re-ordering bit for bit.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from gtekit import Embedder
from gtekit.losses import LogitScale, gte, infonce, matryoshka, symmetric
from gtekit.training.grad_cache import Chunk, RandomStateSnapshot, cached_backward, chunk_by_length

K = 2  # hard negatives per query
PAIRS = [  # (query, positive, hard negatives): lengths differ so chunks by length reorder rows
    ("what is a cat", "a cat is a small domesticated carnivorous mammal", ("a dog barks", "cats")),
    ("how do planes stay up in the air for so many hours", "wings", ("birds fly south", "air is mostly nitrogen")),
    ("why", "because the sky scatters blue light more than red light", ("no", "the sea is salty")),
    ("define entropy", "entropy measures disorder", ("energy is conserved", "a very long unrelated text "
                                                                              "about cooking pasta in salted water")),
    ("best pasta recipe", "boil pasta then add tomato sauce and basil", ("pasta", "recipes for bread")),
]
CASES = ["gte", "gte-negatives", "infonce-negatives", "symmetric", "gte-negatives-matryoshka"]
CHUNK_SIZES = [1, 3, 64]  # 64 > every column (5 queries, 5 documents, 10 negatives)
RTOL, ATOL = 1e-5, 1e-7


@pytest.fixture(scope="module")
def base_model(tiny_model_dir):
    return Embedder.load(tiny_model_dir)


def make_parts(base_model: Embedder, case: str) -> nn.ModuleDict:
    """A fresh copy of the model (and a logit scale for the symmetric loss), as the Trainer holds them."""
    parts = nn.ModuleDict({"embedder": Embedder(copy.deepcopy(base_model.encoder), base_model.tokenizer,
                                                base_model.settings)})
    if case == "symmetric":
        parts["logit_scale"] = LogitScale(0.05)
    return parts


def columns_of(case: str, pairs=PAIRS) -> list[tuple[list[str], str]]:
    """(texts, kind) per column, in the Trainer's layout: queries, positives, then negatives pair-major."""
    columns = [([p[0] for p in pairs], "query"), ([p[1] for p in pairs], "document")]
    if "negatives" in case:
        columns.append(([n for p in pairs for n in p[2][:K]], "document"))
    return columns


def loss_of(case: str, parts: nn.ModuleDict):
    """The loss as a function of the columns, each (N, H)."""
    if case == "symmetric":
        return lambda c: symmetric(c[0], c[1], None, parts["logit_scale"])
    loss = gte if case.startswith("gte") else infonce
    if case.endswith("matryoshka"):  # the loss of the prefixes 32 (all), 16 and 8, re-normalised
        loss = matryoshka(loss, [32, 16, 8], [1.0, 0.5, 2.0])
    if "negatives" in case:
        return lambda c: loss(c[0], c[1], c[2].view(c[0].size(0), K, -1))  # (B, K, H)
    return lambda c: loss(c[0], c[1])


def chunks_of(model: Embedder, case: str, chunk_size: int, pairs=PAIRS) -> list[list[Chunk]]:
    return [chunk_by_length(texts, chunk_size, lambda t, kind=kind: model.tokenize(t, kind))
            for texts, kind in columns_of(case, pairs)]


def plain_step(parts: nn.ModuleDict, case: str, pairs=PAIRS) -> torch.Tensor:
    """The step's path without the cache: one forward per column, one backward."""
    model = parts["embedder"]
    columns = [model(model.tokenize(texts, kind)) for texts, kind in columns_of(case, pairs)]  # each (N, H)
    loss = loss_of(case, parts)(columns)
    loss.backward()
    return loss.detach()


def chunked_reference_step(parts: nn.ModuleDict, groups: list[list[Chunk]], case: str) -> torch.Tensor:
    """The cache's chunks embedded in its order, with gradients; rows gathered back in order; one backward."""
    model = parts["embedder"]
    columns = []
    for chunks in groups:
        stacked = torch.cat([model(chunk.features) for chunk in chunks])  # (N, H) in chunk order
        columns.append(stacked[torch.argsort(torch.cat([chunk.indices for chunk in chunks]))])  # original order
    loss = loss_of(case, parts)(columns)
    loss.backward()
    return loss.detach()


def cached_step(parts: nn.ModuleDict, groups, case: str) -> torch.Tensor:
    return cached_backward(parts["embedder"], groups, loss_of(case, parts))


def assert_close(actual: torch.Tensor, expected: torch.Tensor, name: str = "") -> None:
    """Element-wise rtol 1e-5, with an atol of 1e-5 of the tensor's largest element (at least 1e-7).

    An element that is a sum of many terms of both signs (a word embedding's gradient over its
    occurrences) is rounded to within ε·Σ|terms|, not ε·|sum|, in any order of summation; a tolerance
    relative to the element alone would fail near-cancelling elements whatever the engine does.
    """
    atol = max(ATOL, RTOL * float(expected.abs().max()))
    torch.testing.assert_close(actual, expected, rtol=RTOL, atol=atol, msg=lambda m: f"{name}: {m}")


def gradients(parts: nn.ModuleDict) -> dict[str, torch.Tensor | None]:
    return {name: p.grad for name, p in parts.named_parameters() if p.requires_grad}


def assert_same_gradients(actual: nn.ModuleDict, expected: nn.ModuleDict) -> None:
    got, want = gradients(actual), gradients(expected)
    assert got.keys() == want.keys()
    assert sum(g is not None for g in want.values()) > 10
    for name, grad in want.items():
        assert (got[name] is None) == (grad is None), name
        if grad is not None:
            assert_close(got[name], grad, name)


# ---------------------------------------------------------------------------------- chunking and order
def test_chunk_by_length_sorts_longest_first_and_pads_each_chunk_to_its_longest(base_model):
    texts = [p[0] for p in PAIRS] + [p[1] for p in PAIRS]
    lengths = [int(base_model.tokenize([t])["attention_mask"].sum()) for t in texts]
    chunks = chunk_by_length(texts, 3, base_model.tokenize, pack=False)
    assert [len(c.indices) for c in chunks] == [3, 3, 3, 1]
    order = torch.cat([c.indices for c in chunks]).tolist()
    assert order == sorted(range(len(texts)), key=lambda i: -lengths[i])  # stable: ties keep input order
    for chunk in chunks:
        expected = base_model.tokenize([texts[i] for i in chunk.indices.tolist()])
        assert chunk.features.keys() == expected.keys()
        for key, value in expected.items():
            assert torch.equal(chunk.features[key], value), key
        assert chunk.features["input_ids"].size(1) == max(lengths[i] for i in chunk.indices.tolist())
    assert chunk_by_length([], 3, base_model.tokenize) == []

    packed = chunk_by_length(texts, 3, base_model.tokenize)  # later chunks fill the first chunk's padded size
    assert torch.cat([c.indices for c in packed]).tolist() == order
    budget = packed[0].features["input_ids"].numel()
    assert len(packed[0].indices) == 3
    for chunk in packed:
        assert chunk.features["input_ids"].numel() <= budget
        assert len(chunk.indices) == max(budget // int(chunk.features["attention_mask"].sum(1).max()), 1) or \
            chunk is packed[-1]
    assert len(packed) < len(chunks)
    with pytest.raises(ValueError, match="chunk_size"):
        chunk_by_length(texts, 0, base_model.tokenize)


class RowSum(nn.Module):
    """A stand-in encoder with exact arithmetic: a text's embedding is (sum of its token ids) · w, (b, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, dtype=torch.float64))

    def forward(self, features):
        ids = (features["input_ids"] * features["attention_mask"]).sum(dim=1, keepdim=True)  # (b, 1)
        return ids.double() * self.weight


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 64])
@pytest.mark.parametrize("by_length", [True, False])
def test_rows_reach_the_loss_in_original_order_and_gradients_return_to_them(base_model, chunk_size, by_length):
    texts = [n for p in PAIRS for n in p[2]]
    id_sums = torch.tensor([[float(base_model.tokenize([t])["input_ids"].sum())] for t in texts], dtype=torch.float64)
    if by_length:
        column = chunk_by_length(texts, chunk_size, base_model.tokenize)
    else:  # plain features stand for the next rows in order
        column = [base_model.tokenize(texts[s:s + chunk_size]) for s in range(0, len(texts), chunk_size)]
    weights = torch.arange(1, len(texts) + 1, dtype=torch.float64)  # a different weight per row
    seen = []

    def loss_fn(columns):
        seen.append(columns[0].detach().clone())
        return (columns[0][:, 0] * weights).sum()

    model = RowSum()
    loss = cached_backward(model, [column], loss_fn)
    assert torch.equal(seen[0], id_sums)  # the loss saw row i at position i
    assert loss.item() == float((id_sums[:, 0] * weights).sum())
    assert model.weight.grad.item() == float((id_sums[:, 0] * weights).sum())  # a misrouted row would change this


def test_chunks_must_cover_every_row_once(base_model):
    features = base_model.tokenize(["a", "b"])
    twice = [Chunk(torch.tensor([0, 1]), features), Chunk(torch.tensor([1, 0]), features)]
    with pytest.raises(ValueError, match="once each"):
        cached_backward(RowSum(), [twice], lambda c: c[0].sum())


# ---------------------------------------------------------------------------------- random state replay
def test_replay_reproduces_dropout_and_leaves_the_random_stream_alone(base_model):
    model = copy.deepcopy(base_model).train()
    features = base_model.tokenize([p[1] for p in PAIRS])
    with torch.no_grad():
        snapshot = RandomStateSnapshot.capture(torch.device("cpu"))
        first, second = model(features), model(features)
        stream = torch.get_rng_state()
        with snapshot.replay():
            again = model(features)
    assert not torch.equal(first, second)  # dropout is on
    assert torch.equal(again, first)
    assert torch.equal(torch.get_rng_state(), stream)
    with pytest.raises(ValueError, match="'cpu' and 'cuda'"):
        RandomStateSnapshot.capture(torch.device("meta"))


class Recorder(nn.Module):
    """Wraps an encoder and keeps every output, with whether it was computed with gradients."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.calls: list[tuple[bool, torch.Tensor]] = []

    def forward(self, features):
        embeddings = self.model(features)
        self.calls.append((torch.is_grad_enabled(), embeddings.detach().clone()))
        return embeddings


def test_second_pass_embeds_exactly_what_the_first_pass_did(base_model):
    parts = make_parts(base_model, "gte-negatives").train()
    recorder = Recorder(parts["embedder"])
    columns = chunks_of(base_model, "gte-negatives", 2)
    cached_backward(recorder, columns, loss_of("gte-negatives", parts))
    first = [e for grad, e in recorder.calls if not grad]
    second = [e for grad, e in recorder.calls if grad]
    assert len(first) == len(second) == sum(len(column) for column in columns) > 3
    for before, after in zip(first, second, strict=True):
        assert torch.equal(before, after)


# ---------------------------------------------------------------------------------- cached == uncached
@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
@pytest.mark.parametrize("case", CASES)
def test_cached_equals_plain_training_without_dropout(base_model, case, chunk_size):
    plain, cached = make_parts(base_model, case).eval(), make_parts(base_model, case).eval()
    expected = plain_step(plain, case)
    loss = cached_step(cached, chunks_of(base_model, case, chunk_size), case)
    assert_close(loss, expected)
    assert_same_gradients(cached, plain)


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
@pytest.mark.parametrize("case", CASES)
def test_cached_equals_the_chunked_reference_with_dropout(base_model, case, chunk_size):
    reference, cached = make_parts(base_model, case).train(), make_parts(base_model, case).train()
    groups = chunks_of(base_model, case, chunk_size)
    torch.manual_seed(11)
    expected = chunked_reference_step(reference, groups, case)
    stream = torch.get_rng_state()
    torch.manual_seed(11)
    loss = cached_step(cached, groups, case)
    assert torch.equal(torch.get_rng_state(), stream)  # the next step draws the same masks
    assert_close(loss, expected)
    assert_same_gradients(cached, reference)


@pytest.mark.parametrize("case", CASES)
def test_one_chunk_per_column_is_plain_training_even_with_dropout(base_model, case):
    plain, cached = make_parts(base_model, case).train(), make_parts(base_model, case).train()
    torch.manual_seed(5)
    expected = plain_step(plain, case)
    torch.manual_seed(5)
    groups = [[base_model.tokenize(texts, kind)] for texts, kind in columns_of(case)]
    loss = cached_step(cached, groups, case)
    assert_close(loss, expected)
    assert_same_gradients(cached, plain)


@pytest.mark.parametrize("dropout", [False, True])
@pytest.mark.parametrize("case", CASES)
def test_training_steps_end_with_the_same_weights(base_model, case, dropout):
    """Three AdamW steps on different batches: dropout off against plain training, on against the reference.

    The attention key biases are frozen: shifting every score of a query by q·b_k leaves the softmax
    unchanged, so their exact gradient is zero and what autograd returns is rounding (~1e-10), in plain
    training too. AdamW divides by √v, turning that into full steps of size lr in arbitrary directions
    that no two orders of summation share. Their gradients are compared above, where they are ~0.
    The runs are in float64: in float32 the same effect, smaller, reaches any weight whose gradient
    entry is close to zero (AdamW's steps are ±lr whatever the gradient's size), so chunks of other
    shapes would differ there by a few 1e-6; the float32 losses and gradients are compared above.
    """
    runs = {}
    for path in ("reference", "cached"):
        parts = make_parts(base_model, case).train(dropout).double()
        for name, parameter in parts.named_parameters():
            if name.endswith("attention.self.key.bias"):
                parameter.requires_grad_(False)
        optimizer = torch.optim.AdamW([p for p in parts.parameters() if p.requires_grad], lr=1e-3)
        torch.manual_seed(3)
        losses = []
        for step in range(3):
            pairs = PAIRS[step:] + PAIRS[:step]
            groups = chunks_of(base_model, case, 2, pairs)
            if path == "cached":
                losses.append(cached_step(parts, groups, case))
            elif dropout:
                losses.append(chunked_reference_step(parts, groups, case))
            else:
                losses.append(plain_step(parts, case, pairs))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        runs[path] = (torch.stack(losses), parts.state_dict())
    (expected_losses, expected), (losses, weights) = runs["reference"], runs["cached"]
    assert_close(losses, expected_losses)
    assert not torch.equal(weights["embedder.encoder.embeddings.LayerNorm.weight"],
                           base_model.state_dict()["encoder.embeddings.LayerNorm.weight"])  # training moved them
    for name, value in expected.items():
        assert_close(weights[name], value, name)
