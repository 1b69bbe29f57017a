"""Analytic FLOP counts of a BERT encoder's training step, from its config; no torch needed.

One multiply-add is 2 FLOPs. Per token of a sequence padded (or not) to length T, one forward of a
BERT encoder with L layers, hidden size H and feed-forward size I costs

    2 · P  +  L · 4 · T · H      with  P = L · (4 H² + 2 H I)

- P counts the weights of the linear layers (query, key, value and output projections: 4 H²;
  feed-forward up and down: 2 H I). Embedding lookups, biases, layer norms, softmax, GELU, the
  pooling and the unused [CLS] pooler head are left out (together a few % here);
- 4 · T · H per layer is attention: the scores Q Kᵀ (2 · T · H per token, over all heads) and the
  context (attention weights) · V (2 · T · H per token).

A sequence of n tokens in a (b, T) padded batch therefore costs n · (2P + 4 L T H) on its own
tokens (T = n: the *useful* FLOPs) and the batch costs b · T · (2P + 4 L T H) *executed* FLOPs.

A training step through the gradient cache runs the encoder forward without gradients, forward
again with gradients, and backward (2 × forward: gradients of the inputs and of the weights), so

    step FLOPs = 4 × forward FLOPs      (TRAIN_STEP_FORWARDS)

for gtekit and for sentence-transformers' Cached* losses alike. The loss itself (four B × B
similarity matrices: 8 B² H forward, about 3× that with backward) is left out; at B = 1024 it is
under 0.1 % of the step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

TRAIN_STEP_FORWARDS = 4  # forward without grad + forward with grad + backward (2 forwards)


@dataclass(frozen=True)
class EncoderShape:
    """The sizes of a BERT encoder that its FLOPs depend on."""

    layers: int
    hidden: int
    intermediate: int

    @classmethod
    def from_config(cls, config) -> EncoderShape:
        """From a transformers ``BertConfig`` (or anything with the same three attributes)."""
        return cls(int(config.num_hidden_layers), int(config.hidden_size), int(config.intermediate_size))

    @property
    def linear_params(self) -> int:
        """P = L · (4 H² + 2 H I): the weights of every linear layer, biases left out."""
        h, i = self.hidden, self.intermediate
        return self.layers * (4 * h * h + 2 * h * i)

    def forward_flops(self, tokens: int, width: int) -> int:
        """One forward over ``tokens`` tokens, each attending over ``width`` positions."""
        return tokens * (2 * self.linear_params + 4 * self.layers * width * self.hidden)


def useful_step_flops(shape: EncoderShape, lengths: Iterable[int]) -> int:
    """Training-step FLOPs on the non-padding tokens only: each text of n tokens as an unpadded sequence."""
    return TRAIN_STEP_FORWARDS * sum(shape.forward_flops(n, n) for n in lengths)


def executed_step_flops(shape: EncoderShape, batches: Iterable[tuple[int, int]]) -> int:
    """Training-step FLOPs the encoder executes on padded (b, T) batches, padding included."""
    return TRAIN_STEP_FORWARDS * sum(shape.forward_flops(b * t, t) for b, t in batches)
