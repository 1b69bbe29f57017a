"""In-batch false negatives: the logits a loss leaves out of its partition function, as boolean masks.

An in-batch negative may be no negative at all: another pair of the batch may share the row's query or
its positive (a duplicate), or answer the row's query as well as its positive does. Its logit pushes
apart what belongs together. Every loss takes ``excluded``, an :class:`ExcludedLogits`, and sets the
logits it marks to −∞ before the log-sum-exp (e^{−∞} = 0), which removes them from every denominator:

    ℓ_i = −log( e^{s(q_i,d_i)/τ} / Σ_{c ∉ E_i} e^{s(a,c)/τ} ),   E_i: the candidates excluded for row i

The positive terms are never marked. The masks come in the blocks of similarities the losses compute
(:class:`Direction`), each with one row per row of the loss (R: the rows of ``rows``, all B without):

    query_to_doc    (R, B(1+K))  s(q_i, x_c), x_c every document of the batch in ``all_documents`` order
    query_to_query  (R, B)       s(q_i, q_j)
    doc_to_query    (R, B)       s(q_j, d_i): row i of the d→q direction
    doc_to_doc      (R, B(1+K))  s(d_i, x_c)

Two rules build them, pure functions of tensors; the union of both is ``a | b``:

- :func:`same_text` (``loss.mask_duplicates``): a candidate, query or document, whose text is the row's
  query or positive, told by per-text ids (a hash of each text):  c ∈ E_i ⇔ id(c) ∈ {id(q_i), id(d_i)}.
  Sentence-transformers avoids such batches instead (``BatchSamplers.NO_DUPLICATES``); masking keeps every
  batch the sampler draws (GTE Eq. 4) as it is.
- :func:`guided` (``loss.guide_model``): GISTEmbed (Solatorio 2024, "GISTEmbed: Guided In-sample Selection
  of Training Negatives for Text Embedding Fine-tuning", arXiv:2402.16829): a frozen guide model's
  cosine similarities s_G decide. For the block whose logits are s(a, c),
      c ∈ E_i ⇔ s_G(a, c) > s_G(q_i, d_i) − margin      (margin ≥ 0; 0 in the paper)
  with a = q_i in query_to_doc and query_to_query, and a = d_i in doc_to_doc; in doc_to_query the pair is
  (q_j, d_i). This is the rule of sentence-transformers' ``GISTEmbedLoss`` (margin_strategy "absolute"),
  which equals the guided ``infonce`` (its loss without anchor and positive contrast).

Terms a loss leaves out anyway (q_i→q_i, d_i against its own group) are never marked either, so
:meth:`ExcludedLogits.count` counts the logits a mask removes and nothing else. Nothing here knows
about texts, models or processes.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from ._similarity import Temperature, all_documents, cosine_matrix


class Direction(enum.StrEnum):
    """A block of similarities a loss computes, named as sentence-transformers' ``directions``."""

    QUERY_TO_DOC = "query_to_doc"  # s(q_i, x_c) over every document of the batch
    QUERY_TO_QUERY = "query_to_query"  # s(q_i, q_j)
    DOC_TO_QUERY = "doc_to_query"  # s(q_j, d_i)
    DOC_TO_DOC = "doc_to_doc"  # s(d_i, x_c) over every document of the batch


@dataclass(frozen=True)
class ExcludedLogits:
    """True where a logit leaves the partition function; one (R, ·) mask per :class:`Direction`, None: none."""

    query_to_doc: Tensor | None = None
    query_to_query: Tensor | None = None
    doc_to_query: Tensor | None = None
    doc_to_doc: Tensor | None = None

    def __or__(self, other: ExcludedLogits) -> ExcludedLogits:
        """The union of two sets of masks, block by block."""
        def union(a: Tensor | None, b: Tensor | None) -> Tensor | None:
            return b if a is None else a if b is None else a | b

        return ExcludedLogits(*(union(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)))

    def count(self) -> int:
        """The logits excluded, over every block."""
        return sum(int(mask.sum()) for f in fields(self) if (mask := getattr(self, f.name)) is not None)


NOTHING_EXCLUDED = ExcludedLogits()


def without(logits: Tensor, mask: Tensor | None) -> Tensor:
    """``logits`` with the entries ``mask`` marks at −∞; ``logits`` itself when ``mask`` is None."""
    return logits if mask is None else logits.masked_fill(mask, float("-inf"))


