"""Recomputed activations: the same gradients, bit for bit, as keeping them."""

from __future__ import annotations

import pytest
import torch

from gtekit.config import ConfigError, load_recipe
from gtekit.losses import get_loss
from gtekit.training.recompute import KEPT_OPS, enable_recompute, keep_matmul_outputs
from tests.helpers import make_tiny_embedder

QUERIES = ["how do I sort a list", "what is a tensor", "a cat sat on the mat and looked at the dog for a while"]
DOCUMENTS = ["use sorted(items) or list.sort()", "an array with any number of axes", "the dog looked back"]


def _step(recompute: str | None) -> tuple[float, dict[str, torch.Tensor], torch.Tensor]:
    """One fp32 training step with dropout on: (loss, gradients, the random state after it)."""
    model = make_tiny_embedder(max_seq_length=32)
    model.train()
    if recompute is not None:
        enable_recompute(model.encoder, selective=recompute == "selective")
    torch.manual_seed(7)
    q = model(model.tokenize(QUERIES, "query"))  # (3, H)
    d = model(model.tokenize(DOCUMENTS, "document"))  # (3, H)
    loss = get_loss("gte")(q, d, None, temperature=0.01)
    loss.backward()
    gradients = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return loss.item(), gradients, torch.get_rng_state()


@pytest.mark.parametrize("recompute", ["selective", "full"])
def test_recomputed_activations_give_identical_gradients(recompute):
    """Dropout is on: recomputation replays its random state (and leaves the global one where training
    without it would), so even fp32 gradients match exactly."""
    loss, gradients, random_state = _step(None)
    recomputed_loss, recomputed, recomputed_random_state = _step(recompute)
    assert recomputed_loss == loss
    assert recomputed.keys() == gradients.keys()
    for name, value in gradients.items():
        assert torch.equal(recomputed[name], value), name
    assert torch.equal(recomputed_random_state, random_state)


def test_selective_policy_keeps_linear_outputs_only():
    assert torch.ops.aten.mm.default in KEPT_OPS and torch.ops.aten.addmm.default in KEPT_OPS
    kept = keep_matmul_outputs(None, torch.ops.aten.addmm.default)
    recomputed = [keep_matmul_outputs(None, op) for op in (torch.ops.aten.bmm.default, torch.ops.aten.gelu.default,
                                                         torch.ops.aten._softmax.default)]
    assert kept == torch.utils.checkpoint.CheckpointPolicy.MUST_SAVE
    assert set(recomputed) == {torch.utils.checkpoint.CheckpointPolicy.PREFER_RECOMPUTE}


def test_unknown_recompute_setting_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"train\.recompute.*valid: none, selective"):
        load_recipe(None, ["train.recompute=some"])
