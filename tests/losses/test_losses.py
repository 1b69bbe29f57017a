"""Each loss against a naive loop written from its paper (value and autograd gradient), and `gte` and
`infonce` against sentence-transformers; every loss called the one way, with a fixed or a trainable τ."""

from __future__ import annotations

import math

import pytest
import torch
from sentence_transformers.sentence_transformer import losses as st_losses

from gtekit.losses import LOSSES, LogitScale, get_loss, gte, infonce, row_blocks, symmetric, temperature_for

# The naive loops below build the loss one scalar at a time with torch.exp / torch.log, so autograd
# gives the paper's gradient with respect to every embedding they read.


def cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a.double() @ b.double() / (a.double().norm() * b.double().norm())


def naive_infonce(q, d, negatives, tau):
    """GTE Eq. 3, one query at a time: candidates are all positives and all hard negatives."""
    batch = q.size(0)
    candidates = list(d) + ([n for i in range(batch) for n in negatives[i]] if negatives is not None else [])
    total = 0.0
    for i in range(batch):
        z = sum(torch.exp(cos(q[i], c) / tau) for c in candidates)
        total += -torch.log(torch.exp(cos(q[i], d[i]) / tau) / z)
    return total / batch


def naive_gte(q, d, negatives, tau):
    """GTE Eq. 5–6 term by term; d_j→d_i skips every document of query i's own group."""
    batch = q.size(0)
    groups = [[d[j]] + (list(negatives[j]) if negatives is not None else []) for j in range(batch)]
    total = 0.0
    for i in range(batch):
        z = sum(torch.exp(cos(q[i], doc) / tau) for group in groups for doc in group)  # q_i -> d_j
        z += sum(torch.exp(cos(q[i], q[j]) / tau) for j in range(batch) if j != i)  # q_i -> q_j
        z += sum(torch.exp(cos(q[j], d[i]) / tau) for j in range(batch))  # q_j -> d_i
        z += sum(torch.exp(cos(doc, d[i]) / tau) for j in range(batch) if j != i for doc in groups[j])
        total += -torch.log(torch.exp(cos(q[i], d[i]) / tau) / z)
    return total / batch


def naive_symmetric(q, d, log_scale):
    """cpt-text §2.2: mean of row-wise and column-wise cross-entropy of the M×M logits."""
    m = q.size(0)
    scale = torch.clamp(torch.exp(torch.as_tensor(log_scale, dtype=torch.float64)), max=100.0)
    logits = [[cos(q[i], d[j]) * scale for j in range(m)] for i in range(m)]
    rows = sum(-logits[i][i] + torch.log(sum(torch.exp(x) for x in logits[i])) for i in range(m)) / m
    cols = sum(-logits[j][j] + torch.log(sum(torch.exp(logits[i][j]) for i in range(m))) for j in range(m)) / m
    return (rows + cols) / 2


def logit_scale(log_scale: float, dtype=torch.float32) -> LogitScale:
    """A trainable τ whose log-scale is ``log_scale``."""
    scale = LogitScale().to(dtype)
    with torch.no_grad():
        scale.value.fill_(log_scale)
    return scale


@pytest.fixture(params=[0, 3], ids=["no-negatives", "3-negatives"])
def batch(request):
    generator = torch.Generator().manual_seed(7 + request.param)
    q = torch.randn(6, 16, generator=generator, dtype=torch.float64)
    d = q + 1.5 * torch.randn(6, 16, generator=generator, dtype=torch.float64)
    negatives = torch.randn(6, request.param, 16, generator=generator, dtype=torch.float64)
    return q, d, (negatives if request.param else None)


@pytest.mark.parametrize("tau", [0.01, 0.05, 1.0])
def test_infonce_matches_naive_loop(batch, tau):
    q, d, negatives = batch
    assert infonce(q, d, negatives, temperature=tau).item() == pytest.approx(
        naive_infonce(q, d, negatives, tau).item(), rel=1e-5)


@pytest.mark.parametrize("tau", [0.01, 0.05, 1.0])
def test_gte_matches_naive_loop(batch, tau):
    q, d, negatives = batch
    assert gte(q, d, negatives, temperature=tau).item() == pytest.approx(
        naive_gte(q, d, negatives, tau).item(), rel=1e-5)


@pytest.mark.parametrize("log_scale", [0.0, math.log(20.0), 6.0])
def test_symmetric_matches_naive_loop(batch, log_scale):
    q, d, _ = batch
    assert symmetric(q, d, None, logit_scale(log_scale)).item() == pytest.approx(
        naive_symmetric(q, d, log_scale).item(), rel=1e-5)


