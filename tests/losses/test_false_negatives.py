"""In-batch false negatives: every loss with its same-text and guide masks against a naive loop written from the
definitions (value and gradient), the counts, row blocks, positives that are never masked, and the guided infonce
against sentence-transformers' GISTEmbedLoss."""

from __future__ import annotations

import math

import pytest
import torch
from sentence_transformers.sentence_transformer import losses as st_losses
from torch import nn

from gtekit.losses import DIRECTIONS, ExcludedLogits, get_loss, guided, row_blocks, same_text, with_exclusions

QUERIES = ["a", "b", "a", "c", "d", "b"]  # queries 0 and 2, 1 and 5 share a text
POSITIVES = ["p", "q", "r", "p", "a", "s"]  # positives 0 and 3 share a text; positive 4 is query 0's text
NEGATIVES = [["p", "x"], ["p", "y"], ["z", "q"], ["r", "w"], ["v", "u"], ["t", "b"]]  # row 0's own, rows 1 and 2's


def cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a @ b / (a.norm() * b.norm())


def make_batch(seed: int, negatives: bool):
    """Student embeddings (float64 leaves), and each text's (text, guide vector): guide positives near their
    queries, so that the guide's threshold s_G(q_i, d_i) lets some candidates through and masks others."""
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(6, 8, generator=generator, dtype=torch.float64)
    d = q + torch.randn(6, 8, generator=generator, dtype=torch.float64)
    n = torch.randn(6, 2, 8, generator=generator, dtype=torch.float64) if negatives else None
    gq = torch.randn(6, 5, generator=generator, dtype=torch.float64)
    gd = gq + 0.8 * torch.randn(6, 5, generator=generator, dtype=torch.float64)
    gn = gq[:, None] + 1.2 * torch.randn(6, 2, 5, generator=generator, dtype=torch.float64)
    return (q, d, n), (gq, gd, gn if negatives else None)


def ids_of(texts: list[str]) -> torch.Tensor:
    return torch.tensor([ord(text) for text in texts])  # one id per distinct text (one letter each)


def rule_of(kind: str, guide, margin: float):
    """drop(i, anchor, candidate) from the definitions: items are (row, kind, k) with kind q, d or n."""
    gq, gd, gn = guide

    def text(item):
        row, kind, k = item
        return {"q": QUERIES, "d": POSITIVES}[kind][row] if kind != "n" else NEGATIVES[row][k]

    def vector(item):
        row, kind, k = item
        return {"q": gq, "d": gd}[kind][row] if kind != "n" else gn[row, k]

    def drop(i, anchor, candidate):
        same = text(candidate) in (QUERIES[i], POSITIVES[i])
        above = bool(cos(vector(anchor), vector(candidate)) > cos(gq[i], gd[i]) - margin)
        return {"duplicates": same, "guide": above, "both": same or above}[kind]

    return drop


def naive(name, q, d, n, tau, drop):
    """The loss term by term, each sum skipping the candidates ``drop`` names, the positive terms never."""
    batch = q.size(0)
    embedding = {"q": lambda r, k: q[r], "d": lambda r, k: d[r], "n": lambda r, k: n[r, k]}
    documents = [(j, "d", 0) for j in range(batch)] + ([(j, "n", k) for k in range(n.size(1)) for j in range(batch)]
                                                       if n is not None else [])
    queries = [(j, "q", 0) for j in range(batch)]

    def e(a, b):
        return torch.exp(cos(embedding[a[1]](a[0], a[2]), embedding[b[1]](b[0], b[2])) / tau)

    total = 0.0
    for i in range(batch):
        qi, di = (i, "q", 0), (i, "d", 0)
        to_docs = sum(e(qi, c) for c in documents if c == di or not drop(i, qi, c))
        positive = e(qi, di)
        if name == "infonce":
            total += -torch.log(positive / to_docs)
        elif name == "gte":
            z = to_docs + sum(e(qi, c) for c in queries if c != qi and not drop(i, qi, c))
            z = z + sum(e(c, di) for c in queries if c == qi or not drop(i, di, c))
            z = z + sum(e(di, c) for c in documents if c[0] != i and not drop(i, di, c))
            total += -torch.log(positive / z)
        else:  # symmetric, bidirectional: rows (q_i -> positives) and columns (q_j -> d_i), averaged
            rows = sum(e(qi, c) for c in documents if c == di or not drop(i, qi, c))
            columns = sum(e(c, di) for c in queries if c == qi or not drop(i, di, c))
            total += -(torch.log(positive / rows) + torch.log(positive / columns)) / 2
    return total / batch


def naive_count(name, drop, negatives: bool) -> int:
    """The logits ``drop`` removes in the blocks loss ``name`` computes."""
    batch = len(QUERIES)
    documents = [(j, "d", 0) for j in range(batch)] + ([(j, "n", k) for k in range(2) for j in range(batch)]
                                                       if negatives else [])
    queries = [(j, "q", 0) for j in range(batch)]
    count = 0
    for i in range(batch):
        qi, di = (i, "q", 0), (i, "d", 0)
        blocks = {"query_to_doc": [(qi, c) for c in documents if c != di],
                  "query_to_query": [(qi, c) for c in queries if c != qi],
                  "doc_to_query": [(di, c) for c in queries if c != qi],
                  "doc_to_doc": [(di, c) for c in documents if c[0] != i]}
        count += sum(drop(i, anchor, c) for direction in DIRECTIONS[name] for anchor, c in blocks[direction])
    return count


