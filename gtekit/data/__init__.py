"""Training data: reading sources of (query, positive, negatives) pairs and choosing batches; mining pairs
(``extract``) and building, cleaning and sharding the offline pre-training mixture.

Nothing here knows about embedding models, losses, training or evaluation, and nothing here imports them:
the one use of a model's files is the tokenizer ``cleaning`` loads to count tokens for the length bounds
of a mixture (found by name through ``gtekit.model.model_files``), and the texts the evaluation guard
keeps out of a mixture come in as hashes (``mixture_build.EvaluationGuard``, made by
``gtekit.evaluation.mixture_guard``). Settings files are read through ``gtekit.config``'s loader.
"""

from __future__ import annotations

from .curriculum import EasyToHardNegatives
from .negative_scores import NegativeRequirements
from .pairs import Source, load_sources, read_pairs, source_name
from .rows import Pair, PairFormatError
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
