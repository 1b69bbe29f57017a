"""The embedding model: ``Embedder`` (encoder, pooling, L2 normalisation), the folder layout it reads and
writes, name resolution, and ONNX import.

Depends on ``gtekit.io`` only; data, losses, training and everything above them import this package.
"""
