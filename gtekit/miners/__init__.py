"""Miners: build (query, positive) training pairs from raw sources, one kind of source per module.

Each miner returns typed pairs plus a report of what it skipped, and can turn its pairs into
rows of the training-file format read by ``gtekit.data.pairs``. No miner loads a model.
"""
