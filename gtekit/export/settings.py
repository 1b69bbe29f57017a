"""The export's fixed choices, importable without torch (the command line builds its help from them).

Depends on nothing else in gtekit.
"""

DEFAULT_OPSET = 17  # the first opset with a single LayerNormalization op
SUPPORTED_OPSETS = range(14, 21)  # scaled_dot_product_attention needs 14; the TorchScript exporter stops at 20
FP32_MIN_COSINE = 0.999
INT8_MIN_COSINE = 0.95  # all-MiniLM-L6-v2: 0.965 at worst of 2,000 STS-B sentences (per-tensor scales: 0.937 of 300)
