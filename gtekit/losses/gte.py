"""The improved contrastive loss of GTE (Li et al. 2023, Eq. 5–6)."""

from __future__ import annotations

import torch
from torch import Tensor

from ._similarity import all_documents, cosine_matrix


def gte(q: Tensor, d: Tensor, negatives: Tensor | None = None, temperature: float = 0.01) -> Tensor:
    """L_icl = -(1/n) Σ_i log( e^{s(q_i,d_i)/τ} / Z_i ),  GTE Eq. 5, with the partition function (Eq. 6)

        Z_i = Σ_j e^{s(q_i,d_j)/τ} + Σ_{j≠i} e^{s(q_i,q_j)/τ} + Σ_j e^{s(q_j,d_i)/τ} + Σ_{j≠i} e^{s(d_j,d_i)/τ}

    - q_i→d_j runs over every document of the batch: the B positives and all B·K hard negatives;
    - q_i→q_j over the other queries; q_j→d_i over all B queries (j = i included, as in Eq. 6);
    - d_j→d_i over the documents of the other queries (their positives and hard negatives):
      d_i's own hard negatives are left out with d_i itself, as j ≠ i excludes query i's group.
    s is cosine similarity (Eq. 7) and τ = 0.01 in the paper. Equal to sentence-transformers'
    ``MultipleNegativesRankingLoss(scale=1/τ, directions=(all four), partition_mode="joint")``.

    Args:
        q: query embeddings (B, H).
        d: positive document embeddings (B, H); d_i is q_i's positive.
        negatives: hard negatives (B, K, H) or None.
        temperature: τ.
    """
    batch = q.size(0)
    documents = all_documents(q, d, negatives)  # (B(1+K), H)
    groups = documents.size(0) // batch  # 1 + K
    own = torch.eye(batch, dtype=torch.bool, device=q.device)  # (B, B)
    own_group = own.repeat(1, groups)  # (B, B(1+K)): True at query i's own documents

    query_to_doc = cosine_matrix(q, documents) / temperature  # (B, B(1+K))
    query_to_query = (cosine_matrix(q, q) / temperature).masked_fill(own, float("-inf"))  # (B, B)
    doc_to_query = cosine_matrix(d, q) / temperature  # (B, B): row i is s(q_j, d_i)
    doc_to_doc = (cosine_matrix(d, documents) / temperature).masked_fill(own_group, float("-inf"))

    logits = torch.cat([query_to_doc, query_to_query, doc_to_query, doc_to_doc], dim=1)
    log_partition = torch.logsumexp(logits, dim=1)  # log Z_i, (B,)
    positive = query_to_doc.diagonal()  # s(q_i, d_i)/τ, (B,)
    return (log_partition - positive).mean()
