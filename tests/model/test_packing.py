"""Packed batches (gtekit.model.packing): the same embeddings and gradients as the padded batch, in fewer rows."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gtekit.model.packing import PACKED_TEXT_INDEX, pack, pack_rows, packing_works
from gtekit.training.grad_cache import cached_backward, chunk_by_length
from tests.helpers import make_tiny_embedder

TEXTS = ["A man is playing a guitar on the stage tonight.", "short", "def add(a, b):\n    return a + b",
         "The quick brown fox jumps over the lazy dog " * 3, "ok", "two words", "Ünïcödé text — with dashes",
         "a b c d e f g h i j k l m n o p q r s t u v w x y z"]


def rows_of(model) -> list[int]:
    """Records the number of rows of every encoder call."""
    seen: list[int] = []
    model.encoder.register_forward_hook(lambda module, args, kwargs, out: seen.append(kwargs["input_ids"].size(0)),
                                        with_kwargs=True)
    return seen


def test_first_fit_decreasing_fills_rows_longest_first():
    assert pack_rows([5, 3, 7, 2, 1], capacity=8) == [[2, 4], [0, 1], [3]]
    assert pack_rows([4, 4, 4], capacity=4) == [[0], [1], [2]]
    assert pack_rows([9, 2], capacity=8) == [[0], [1]]  # a text longer than a row gets its own


def test_pack_restarts_positions_and_keeps_every_token_once():
    model = make_tiny_embedder()
    features = model.tokenize(TEXTS)
    packed = pack(features)
    lengths = features["attention_mask"].sum(dim=1)
    index = packed[PACKED_TEXT_INDEX]
    assert packed["input_ids"].size(0) < len(TEXTS) and packed["input_ids"].size(1) <= features["input_ids"].size(1)
    for text in range(len(TEXTS)):
        where = index == text
        assert int(where.sum()) == int(lengths[text])
        assert torch.equal(packed["input_ids"][where], features["input_ids"][text, :int(lengths[text])])
        assert torch.equal(packed["position_ids"][where], torch.arange(int(lengths[text])))
    assert torch.equal(packed["position_ids"][index < 0], torch.zeros(int((index < 0).sum()), dtype=torch.long))


@pytest.mark.parametrize("pooling", ["mean", "cls", "last"])
def test_packed_embeddings_equal_the_padded_ones_in_fewer_rows(pooling):
    model = make_tiny_embedder(pooling=pooling).eval()
    seen = rows_of(model)
    features = model.tokenize(TEXTS)
    with torch.no_grad():
        packed = model(features)
        model.packing = False
        padded = model(features)
    assert seen[-1] == len(TEXTS) and seen[-2] < len(TEXTS)  # the packed call ran fewer rows
    assert F.cosine_similarity(packed, padded).min() >= 0.9999
    torch.testing.assert_close(packed, padded, atol=1e-5, rtol=1e-5)


def test_encode_packs_and_gives_the_padded_embeddings():
    model = make_tiny_embedder()
    seen = rows_of(model)
    packed = model.encode(TEXTS * 3, batch_size=12)
    packed_rows = sum(seen)
    model.packing = False
    padded = model.encode(TEXTS * 3, batch_size=12)
    assert packed_rows < len(TEXTS) * 3
    assert (packed * padded).sum(axis=1).min() >= 0.9999


def test_gradients_through_packed_rows_equal_the_padded_ones():
    grads = []
    for packing in (True, False):
        model = make_tiny_embedder().eval()  # no dropout: the two layouts draw different masks
        model.packing = packing
        embeddings = model(model.tokenize(TEXTS))
        (embeddings.pow(2).sum(dim=1) * torch.arange(1.0, len(TEXTS) + 1)).sum().backward()
        grads.append({name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-5, rtol=1e-4, msg=name)


def test_gradient_cache_loss_and_gradients_equal_with_and_without_packing():
    from gtekit.losses import gte

    queries, documents = TEXTS, TEXTS[::-1]
    results = []
    for packing in (True, False):
        model = make_tiny_embedder().eval()
        model.packing = packing
        columns = [chunk_by_length(texts, 3, model.tokenize) for texts in (queries, documents)]
        loss = cached_backward(model, columns, lambda c: gte(c[0], c[1], temperature=0.05))
        results.append((float(loss), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    assert results[0][0] == pytest.approx(results[1][0], abs=1e-5)
    for name, grad in results[0][1].items():
        torch.testing.assert_close(grad, results[1][1][name], atol=1e-5, rtol=1e-4, msg=name)


def test_an_encoder_that_ignores_position_ids_runs_padded():
    model = make_tiny_embedder().eval()

    class DropsPositions(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, position_ids=None, **features):
            return self.inner(**features)

    model.encoder = DropsPositions(model.encoder)
    assert not packing_works(model.encoder)
    seen = rows_of(model)
    with torch.no_grad():
        model(model.tokenize(TEXTS))
    assert seen[-1] == len(TEXTS) and model._packing_works is False  # after the check's one-row calls


@pytest.mark.parametrize("packing", [False, True])
def test_the_recipe_option_reaches_the_trained_model(tiny_model_dir, packing):
    from gtekit.config import load_recipe
    from gtekit.training.setup import build_model

    recipe = load_recipe(None, [f"model.name={tiny_model_dir}", f"model.packing={str(packing).lower()}"])
    assert build_model(recipe).packing is packing
