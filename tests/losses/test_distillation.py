"""The distillation term: 0 for a student equal to its teacher, value and gradient against a naive loop, row blocks,
sentence-transformers' DistillKLDivLoss for one query, and added to a contrastive loss."""

from __future__ import annotations

import math

import pytest
import torch
from sentence_transformers.sentence_transformer import losses as st_losses
from sentence_transformers.util import pairwise_cos_sim

from gtekit.losses import gte, row_blocks
from gtekit.losses.distillation import similarity_kl, with_distillation


def cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a.double() @ b.double() / (a.double().norm() * b.double().norm())


def naive_kl(q, d, negatives, teacher, tau):
    """τ² · (1/B) Σ_i Σ_j p_T(j) log(p_T(j) / p_S(j)), one scalar at a time, over all documents of the batch."""
    batch = q.size(0)
    tq, td, *tn = teacher

    def documents(pos, neg):
        return list(pos) + ([neg[i][k] for k in range(neg.size(1)) for i in range(batch)] if neg is not None else [])

    student_docs, teacher_docs = documents(d, negatives), documents(td, tn[0] if tn else None)
    total = 0.0
    for i in range(batch):
        s = [torch.exp(cos(q[i], x) / tau) for x in student_docs]
        t = [math.exp(float(cos(tq[i], x)) / tau) for x in teacher_docs]
        zs, zt = sum(s), sum(t)
        total += sum((tj / zt) * (math.log(tj / zt) - torch.log(sj / zs)) for sj, tj in zip(s, t, strict=True))
    return tau ** 2 * total / batch


def columns(seed: int, batch: int = 4, negatives: int = 2, width: int = 8):
    generator = torch.Generator().manual_seed(seed)
    make = lambda *shape: torch.randn(*shape, generator=generator, dtype=torch.float64)  # noqa: E731
    return make(batch, width), make(batch, width), make(batch, negatives, width)


def test_zero_when_the_student_is_the_teacher() -> None:
    q, d, n = columns(0)
    assert float(similarity_kl(q, d, n, (q, d, n), 0.05)) == 0.0
    assert float(similarity_kl(q, d, None, (q, d), 0.05)) == 0.0


@pytest.mark.parametrize("with_negatives", [True, False])
def test_value_and_gradient_match_a_naive_loop(with_negatives) -> None:
    q, d, n = (t.requires_grad_() for t in columns(1))
    tq, td, tn = columns(2, width=5)  # a teacher of another width
    negatives, teacher = (n, (tq, td, tn)) if with_negatives else (None, (tq, td))
    ours = similarity_kl(q, d, negatives, teacher, 0.07)
    naive = naive_kl(q, d, negatives, teacher, 0.07)
    assert ours.item() == pytest.approx(naive.item(), rel=1e-10)
    inputs = [q, d, n] if with_negatives else [q, d]
    for got, expected in zip(torch.autograd.grad(ours, inputs), torch.autograd.grad(naive, inputs), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)


def test_row_blocks_sum_to_the_whole() -> None:
    q, d, n = columns(3, batch=7)
    teacher = columns(4, batch=7)
    whole = similarity_kl(q, d, n, teacher, 0.05)
    blocks = sum(similarity_kl(q, d, n, teacher, 0.05, rows=block) for block in row_blocks(7, 3))
    torch.testing.assert_close(blocks, whole, rtol=1e-12, atol=0)


def test_one_query_equals_sentence_transformers() -> None:
    q, d, n = columns(5, batch=1, negatives=3)
    tq, td, tn = columns(6, batch=1, negatives=3)
    labels = torch.stack([pairwise_cos_sim(tq, td)] + [pairwise_cos_sim(tq, tn[:, k]) for k in range(3)], dim=1)
    st = st_losses.DistillKLDivLoss(model=None, similarity_fct=pairwise_cos_sim, temperature=0.05)
    st._checked_teacher_scale = True  # the labels are cosine similarities, as intended
    expected = st.compute_loss_from_embeddings([q, d] + [n[:, k] for k in range(3)], labels)
    torch.testing.assert_close(similarity_kl(q, d, n, (tq, td, tn), 0.05), expected, rtol=1e-10, atol=0)


def test_added_to_the_contrastive_loss() -> None:
    q, d, n = columns(7)
    teacher = columns(8)
    combined = with_distillation(gte, teacher, 0.5, 0.05)(q, d, n, temperature=0.02)
    expected = gte(q, d, n, temperature=0.02) + 0.5 * similarity_kl(q, d, n, teacher, 0.05)
    torch.testing.assert_close(combined, expected, rtol=0, atol=0)
    with pytest.raises(ValueError, match="must match the student's"):
        similarity_kl(q, d, n, teacher[:2], 0.05)
