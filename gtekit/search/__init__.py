"""Vector search over encoded shards: build a faiss index folder, then search it with query embeddings.

    >>> from gtekit.search import ArrayShards, IndexSettings, SearchIndex, build_index
    >>> build_index(ArrayShards(embeddings, ids=ids, texts=texts, model="all-MiniLM-L6-v2"), "my-index",
    ...             IndexSettings(kind="hnsw", precision="binary"))
    >>> SearchIndex.load("my-index").search(query_embeddings, k=10)   # [[Hit(id, score, text), ...], ...]

Modules: ``settings`` (kinds, precisions, parameters), ``quantize`` (sentence-transformers' precisions),
``faiss_index`` (one faiss index per kind and precision), ``files`` (the folder layout and manifest),
``build`` (streamed construction), ``search_index`` (search with rescoring), ``topk`` (exact top-k,
rescoring, recall). Imports neither models nor training: queries arrive as embeddings.
"""

from .index_build import ArrayShards, build_index
from .index_folder import IndexFormatError, IndexManifest
from .search_index import Hit, SearchIndex
from .settings import EmbeddingPrecision, IndexKind, IndexSettings, RescoreStore

__all__ = [
           "ArrayShards",
           "EmbeddingPrecision",
           "Hit",
           "IndexFormatError",
           "IndexKind",
           "IndexManifest",
           "IndexSettings",
           "RescoreStore",
           "SearchIndex",
           "build_index",
]