def test_gte_equals_sentence_transformers_joint_four_directions(batch):
    q, d, negatives = batch
    q, d = q.float(), d.float()
    reference = st_losses.MultipleNegativesRankingLoss(
        None, scale=100.0, partition_mode="joint",
        directions=("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"))
    columns = [q, d] + ([negatives[:, k].float() for k in range(negatives.size(1))] if negatives is not None else [])
    expected = reference.compute_loss_from_embeddings(columns, None)
    negs = negatives.float() if negatives is not None else None
    assert gte(q, d, negs, temperature=0.01).item() == pytest.approx(expected.item(), rel=1e-5)


def test_infonce_equals_sentence_transformers_default(batch):
    q, d, negatives = batch
    reference = st_losses.MultipleNegativesRankingLoss(None, scale=20.0)
    columns = [q.float(), d.float()]
    if negatives is not None:
        columns += [negatives[:, k].float() for k in range(negatives.size(1))]
    expected = reference.compute_loss_from_embeddings(columns, None)
    negs = negatives.float() if negatives is not None else None
    assert infonce(q.float(), d.float(), negs, temperature=0.05).item() == pytest.approx(expected.item(), rel=1e-5)


def leaves_of(q, d, negatives):
    """Fresh float64 copies of the batch's embeddings that record gradients."""
    return [t.detach().clone().requires_grad_() for t in (q, d) + ((negatives,) if negatives is not None else ())]


def assert_same_gradients(ours, naive, leaves):
    """d(ours)/d(leaf) == d(naive)/d(leaf) for every leaf, both by autograd in float64."""
    assert all(leaf.dtype == torch.float64 for leaf in leaves)
    torch.testing.assert_close(ours, naive, rtol=1e-12, atol=0)
    got = torch.autograd.grad(ours, leaves)
    expected = torch.autograd.grad(naive, leaves)
    for name, g, e in zip(["q", "d", "negatives"], got, expected, strict=False):
        assert e.abs().sum() > 0, name
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-12, msg=lambda m, name=name: f"d loss / d {name}: {m}")


@pytest.mark.parametrize("tau", [0.01, 0.05, 1.0])
@pytest.mark.parametrize("name", ["gte", "infonce"])
def test_gradients_match_naive_autograd(batch, name, tau):
    leaves = leaves_of(*batch)
    negatives = leaves[2] if len(leaves) > 2 else None
    loss, naive = {"gte": (gte, naive_gte), "infonce": (infonce, naive_infonce)}[name]
    assert_same_gradients(loss(leaves[0], leaves[1], negatives, temperature=tau),
                          naive(leaves[0], leaves[1], negatives, tau), leaves)


@pytest.mark.parametrize("log_scale", [0.0, math.log(20.0), 6.0])
def test_symmetric_gradients_match_naive_autograd(batch, log_scale):
    """Also the gradient with respect to the trainable log-scale (0 once exp(τ) is clamped at 100, τ = 6)."""
    q, d, _ = batch
    leaves = leaves_of(q, d, None)
    ours_scale = logit_scale(log_scale, torch.float64)
    naive_scale = torch.tensor(log_scale, dtype=torch.float64, requires_grad=True)
    ours, naive = symmetric(*leaves, None, ours_scale), naive_symmetric(*leaves, naive_scale)
    (ours_scale_grad,) = torch.autograd.grad(ours, ours_scale.value, retain_graph=True)
    (naive_scale_grad,) = torch.autograd.grad(naive, naive_scale, retain_graph=True)
    torch.testing.assert_close(ours_scale_grad, naive_scale_grad, rtol=1e-9, atol=1e-12)
    assert_same_gradients(ours, naive, leaves)


def test_symmetric_logit_scale_is_trainable_and_clamped():
    scale = LogitScale(initial_temperature=0.05)
    q, d = torch.randn(4, 8), torch.randn(4, 8)
    symmetric(q, d, None, scale).backward()
    assert scale.value.grad is not None and scale.value.grad.abs() > 0
    assert scale.temperature() == pytest.approx(0.05)
    with torch.no_grad():
        scale.value.fill_(10.0)  # exp(10) > 100: clamped, so no gradient flows to the scale
    scale.value.grad = None
    symmetric(q, d, temperature=scale).backward()
    assert scale.value.grad.abs() == 0
    assert scale.temperature() == pytest.approx(0.01)


