"""Training data: reading sources of (query, positive, negatives) pairs and choosing batches.

Nothing here knows about models, tokenizers or losses.
"""

from __future__ import annotations

from .curriculum import EasyToHardNegatives
from .negative_scores import NegativeRequirements
from .pairs import Pair, PairFormatError, Source, load_sources, read_pairs, source_name
from .sampler import SourceSampler, source_probabilities
from .streaming import ShardedSource, open_mixture

__all__ = [
    "EasyToHardNegatives",
    "NegativeRequirements",
    "Pair",
    "PairFormatError",
    "ShardedSource",
    "Source",
    "SourceSampler",
    "load_sources",
    "open_mixture",
    "read_pairs",
    "source_name",
    "source_probabilities",
]
