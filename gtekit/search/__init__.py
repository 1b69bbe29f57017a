"""Vector search over embedding stores: build a faiss index folder, then search it with query embeddings.

    >>> from gtekit.search import ArrayShards, IndexSettings, SearchIndex, build_index
    >>> build_index(ArrayShards(embeddings, ids=ids, texts=texts, model="all-MiniLM-L6-v2"), "my-index",
    ...             IndexSettings(kind="hnsw", precision="binary"))
    >>> SearchIndex.load("my-index").search(query_embeddings, k=10)   # [[Hit(id, score, text), ...], ...]

Modules: ``settings`` (the one ``IndexKind`` enum, also used by ``gtekit mine``; precisions,
parameters), ``vector_precision`` (sentence-transformers' precisions), ``faiss_index`` (one faiss index
per kind and precision), ``index_folder`` (the folder layout and manifest), ``index_build`` (streamed
construction from an embedding store, ``gtekit.io.embedding_store``; ``build_index_folder`` for an
``IndexBuildSettings``, as ``gtekit index build``), ``search_index`` (search with
rescoring), ``topk`` (the one exact top-k, also used by mining and evaluation; rescoring, recall).
Imports neither models nor training: queries arrive as embeddings. Depends on ``gtekit.io`` only.
"""

from .index_build import ArrayShards, build_index, build_index_folder
from .index_folder import IndexFormatError, IndexManifest
from .search_index import Hit, SearchIndex
from .settings import EmbeddingPrecision, IndexBuildSettings, IndexKind, IndexSettings, RescoreStore

__all__ = [
           "ArrayShards",
           "EmbeddingPrecision",
           "Hit",
           "IndexBuildSettings",
           "IndexFormatError",
           "IndexKind",
           "IndexManifest",
           "IndexSettings",
           "RescoreStore",
           "SearchIndex",
           "build_index",
           "build_index_folder",
]
