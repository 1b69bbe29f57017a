"""Hard-negative mining: encode to disk, search, select, report (``gtekit mine``).

The stages exchange documented files, so each can be rerun alone:

1. ``encode_store``: queries and corpus -> embedding stores (``gtekit.io.embedding_store``, resumable);
2. ``candidate_search``: stores -> top-k candidates per query (exact, streamed; IVF or HNSW for large corpora);
3. ``run_file``: the candidates as a Parquet run file (query id, candidate id, rank, score);
4. ``select``: pure rules on (scores, candidate ids) arrays: rank range, margins to the positive, score caps;
5. ``mining_report``: counts, score histograms and sample triples for a person to read.

``hard_negative_mining.mine_hard_negatives`` chains them for any model with ``encode(texts, kind=...,
batch_size=...)``. ``settings.MineSettings`` holds every option of ``gtekit mine`` (and of a mine stage of
``gtekit run``), checked when made; ``mining_stage.run_mining(settings)`` loads the model it names on its
device and mines. This package imports the embedder (``mining_stage`` only), never training; the index kinds
and the top-k helpers come from ``gtekit.search``.
"""

from ..search.settings import IndexKind
from .candidate_search import MINING_KINDS, SearchSettings
from .hard_negative_mining import mine_hard_negatives
from .select import Sampling, SelectionRules, select_negatives
from .settings import MineSettings

__all__ = ["MINING_KINDS", "IndexKind", "MineSettings", "Sampling", "SearchSettings", "SelectionRules",
           "mine_hard_negatives", "select_negatives"]
