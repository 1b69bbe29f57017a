"""The pieces of one training step: the row-blocked loss as an autograd function (the same loss and
gradients as back-propagating each block in turn, one block of the similarity matrices at a time), the
loss scale across processes, and the single-process defaults of ``distributed``."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch

from gtekit.losses import LogitScale, get_loss, row_blocks, temperature_for, trainable
from gtekit.training.distributed import ProcessGroup, gather_tensors, is_main_process, with_loss_scale
from gtekit.training.step import columns_loss, row_blocked

N, H, K = 10, 8, 2


def columns(negatives: bool, dtype=torch.float64) -> list[torch.Tensor]:
    """q (N, H), d (N, H) and, with ``negatives``, K hard negatives per query pair-major (N·K, H); leaves."""
    generator = torch.Generator().manual_seed(3)
    shapes = [(N, H), (N, H)] + ([(N * K, H)] if negatives else [])
    return [torch.randn(*shape, generator=generator, dtype=dtype).requires_grad_() for shape in shapes]


def block_by_block(loss, leaves, rows, block_size, scale=1.0):
    """What the trainer did before the loss was an autograd function: backward of each block in turn."""
    parts = []
    for block in row_blocks(rows, block_size):
        part = loss(leaves, rows=block)
        (part * scale).backward()
        parts.append(part.detach())
    return torch.stack(parts).sum()


@pytest.mark.parametrize("block_size", [0, 1, 3, 7])
@pytest.mark.parametrize("rows", [range(N), range(4, 9)], ids=["all-rows", "some-rows"])
@pytest.mark.parametrize("name", ["gte", "infonce", "symmetric"])
def test_row_blocked_loss_is_the_block_by_block_backward_bit_for_bit(name, rows, block_size):
    results = []
    for blocked in (True, False):
        leaves = columns(negatives=name != "symmetric")
        temperature = temperature_for(name, 0.05)
        if isinstance(temperature, LogitScale):
            temperature.double()
        loss = partial(columns_loss, get_loss(name), temperature)
        if blocked:
            value = row_blocked(loss, leaves, rows, block_size, trainable(temperature))
            (value * 2.0).backward()
        else:
            value = block_by_block(loss, leaves, rows, block_size, scale=2.0)
        results.append((value.detach(), [leaf.grad for leaf in leaves], [p.grad for p in trainable(temperature)]))
    (value, grads, scale_grads), (expected, expected_grads, expected_scale_grads) = results
    assert torch.equal(value, expected)
    for got, want in zip(grads + scale_grads, expected_grads + expected_scale_grads, strict=True):
        assert want is not None and torch.equal(got, want)
    assert len(scale_grads) == (name == "symmetric")


def test_row_blocked_loss_matches_the_whole_loss_and_torch_autograd_grad():
    leaves = columns(negatives=True)
    loss = partial(columns_loss, get_loss("gte"), 0.01)
    whole = loss(leaves)
    blocked = row_blocked(loss, leaves, range(N), 3)
    torch.testing.assert_close(blocked, whole, rtol=1e-12, atol=0)
    for got, expected in zip(torch.autograd.grad(blocked, leaves), torch.autograd.grad(whole, leaves), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_only_one_block_of_the_similarity_matrices_is_kept_at_a_time():
    """The tensors autograd saves while the loss and its backward run: a whole (N, N) matrix without
    blocks, only one block's matrices with them (and the (N, H) normalized columns)."""
    n, dim = 512, 2  # a small H: the (N, N) matrices dominate what is saved
    leaves = [torch.randn(n, dim, dtype=torch.float64).requires_grad_() for _ in range(2)]
    loss = partial(columns_loss, get_loss("gte"), 0.01)

    def peak_saved(block_size: int) -> int:
        live, peak = [0], [0]

        class Held:
            def __init__(self, tensor):
                self.tensor, self.size = tensor, tensor.numel()
                live[0] += self.size
                peak[0] = max(peak[0], live[0])

            def __del__(self):
                live[0] -= self.size

        with torch.autograd.graph.saved_tensors_hooks(Held, lambda held: held.tensor):
            row_blocked(loss, leaves, range(n), block_size).backward()
        return peak[0]

    whole, blocked = peak_saved(0), peak_saved(4)
    assert whole > 4 * n * n  # the four (N, N) direction matrices and more
    assert blocked < whole / 16


def test_the_loss_scale_multiplies_the_gradient_and_leaves_the_value():
    x = torch.tensor(1.5, requires_grad=True)
    two_ranks = ProcessGroup(rank=1, world_size=2)
    scaled = with_loss_scale(x * 3.0, two_ranks)
    assert scaled.item() == 4.5
    scaled.backward()
    assert x.grad.item() == 6.0  # d(2 · 3x)/dx
    one = ProcessGroup()
    assert with_loss_scale(x, one) is x


def test_single_process_defaults(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    assert is_main_process()
    monkeypatch.setenv("RANK", "1")
    assert not is_main_process()
    monkeypatch.setenv("RANK", "0")
    assert is_main_process()
    state = {"torch": torch.get_rng_state()}
    assert gather_tensors(state, ProcessGroup()) == [state]


def test_a_symmetric_loss_with_hard_negatives_is_refused_in_a_step():
    leaves = columns(negatives=True)
    with pytest.raises(ValueError, match="no hard negatives"):
        columns_loss(get_loss("symmetric"), temperature_for("symmetric", 0.05), leaves)
    assert math.isfinite(float(columns_loss(get_loss("symmetric"), 0.05, leaves[:2]).detach()))
