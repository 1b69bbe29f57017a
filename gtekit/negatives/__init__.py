"""Hard-negative mining: encode to disk, search, select, report (``gtekit mine``).

The stages exchange documented files, so each can be rerun alone:

1. ``encode_store``: queries and corpus -> embedding stores (chunked ``.npy`` files, resumable);
2. ``index``: stores -> top-k candidates per query (exact, streamed; IVF or HNSW for large corpora);
3. ``run_file``: the candidates as a Parquet run file (query id, candidate id, rank, score);
4. ``select``: pure rules on (scores, candidate ids) arrays: rank range, margins to the positive, score caps;
5. ``report``: counts, score histograms and sample triples for a person to read.

``mine.mine_hard_negatives`` chains them. This package imports the embedder's interface only
(anything with ``encode(texts, kind=..., batch_size=...)``), never training.
"""

from .candidate_search import IndexKind, SearchSettings
from .mine import mine_hard_negatives
from .select import Sampling, SelectionRules, select_negatives

__all__ = ["IndexKind", "Sampling", "SearchSettings", "SelectionRules", "mine_hard_negatives", "select_negatives"]
