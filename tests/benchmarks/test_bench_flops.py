"""The analytic FLOP count against a hand count and against torch's own FLOP counter on a tiny BERT."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import BertConfig, BertModel

from benchmarks.flops import TRAIN_STEP_FORWARDS, EncoderShape, executed_step_flops, useful_step_flops

TINY = BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=12,
                  max_position_embeddings=16)


def hand_count_forward(b: int, t: int, layers: int, h: int, i: int) -> int:
    """Every matmul of a BERT layer on a (b, t) batch, written out as 2·m·k·n."""
    matmuls = [(b * t, h, h)] * 3  # query, key, value projections
    matmuls += [(t, h, t)] * b  # scores Q Kᵀ: (t, h) @ (h, t) per sequence, all heads together
    matmuls += [(t, t, h)] * b  # context: (t, t) @ (t, h) per sequence
    matmuls += [(b * t, h, h), (b * t, h, i), (b * t, i, h)]  # output projection, FFN up, FFN down
    return layers * sum(2 * m * k * n for m, k, n in matmuls)


def test_forward_flops_match_a_hand_count():
    shape = EncoderShape.from_config(TINY)
    assert shape.linear_params == 2 * (4 * 8 * 8 + 2 * 8 * 12)
    for b, t in [(1, 1), (3, 5), (4, 16)]:
        assert shape.forward_flops(b * t, t) == hand_count_forward(b, t, 2, 8, 12)


def test_minilm_linear_params():
    assert EncoderShape(layers=6, hidden=384, intermediate=1536).linear_params == 10_616_832


def test_step_flops_useful_and_executed():
    shape = EncoderShape.from_config(TINY)
    lengths = [3, 5, 5, 2]
    useful = useful_step_flops(shape, lengths)
    assert useful == TRAIN_STEP_FORWARDS * sum(shape.forward_flops(n, n) for n in lengths)
    assert executed_step_flops(shape, [(1, n) for n in lengths]) == useful  # no padding: the same
    padded = executed_step_flops(shape, [(4, 5)])  # one batch padded to the longest
    assert padded == TRAIN_STEP_FORWARDS * shape.forward_flops(20, 5) > useful


def test_forward_and_backward_match_torch_flop_counter():
    """torch counts the same matmuls (plus the [CLS] pooler we leave out); backward costs 2 forwards.
    Eager attention, as torch's counter has no formula for the CPU flash-attention kernel."""
    torch.manual_seed(0)
    config = BertConfig(**TINY.to_dict())
    config._attn_implementation = "eager"
    model = BertModel(config).eval()
    b, t = 3, 7
    ids = torch.randint(0, 50, (b, t))
    pooler = 2 * b * TINY.hidden_size * TINY.hidden_size
    with FlopCounterMode(display=False) as counter:
        out = model(input_ids=ids, attention_mask=torch.ones(b, t, dtype=torch.long)).last_hidden_state
    forward = counter.get_total_flops() - pooler
    assert forward == EncoderShape.from_config(TINY).forward_flops(b * t, t)
    with FlopCounterMode(display=False) as counter:
        out.sum().backward()
    assert counter.get_total_flops() == 2 * forward  # the pooler is not in the graph of last_hidden_state
