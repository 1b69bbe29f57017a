"""The improved contrastive loss of GTE (Li et al. 2023, Eq. 5–6)."""

from __future__ import annotations

import torch
from torch import Tensor

from ._similarity import Temperature, all_documents, cosine_matrix, logits_of
from .false_negatives import NOTHING_EXCLUDED, ExcludedLogits, without


def gte(q: Tensor, d: Tensor, negatives: Tensor | None = None, temperature: Temperature = 0.01,
        rows: slice | None = None, excluded: ExcludedLogits | None = None) -> Tensor:
    """L_icl = -(1/n) Σ_i log( e^{s(q_i,d_i)/τ} / Z_i ),  GTE Eq. 5, with the partition function (Eq. 6)

        Z_i = Σ_j e^{s(q_i,d_j)/τ} + Σ_{j≠i} e^{s(q_i,q_j)/τ} + Σ_j e^{s(q_j,d_i)/τ} + Σ_{j≠i} e^{s(d_j,d_i)/τ}

    - q_i→d_j runs over every document of the batch: the B positives and all B·K hard negatives;
    - q_i→q_j over the other queries; q_j→d_i over all B queries (j = i included, as in Eq. 6);
    - d_j→d_i over the documents of the other queries (their positives and hard negatives):
      d_i's own hard negatives are left out with d_i itself, as j ≠ i excludes query i's group.
    s(q_i, d_i) enters Z_i twice (first and third sums, j = i), so the loss is at least ln 2 ≈ 0.6931: a batch
    whose every negative scores far below its positive logs 0.6931, not 0.
    s is cosine similarity (Eq. 7) and τ = 0.01 in the paper. Equal to sentence-transformers'
    ``MultipleNegativesRankingLoss(scale=1/τ, directions=(all four), partition_mode="joint")``.

    Args:
        q: query embeddings (B, H).
        d: positive document embeddings (B, H); d_i is q_i's positive.
        negatives: hard negatives (B, K, H) or None.
        temperature: τ, a float, or a trainable ``LogitScale`` (the similarities times its scale).
        rows: only the terms i of these rows, still divided by the full n; the losses of a partition
            of the rows sum to the whole loss (row blocks bound memory at large n; see ``row_blocks``).
        excluded: terms left out of Z_i (in-batch false negatives, ``false_negatives``): a mask per sum,
            each with one row per row of ``rows``.
    """
    batch = q.size(0)
    documents = all_documents(q, d, negatives)  # (B(1+K), H)
    groups = documents.size(0) // batch  # 1 + K
    index = torch.arange(batch, device=q.device)[rows if rows is not None else slice(None)]  # (R,)
    own = index[:, None] == torch.arange(batch, device=q.device)[None, :]  # (R, B): True at j = i
    own_group = own.repeat(1, groups)  # (R, B(1+K)): True at query i's own documents
    q_rows, d_rows = q[index], d[index]  # (R, H)
    logits = logits_of(temperature, torch.promote_types(q.dtype, torch.float32))  # s -> s/τ
    excluded = excluded or NOTHING_EXCLUDED  # its masks set excluded terms to −∞ too

    query_to_doc = without(logits(cosine_matrix(q_rows, documents)), excluded.query_to_doc)  # (R, B(1+K))
    query_to_query = without(logits(cosine_matrix(q_rows, q)).masked_fill(own, float("-inf")),
                             excluded.query_to_query)  # (R, B)
    doc_to_query = without(logits(cosine_matrix(d_rows, q)), excluded.doc_to_query)  # (R, B): row i is s(q_j, d_i)
    doc_to_doc = without(logits(cosine_matrix(d_rows, documents)).masked_fill(own_group, float("-inf")),
                         excluded.doc_to_doc)  # (R, B(1+K))

    every = torch.cat([query_to_doc, query_to_query, doc_to_query, doc_to_doc], dim=1)  # (R, 2B(1+K) + 2B)
    log_partition = torch.logsumexp(every, dim=1)  # log Z_i, (R,)
    positive = query_to_doc.gather(1, index[:, None]).squeeze(1)  # s(q_i, d_i)/τ, (R,)
    return (log_partition - positive).sum() / batch