def test_bad_shapes_and_names_are_clear_errors():
    with pytest.raises(ValueError, match="must both be"):
        gte(torch.randn(3, 4), torch.randn(2, 4))
    with pytest.raises(ValueError, match="negatives must be"):
        infonce(torch.randn(3, 4), torch.randn(3, 4), torch.randn(3, 4))
    with pytest.raises(ValueError, match="valid: gte, infonce, symmetric, bidirectional"):
        get_loss("triplet")
    with pytest.raises(ValueError, match="valid: gte, infonce, symmetric, bidirectional"):
        temperature_for("triplet", 0.05)
    with pytest.raises(ValueError, match=r"symmetric loss takes no hard negatives .*negatives_per_query=0"):
        symmetric(torch.randn(3, 4), torch.randn(3, 4), torch.randn(3, 2, 4))


@pytest.mark.parametrize("tau", [0.01, 0.05])
def test_bidirectional_is_the_two_direction_loop_at_a_fixed_temperature(batch, tau):
    """q→d and d→q of GTE Eq. 5 at a fixed τ: the naive two-direction loop, τ untouched by training."""
    q, d, _ = batch
    assert temperature_for("bidirectional", tau) == tau
    leaves = [t.clone().requires_grad_() for t in (q, d)]
    naive_leaves = [t.clone().requires_grad_() for t in (q, d)]
    ours, naive = get_loss("bidirectional")(*leaves, None, tau), naive_symmetric(*naive_leaves, math.log(1 / tau))
    torch.testing.assert_close(ours, naive.to(ours.dtype), rtol=1e-6, atol=0)
    for got, expected in zip(torch.autograd.grad(ours, leaves), torch.autograd.grad(naive, naive_leaves), strict=True):
        torch.testing.assert_close(got, expected.to(got.dtype), rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError, match="takes no hard negatives"):
        get_loss("bidirectional")(q, d, torch.randn(q.size(0), 2, q.size(1), dtype=q.dtype), tau)


def test_symmetric_learns_its_temperature_and_the_others_keep_theirs():
    scale = temperature_for("symmetric", 0.05)
    assert isinstance(scale, LogitScale) and scale.temperature() == pytest.approx(0.05)
    assert temperature_for("gte", 0.01) == 0.01 and temperature_for("infonce", 0.05) == 0.05


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_takes_a_fixed_or_a_trainable_temperature_the_same_way(batch, name):
    """loss(q, d, negatives, temperature=τ, rows=...): a LogitScale at 1/τ gives the loss of the float τ, and
    its log-scale gets a gradient."""
    q, d, negatives = batch
    negatives = None if name in ("symmetric", "bidirectional") else negatives
    scale = logit_scale(math.log(1 / 0.05), torch.float64)
    fixed = get_loss(name)(q, d, negatives, temperature=0.05, rows=slice(1, 4))
    trained = get_loss(name)(q, d, negatives, temperature=scale, rows=slice(1, 4))
    torch.testing.assert_close(trained, fixed, rtol=1e-6, atol=0)
    trained.backward()
    assert scale.value.grad is not None and scale.value.grad.abs() > 0


@pytest.mark.parametrize("block_size", [1, 4, 6])
@pytest.mark.parametrize("name", ["gte", "infonce", "symmetric", "bidirectional"])
def test_row_blocks_sum_to_the_whole_loss_and_its_gradient(batch, name, block_size):
    q, d, negatives = batch
    if name in ("symmetric", "bidirectional"):
        negatives = None

    def loss(q_, d_, n_, rows=None):
        return get_loss(name)(q_, d_, n_, temperature=0.05, rows=rows)

    leaves = [t.clone().requires_grad_() for t in (q, d) + ((negatives,) if negatives is not None else ())]
    whole = loss(*leaves[:2], leaves[2] if len(leaves) > 2 else None)
    whole_grads = torch.autograd.grad(whole, leaves)
    blocks = row_blocks(q.size(0), block_size)
    assert [b.stop - b.start for b in blocks] == [min(block_size, 6 - s) for s in range(0, 6, block_size)]
    parts = [loss(*leaves[:2], leaves[2] if len(leaves) > 2 else None, rows=rows) for rows in blocks]
    block_grads = torch.autograd.grad(sum(parts), leaves)
    torch.testing.assert_close(sum(parts), whole, rtol=1e-12, atol=0)
    for got, expected in zip(block_grads, whole_grads, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_row_blocks_cover_a_range():
    assert row_blocks(range(4, 10), 4) == [slice(4, 8), slice(8, 10)]
    assert row_blocks(5) == [slice(0, 5)]
    with pytest.raises(ValueError):
        row_blocks(5, -1)