def same_text(query_ids: Tensor, positive_ids: Tensor, negative_ids: Tensor | None = None,
              rows: slice | None = None, directions: Collection[Direction] = tuple(Direction)) -> ExcludedLogits:
    """The candidates whose text is row i's query or positive: id(c) ∈ {id(q_i), id(d_i)} (module docstring).

    Args:
        query_ids, positive_ids: one id per text, (B,); equal texts have equal ids.
        negative_ids: the hard negatives' ids (B, K), or None.
        rows: the rows of the masks (all B when None), as the loss's ``rows``.
        directions: the blocks to build (the others stay None: the loss does not compute them).
    """
    batch = query_ids.size(0)
    index = torch.arange(batch, device=query_ids.device)[rows if rows is not None else slice(None)]  # (R,)
    documents = positive_ids if negative_ids is None else torch.cat([positive_ids, negative_ids.T.reshape(-1)])
    own_query, own_positive = query_ids[index, None], positive_ids[index, None]  # (R, 1)

    def matches(candidates: Tensor) -> Tensor:  # (R, C): candidate c has row i's query or positive text
        return (candidates[None, :] == own_query) | (candidates[None, :] == own_positive)

    blocks = {Direction.QUERY_TO_DOC: lambda: matches(documents), Direction.QUERY_TO_QUERY: lambda: matches(query_ids),
              Direction.DOC_TO_QUERY: lambda: matches(query_ids), Direction.DOC_TO_DOC: lambda: matches(documents)}
    return _keep_own_terms({direction: blocks[direction]() for direction in directions}, index, batch)


def guided(guide: Sequence[Tensor], margin: float = 0.0, rows: slice | None = None,
           directions: Collection[Direction] = tuple(Direction)) -> ExcludedLogits:
    """The candidates a guide scores above row i's positive: s_G(a, c) > s_G(q_i, d_i) − margin (GISTEmbed).

    Args:
        guide: the guide's embeddings of the batch, (q_G, d_G) or (q_G, d_G, negatives_G): (B, H'), (B, H'),
            (B, K, H'), any width H'; constants (no gradient reaches them).
        margin: masks also the candidates scored up to ``margin`` below the positive (0: only those above).
        rows, directions: as for :func:`same_text`.
    """
    q, d, *rest = (column.detach() for column in guide)
    batch = q.size(0)
    index = torch.arange(batch, device=q.device)[rows if rows is not None else slice(None)]  # (R,)
    with torch.no_grad():
        documents = all_documents(q, d, rest[0] if rest else None)  # (B(1+K), H')
        query_to_doc = cosine_matrix(q[index], documents)  # (R, B(1+K))
        threshold = query_to_doc.gather(1, index[:, None]) - margin  # s_G(q_i, d_i) − margin, (R, 1)
        blocks = {Direction.QUERY_TO_DOC: lambda: query_to_doc,
                  Direction.QUERY_TO_QUERY: lambda: cosine_matrix(q[index], q),  # (R, B)
                  Direction.DOC_TO_QUERY: lambda: cosine_matrix(d[index], q),  # (R, B): s_G(q_j, d_i)
                  Direction.DOC_TO_DOC: lambda: cosine_matrix(d[index], documents)}  # (R, B(1+K))
        return _keep_own_terms({direction: blocks[direction]() > threshold for direction in directions}, index, batch)


def _keep_own_terms(blocks: dict[Direction, Tensor], index: Tensor, batch: int) -> ExcludedLogits:
    """``blocks`` with the positive terms and the terms the losses leave out anyway unmarked: column i of
    query_to_doc, query_to_query and doc_to_query, and row i's own group (i, i + B, ..., i + B·K) in doc_to_doc."""
    kept = {}
    for direction, mask in blocks.items():
        own = index[:, None] == torch.arange(mask.size(1), device=mask.device)[None, :] % batch  # (R, C)
        if direction != Direction.DOC_TO_DOC:
            own &= torch.arange(mask.size(1), device=mask.device)[None, :] < batch  # column i only
        kept[direction.value] = mask & ~own
    return ExcludedLogits(**kept)


def with_exclusions(loss: Callable[..., Tensor], exclusions: Callable[[slice | None], ExcludedLogits]
                    ) -> Callable[..., Tensor]:
    """``loss`` with ``excluded=exclusions(rows)``, called as every loss is. The masks of the last rows asked
    for are kept, so a caller that runs the loss several times on the same rows (``matryoshka``) builds them
    once, while no more than one row block's masks exist at a time."""
    last: dict[tuple, ExcludedLogits] = {}

    def excluding(q: Tensor, d: Tensor, negatives: Tensor | None = None, temperature: Temperature = 0.01,
                  rows: slice | None = None) -> Tensor:
        key = (None,) if rows is None else (rows.start, rows.stop, rows.step)
        if key not in last:
            last.clear()
            last[key] = exclusions(rows)
        return loss(q, d, negatives, temperature=temperature, rows=rows, excluded=last[key])

    return excluding
