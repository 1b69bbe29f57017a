"""The encoding pipeline against ``Embedder.encode``, and the bf16 / int8 paths against fp32."""

from __future__ import annotations

import numpy as np
import pytest

from gtekit import Embedder
from gtekit.encode.engine import EncodeOptions, TextEncoder, prefetch, windows
from gtekit.encode.precision import quantize_int8, quantized_linear_count
from gtekit.encode.settings import ComputePrecision
from gtekit.encode.text_inputs import TextRecord

TEXTS = [("the quick brown fox jumps over the lazy dog " * (i % 9 + 1)).strip() + f" {i}" for i in range(150)]


@pytest.mark.parametrize("kind", [None, "query"])
def test_equals_embedder_encode_in_input_order(tiny_embedder, kind):
    expected = tiny_embedder.encode(TEXTS, batch_size=16, kind=kind)
    options = EncodeOptions(kind=kind, batch_size=16, max_batch_tokens=300, window_size=40)
    got = TextEncoder(tiny_embedder, options).encode(TEXTS)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=2e-6)  # the same numbers; batch shapes differ


def test_no_normalize_and_max_seq_length(tiny_embedder):
    raw = TextEncoder(tiny_embedder, EncodeOptions(normalize=False, max_seq_length=8)).encode(TEXTS[:20])
    truncated = Embedder.load(tiny_embedder.source, max_seq_length=8)
    np.testing.assert_allclose(raw, truncated.encode(TEXTS[:20], normalize=False), atol=2e-6)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)
    assert tiny_embedder.settings.max_seq_length == 64  # the caller's model is left as it was


@pytest.mark.parametrize(("precision", "min_cosine"), [(ComputePrecision.BF16, 0.99), (ComputePrecision.INT8, 0.99)])
def test_reduced_precision_is_close_to_fp32_but_not_fp32(tiny_embedder, precision, min_cosine):
    fp32 = TextEncoder(tiny_embedder, EncodeOptions()).encode(TEXTS)
    reduced = TextEncoder(tiny_embedder, EncodeOptions(precision=precision)).encode(TEXTS)
    cosines = (fp32 * reduced).sum(axis=1)
    assert cosines.min() >= min_cosine
    assert np.abs(fp32 - reduced).max() > 1e-5  # the reduced path really ran: not the fp32 numbers


def test_int8_quantises_every_encoder_linear_and_leaves_the_original(tiny_embedder):
    from torch import nn

    linears = sum(isinstance(module, nn.Linear) for module in tiny_embedder.encoder.modules())
    quantized = quantize_int8(tiny_embedder)
    assert quantized_linear_count(quantized) == linears > 0
    assert quantized_linear_count(tiny_embedder) == 0


def test_bad_options_list_valid_values():
    with pytest.raises(ValueError, match="unknown precision 'fp16'; valid: fp32, bf16, int8"):
        EncodeOptions(precision="fp16")
    with pytest.raises(ValueError, match="valid: query, document"):
        EncodeOptions(kind="passage")


def test_windows_are_cut_at_boundaries_counted_from_start():
    records = [TextRecord(str(i), "t") for i in range(10)]
    assert [len(w) for w in windows(records, 4)] == [4, 4, 2]
    assert [len(w) for w in windows(records, 4, boundary=3)] == [3, 3, 3, 1]
    assert [len(w) for w in windows(records, 4, start=6, boundary=3)] == [3, 3, 3, 1]
    assert [len(w) for w in windows(records, 4, start=7, boundary=3)] == [2, 3, 3, 2]


def test_prefetch_keeps_order_and_raises_producer_errors():
    assert list(prefetch(iter(range(50)), depth=2)) == list(range(50))

    def failing():
        yield 1
        raise ValueError("bad line 2")

    with pytest.raises(ValueError, match="bad line 2"):
        list(prefetch(failing(), depth=2))


def test_text_encoder_stands_in_for_a_model_in_the_evaluation_runner(tiny_embedder):
    from gtekit.evaluation.runner import make_encode

    encoder = TextEncoder(tiny_embedder, EncodeOptions(normalize=False))
    encode = make_encode(encoder)  # encode(texts, kind) -> model.encode(texts, batch_size=, normalize=True, kind=)
    np.testing.assert_allclose(encode(TEXTS[:10], "query"), tiny_embedder.encode(TEXTS[:10], kind="query"), atol=2e-6)
    assert encoder.encode("one text").shape == (1, 32)
    with pytest.raises(ValueError, match="precision cannot change"):
        encoder.with_options(precision="int8")


def test_encode_names_the_index_of_a_text_the_tokenizer_cannot_take(tiny_embedder):
    encoder = TextEncoder(tiny_embedder, EncodeOptions(window_size=2, prefetch_windows=0))
    with pytest.raises(ValueError, match=r"^texts\[3\] holds a lone surrogate U\+DBFF at character 0"):
        encoder.encode(["a", "b", "c", "\udbff"])
