"""Benchmarks of gtekit's contrastive training step against sentence-transformers (``make bench``).

``python -m benchmarks.run --help`` lists the options; README.md in this folder explains every
measurement. Nothing in ``gtekit`` imports this package.
"""
