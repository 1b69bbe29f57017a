"""Distillation of a teacher's in-batch similarities into the student, added to a contrastive loss.

For query i, student and teacher each give a distribution over every document of the batch (the B
positives and the B·K hard negatives, as the q→d term of the GTE loss sees them):

    p_i^S(j) = softmax_j( s_S(q_i, x_j) / τ_d ),   p_i^T(j) = softmax_j( s_T(q_i, x_j) / τ_d )
    L_distill = τ_d² · (1/B) Σ_i KL( p_i^T ‖ p_i^S ) = τ_d² · (1/B) Σ_i Σ_j p_i^T(j) (log p_i^T(j) − log p_i^S(j))

with s cosine similarity (GTE Eq. 7) and one distillation temperature τ_d for both; the τ_d² factor
(Hinton et al. 2015) keeps the gradient's size independent of τ_d. This is the listwise KL of
sentence-transformers' ``DistillKLDivLoss`` (equal to it for a batch of one query, whose documents are
its own group) and of FlagEmbedding's distillation, taken over the whole batch rather than one query's
group. The teacher's embeddings are constants (computed once per
batch without gradients), so the term is a function of the student's embeddings alone: it goes through
the gradient cache and across processes like any loss. It is 0 when the student's similarities equal
the teacher's, and pulls a continued model towards the similarity structure of the model it started
from (or of a larger one) while the contrastive term teaches the new data: a lever against forgetting.

``with_distillation(loss, teacher, weight, τ_d)`` is ``loss + weight · L_distill`` with the signature of
every loss (``gtekit.losses``), ``rows`` included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ._similarity import Temperature, all_documents, cosine_matrix

DISTILL_TEMPERATURE = 0.05  # all-MiniLM-L6-v2's own scale (20), the common starting point


def similarity_kl(q: Tensor, d: Tensor, negatives: Tensor | None, teacher: Sequence[Tensor],
                  temperature: float = DISTILL_TEMPERATURE, rows: slice | None = None) -> Tensor:
    """τ_d² · (1/B) Σ_{i ∈ rows} KL(p_i^T ‖ p_i^S), see the module docstring.

    Args:
        q, d, negatives: the student's columns, (B, H), (B, H) and (B, K, H) or None.
        teacher: the teacher's columns in the same layout: (q_T, d_T) or (q_T, d_T, negatives_T), any width.
        temperature: τ_d, for both distributions.
        rows: only these rows i, still divided by B (row blocks sum to the whole term).
    """
    if temperature <= 0:
        raise ValueError(f"the distillation temperature must be > 0, got {temperature}")
    teacher_q, teacher_d, *teacher_rest = teacher
    if teacher_q.size(0) != q.size(0) or bool(teacher_rest) != (negatives is not None):
        raise ValueError("the teacher's columns must match the student's: the same rows and the same columns")
    batch = q.size(0)
    index = slice(None) if rows is None else rows
    student = cosine_matrix(q[index], all_documents(q, d, negatives)) / temperature  # (R, B(1+K))
    with torch.no_grad():
        teacher_logits = cosine_matrix(teacher_q[index].detach(), all_documents(
            teacher_q.detach(), teacher_d.detach(), teacher_rest[0].detach() if teacher_rest else None)) / temperature
        teacher_log_p = torch.log_softmax(teacher_logits, dim=1)
    student_log_p = torch.log_softmax(student, dim=1)
    return temperature ** 2 * (teacher_log_p.exp() * (teacher_log_p - student_log_p)).sum() / batch


def with_distillation(loss: Callable[..., Tensor], teacher: Sequence[Tensor], weight: float,
                      distill_temperature: float = DISTILL_TEMPERATURE) -> Callable[..., Tensor]:
    """``loss + weight · similarity_kl(..., teacher)``, called as every loss is."""

    def distilled(q: Tensor, d: Tensor, negatives: Tensor | None = None, temperature: Temperature = 0.01,
                  rows: slice | None = None) -> Tensor:
        contrastive = loss(q, d, negatives, temperature=temperature, rows=rows)
        return contrastive + weight * similarity_kl(q, d, negatives, teacher, distill_temperature, rows)

    return distilled
