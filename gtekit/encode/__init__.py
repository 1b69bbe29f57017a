"""Inference at scale: encoded shards on disk, streamed inputs, multi-process and quantised encoding.

Imports the model (``gtekit.model.embedder``), never training.
"""