def masks_of(kind: str, guide, margin: float, name: str, negatives: bool):
    """rows -> the ExcludedLogits of ``kind`` for those rows, in the blocks of loss ``name``."""
    gq, gd, gn = guide
    negative_ids = ids_of([t for row in NEGATIVES for t in row]).view(6, 2) if negatives else None

    def exclusions(rows=None) -> ExcludedLogits:
        duplicates = same_text(ids_of(QUERIES), ids_of(POSITIVES), negative_ids, rows, DIRECTIONS[name])
        by_guide = guided([gq, gd] + ([gn] if negatives else []), margin, rows, DIRECTIONS[name])
        return {"duplicates": duplicates, "guide": by_guide, "both": duplicates | by_guide}[kind]

    return exclusions


CASES = [(name, negatives) for name in ("gte", "infonce") for negatives in (False, True)] + \
        [("symmetric", False), ("bidirectional", False)]


@pytest.mark.parametrize("margin", [0.0, 0.1])
@pytest.mark.parametrize("kind", ["duplicates", "guide", "both"])
@pytest.mark.parametrize(("name", "negatives"), CASES)
def test_masked_losses_match_the_naive_loop_value_gradient_and_count(name, negatives, kind, margin):
    (q, d, n), guide = make_batch(2, negatives)
    exclusions = masks_of(kind, guide, margin, name, negatives)
    drop = rule_of(kind, guide, margin)
    leaves = [t.clone().requires_grad_() for t in (q, d) + ((n,) if negatives else ())]
    naive_leaves = [t.clone().requires_grad_() for t in leaves]
    ours = get_loss(name)(*leaves[:2], leaves[2] if negatives else None, temperature=0.05, excluded=exclusions())
    expected = naive(name, *naive_leaves[:2], naive_leaves[2] if negatives else None, 0.05, drop)
    torch.testing.assert_close(ours, expected, rtol=1e-10, atol=0)
    for got, want in zip(torch.autograd.grad(ours, leaves), torch.autograd.grad(expected, naive_leaves), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-12)
    count = exclusions().count()
    assert count == naive_count(name, drop, negatives) and count > 0
    unmasked = get_loss(name)(q, d, n, temperature=0.05)
    assert ours.item() < unmasked.item()  # every term removed from a denominator lowers the loss


@pytest.mark.parametrize(("name", "negatives"), [("gte", True), ("symmetric", False)])
def test_row_blocks_with_their_own_masks_sum_to_the_whole(name, negatives):
    (q, d, n), guide = make_batch(4, negatives)
    loss = with_exclusions(get_loss(name), masks_of("both", guide, 0.0, name, negatives))
    leaves = [t.clone().requires_grad_() for t in (q, d) + ((n,) if negatives else ())]
    negative = leaves[2] if negatives else None
    whole = loss(leaves[0], leaves[1], negative, temperature=0.05)
    blocks = [loss(leaves[0], leaves[1], negative, temperature=0.05, rows=rows) for rows in row_blocks(6, 4)]
    torch.testing.assert_close(sum(blocks), whole, rtol=1e-12, atol=0)
    for got, want in zip(torch.autograd.grad(sum(blocks), leaves), torch.autograd.grad(whole, leaves), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-14)


def test_the_positive_terms_are_never_masked():
    """A batch of one repeated pair: every other candidate is a duplicate, so infonce is −log 1 = 0 and gte is
    ln 2 (the positive's two terms of Z_i) for any embeddings."""
    generator = torch.Generator().manual_seed(3)
    q, d, n = torch.randn(4, 8, generator=generator), torch.randn(4, 8, generator=generator), \
        torch.randn(4, 2, 8, generator=generator)
    ids = torch.zeros(4, dtype=torch.int64)
    excluded = same_text(ids, ids, torch.zeros(4, 2, dtype=torch.int64))
    assert float(get_loss("infonce")(q, d, n, temperature=0.05, excluded=excluded)) == pytest.approx(0, abs=1e-6)
    assert float(get_loss("gte")(q, d, n, temperature=0.05, excluded=excluded)) == pytest.approx(math.log(2))
    assert excluded.count() == 4 * (11 + 3 + 3 + 9)  # every logit of the four blocks but the own terms


class Columns(nn.Module):
    """A stand-in SentenceTransformer reading its embeddings from the features (``key``), with a tokenizer."""

    def __init__(self, key: str, tokenizer) -> None:
        super().__init__()
        self.key, self.tokenizer, self.max_seq_length = key, tokenizer, 32

    def forward(self, features):
        return {"sentence_embedding": features[self.key]}


@pytest.mark.parametrize("margin", [0.0, 0.1])
@pytest.mark.parametrize("negatives", [False, True])
def test_guided_infonce_equals_sentence_transformers_gist_without_anchor_and_positive_contrast(tiny_embedder,
                                                                                              negatives, margin):
    """GISTEmbedLoss(contrast_anchors=False, contrast_positives=False): the q→d softmax with the guide's mask."""
    (q, d, n), (gq, gd, gn) = make_batch(4, negatives)
    if negatives:  # sentence-transformers takes one negative column
        n, gn = n[:, :1], gn[:, :1]
    q, d, n, gq, gd, gn = (None if t is None else t.float() for t in (q, d, n, gq, gd, gn))
    reference = st_losses.GISTEmbedLoss(Columns("student", tiny_embedder.tokenizer),
                                        Columns("guide", tiny_embedder.tokenizer), temperature=0.05, margin=margin,
                                        contrast_anchors=False, contrast_positives=False)
    columns = [(q, gq), (d, gd)] + ([(n[:, 0], gn[:, 0])] if negatives else [])
    expected = reference([{"student": s, "guide": g} for s, g in columns], None)
    excluded = guided([gq, gd] + ([gn] if negatives else []), margin, directions=DIRECTIONS["infonce"])
    ours = get_loss("infonce")(q, d, n, temperature=0.05, excluded=excluded)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=0)
