"""The Matryoshka loss against a loop over its prefixes written from the definition (value and gradient), against
sentence-transformers' MatryoshkaLoss around MultipleNegativesRankingLoss, in row blocks, with distillation, and
its errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from sentence_transformers.sentence_transformer import losses as st_losses
from test_losses import naive_gte, naive_infonce, naive_symmetric
from torch import nn

from gtekit.losses import get_loss, gte, infonce, matryoshka, row_blocks
from gtekit.losses.distillation import similarity_kl, with_distillation

DIMS, WEIGHTS = [16, 8, 3], [1.0, 0.5, 2.0]


def batch(seed: int, negatives: int = 2, rows: int = 6, width: int = 16):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(rows, width, generator=generator, dtype=torch.float64)
    d = q + 1.5 * torch.randn(rows, width, generator=generator, dtype=torch.float64)
    n = torch.randn(rows, negatives, width, generator=generator, dtype=torch.float64) if negatives else None
    return q, d, n


def naive_matryoshka(name, q, d, negatives, tau, dims=DIMS, weights=WEIGHTS):
    """Σ_m w_m · L(q_{1:m}/‖q_{1:m}‖, ...) with the paper-loop of each loss, one prefix size at a time."""
    total = 0.0
    for m, w in zip(dims, weights, strict=True):
        qm, dm = F.normalize(q[:, :m], dim=-1), F.normalize(d[:, :m], dim=-1)
        nm = None if negatives is None else F.normalize(negatives[..., :m], dim=-1)
        if name == "gte":
            total += w * naive_gte(qm, dm, nm, tau)
        elif name == "infonce":
            total += w * naive_infonce(qm, dm, nm, tau)
        else:  # symmetric and bidirectional at a fixed τ: the two-direction loop at log-scale log(1/τ)
            total += w * naive_symmetric(qm, dm, math.log(1 / tau))
    return total


@pytest.mark.parametrize("name", ["gte", "infonce", "symmetric", "bidirectional"])
def test_matryoshka_matches_the_loop_over_prefixes_value_and_gradient(name):
    q, d, n = batch(1, negatives=0 if name in ("symmetric", "bidirectional") else 2)
    leaves = [t.clone().requires_grad_() for t in (q, d) + ((n,) if n is not None else ())]
    naive_leaves = [t.clone().requires_grad_() for t in leaves]
    ours = matryoshka(get_loss(name), DIMS, WEIGHTS)(*leaves[:2], leaves[2] if n is not None else None,
                                                     temperature=0.05)
    naive = naive_matryoshka(name, *naive_leaves[:2], naive_leaves[2] if n is not None else None, 0.05)
    torch.testing.assert_close(ours, naive.to(ours.dtype), rtol=1e-10, atol=0)
    for got, expected in zip(torch.autograd.grad(ours, leaves), torch.autograd.grad(naive, naive_leaves),
                             strict=True):
        assert expected.abs().sum() > 0
        torch.testing.assert_close(got, expected, rtol=1e-8, atol=1e-12)


def test_the_features_past_the_largest_prefix_get_no_gradient():
    q, d, n = (t.requires_grad_() for t in batch(2, width=20))
    matryoshka(gte, DIMS, WEIGHTS)(q, d, n).backward()
    for leaf in (q, d, n):
        assert leaf.grad[..., 16:].abs().max() == 0 and leaf.grad[..., :16].abs().max() > 0


class Columns(nn.Module):
    """A stand-in SentenceTransformer: each column's features carry its embeddings."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width

    def forward(self, features):
        return {"sentence_embedding": features["embedding"]}

    def _get_untruncated_embedding_dimension(self) -> int:
        return self.width


@pytest.mark.parametrize("negatives", [0, 2], ids=["no-negatives", "2-negatives"])
@pytest.mark.parametrize(("name", "scale", "directions"), [
    ("infonce", 20.0, ("query_to_doc",)),
    ("gte", 100.0, ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")),
])
def test_equals_sentence_transformers_matryoshka_of_multiple_negatives_ranking(name, scale, directions, negatives):
    """MatryoshkaLoss(MNRL(scale=1/τ)): infonce at ST's defaults, and gte as MNRL's joint four directions."""
    q, d, n = (None if t is None else t.float() for t in batch(3, negatives=negatives))
    model = Columns(16)
    inner = st_losses.MultipleNegativesRankingLoss(model, scale=scale, directions=directions, partition_mode="joint")
    reference = st_losses.MatryoshkaLoss(model, inner, matryoshka_dims=DIMS, matryoshka_weights=WEIGHTS)
    columns = [q, d] + ([n[:, k] for k in range(negatives)] if n is not None else [])
    expected = reference([{"embedding": column} for column in columns], None)
    ours = matryoshka(get_loss(name), DIMS, WEIGHTS)(q, d, n, temperature=1 / scale)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=0)


@pytest.mark.parametrize("block_size", [1, 4])
def test_row_blocks_sum_to_the_whole(block_size):
    q, d, n = batch(4)
    loss = matryoshka(infonce, DIMS, WEIGHTS)
    whole = loss(q, d, n, temperature=0.05)
    parts = sum(loss(q, d, n, temperature=0.05, rows=rows) for rows in row_blocks(6, block_size))
    torch.testing.assert_close(parts, whole, rtol=1e-12, atol=0)


def test_the_distillation_term_is_taken_on_the_students_prefixes():
    q, d, n = batch(5)
    teacher = batch(6, width=7)  # the teacher keeps its own full embeddings
    combined = matryoshka(with_distillation(gte, teacher, 0.5, 0.05), DIMS, WEIGHTS)(q, d, n, temperature=0.02)
    expected = 0.0
    for m, w in zip(DIMS, WEIGHTS, strict=True):
        qm, dm, nm = (F.normalize(t[..., :m], dim=-1) for t in (q, d, n))
        expected += w * (gte(qm, dm, nm, temperature=0.02) + 0.5 * similarity_kl(qm, dm, nm, teacher, 0.05))
    torch.testing.assert_close(combined, expected, rtol=1e-12, atol=0)


def test_default_weights_are_one_and_the_order_does_not_matter():
    q, d, n = batch(7)
    one = matryoshka(gte, [3, 16, 8])(q, d, n)
    other = matryoshka(gte, [16, 8, 3], [1, 1, 1])(q, d, n)
    torch.testing.assert_close(one, other, rtol=1e-12, atol=0)


@pytest.mark.parametrize(("dims", "weights", "message"), [
    ([], [], "at least one dimension"),
    ([8, 8], [], "distinct whole numbers >= 1"),
    ([0, 4], [], "distinct whole numbers >= 1"),
    ([8, 4], [1.0], "one number >= 0 per dimension"),
    ([8, 4], [1.0, -1.0], "one number >= 0 per dimension"),
])
def test_bad_dims_and_weights_are_clear_errors(dims, weights, message):
    with pytest.raises(ValueError, match=message):
        matryoshka(gte, dims, weights)


def test_a_prefix_longer_than_the_embeddings_is_refused():
    q, d, n = batch(8)
    with pytest.raises(ValueError, match="matryoshka dimension 32 is more than the embeddings' 16"):
        matryoshka(gte, [32, 8])(q, d, n)
