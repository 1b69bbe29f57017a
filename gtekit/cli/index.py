"""`gtekit index build` / `gtekit index info`: a faiss search index from encoded shards; build's options become an
``IndexBuildSettings`` for ``gtekit.search.index_build.build_index_folder``."""

from __future__ import annotations

import argparse
import json

from ..search.settings import (
    BINARY_FLAT_MAX_ROWS,
    FLAT_MAX_ROWS,
    HNSW_MAX_ROWS,
    INDEX_KINDS,
    EmbeddingPrecision,
    IndexBuildSettings,
    IndexKind,
    IndexSettings,
    RescoreStore,
)

DEFAULTS = IndexSettings()

BUILD_DESCRIPTION = f"""\
Build a search index folder from a folder of encoded shards (written by `gtekit encode`), streaming
shard by shard: memory holds the index and one shard, not the whole float32 corpus. Scores are
cosines (inner products of L2-normalised vectors).

Kinds: flat (exact), hnsw (graph: --hnsw-m, --ef-construction, --ef-search), ivfpq (k-means cells
holding product-quantized vectors: --nlist, --pq-m, --pq-nbits, --nprobe; trained on a sample);
auto picks flat up to {FLAT_MAX_ROWS:,} documents ({BINARY_FLAT_MAX_ROWS:,} for binary precisions), then
hnsw, then ivfpq above {HNSW_MAX_ROWS:,} at float32.

Precisions (sentence-transformers' quantize_embeddings): float32, float16, int8 (256 levels per
dimension between the corpus's min and max), binary / ubinary (sign bits, Hamming distance; 32x
smaller than float32). A compact index finds --rescore-multiplier x k candidates, which are rescored
with the float32 query against the embeddings kept on disk (--rescore-store), memory-mapped.

Writes OUT/manifest.json, OUT/index.faiss, OUT/rows.parquet (ids and texts), OUT/embeddings.npy (the
rescore store) and OUT/calibration.npy (int8 ranges); the folder appears whole or not at all.

examples:
  gtekit index build embeddings/ -o my-index
  gtekit index build embeddings/ -o my-index --kind hnsw --precision binary
  gtekit index build embeddings/ -o my-index --kind ivfpq --nlist 4096 --pq-m 48 --nprobe 32
  gtekit index build embeddings/ -o my-index --precision binary --rescore-store int8 --no-texts
  gtekit search my-index "how do I read a file line by line" -k 5
"""


def add_parser(subcommands) -> argparse.ArgumentParser:
    group = subcommands.add_parser("index", help="build and inspect vector search indexes (faiss)",
                                   description="Build a search index from encoded shards (build) and show what an "
                                               "index holds (info); search it with `gtekit search`.")
    commands = group.add_subparsers(dest="index_command", required=True, metavar="INDEX_COMMAND",
                                    help="run `gtekit index INDEX_COMMAND --help` for its options")
    _add_build(commands)
    info = commands.add_parser("info", help="print an index's manifest: model, kind, precision, sizes",
                               description="Print the manifest.json of an index folder.")
    info.add_argument("index_dir", metavar="INDEX_DIR", help="a folder written by `gtekit index build`")
    info.set_defaults(handler=run_info)
    return group


def _add_build(commands) -> None:
    parser = commands.add_parser("build", help="build a search index from a folder of encoded shards",
                                 description=BUILD_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shards_dir", metavar="SHARDS_DIR", help="a folder written by `gtekit encode`")
    parser.add_argument("-o", "--output", required=True, metavar="INDEX_DIR",
                        help="the index folder to write (an existing index there is replaced)")
    parser.add_argument("--kind", default=IndexKind.AUTO.value, choices=[kind.value for kind in INDEX_KINDS],
                        help="flat: exact; hnsw: graph; ivfpq: cells of product-quantized codes; auto: by size "
                             "(default: auto)")
    parser.add_argument("--precision", default=EmbeddingPrecision.FLOAT32.value,
                        choices=[p.value for p in EmbeddingPrecision],
                        help="how the index stores vectors (default: float32)")
    parser.add_argument("--rescore-store", default=RescoreStore.AUTO.value, choices=[s.value for s in RescoreStore],
                        help="document embeddings kept on disk for rescoring; auto: float32 when the index's scores "
                             "are approximate (precision below float32, or ivfpq), none otherwise (default: auto)")
    parser.add_argument("--rescore-multiplier", type=int, default=DEFAULTS.rescore_multiplier, metavar="N",
                        help=f"candidates rescored per result (default: {DEFAULTS.rescore_multiplier})")
    parser.add_argument("--allow-partial", action="store_true",
                        help="index the shards listed so far in an incomplete folder instead of stopping")
    parser.add_argument("--no-texts", action="store_true", help="store ids only; hits come back without texts")

    hnsw = parser.add_argument_group("hnsw")
    hnsw.add_argument("--hnsw-m", type=int, default=DEFAULTS.hnsw_m, metavar="M",
                      help=f"links per node (default: {DEFAULTS.hnsw_m})")
    hnsw.add_argument("--ef-construction", type=int, default=DEFAULTS.ef_construction, metavar="N",
                      help=f"beam width while adding: higher builds slower and finds more (default: "
                           f"{DEFAULTS.ef_construction})")
    hnsw.add_argument("--ef-search", type=int, default=DEFAULTS.ef_search, metavar="N",
                      help=f"beam width while searching, recorded as the default of searches (default: "
                           f"{DEFAULTS.ef_search})")

    ivfpq = parser.add_argument_group("ivfpq")
    ivfpq.add_argument("--nlist", type=int, default=None, metavar="N",
                       help="k-means cells (default: about 4 x sqrt(documents))")
    ivfpq.add_argument("--pq-m", type=int, default=None, metavar="M",
                       help="sub-quantizers, one code each; must divide the dimension (default: dimension / 8)")
    ivfpq.add_argument("--pq-nbits", type=int, default=DEFAULTS.pq_nbits, metavar="B",
                       help=f"bits per sub-quantizer code (default: {DEFAULTS.pq_nbits})")
    ivfpq.add_argument("--nprobe", type=int, default=DEFAULTS.nprobe, metavar="N",
                       help=f"cells searched per query, recorded as the default of searches (default: "
                            f"{DEFAULTS.nprobe})")
    ivfpq.add_argument("--train-rows", type=int, default=DEFAULTS.train_rows, metavar="N",
                       help=f"at most this many documents, drawn at random, train the quantizers (default: "
                            f"{DEFAULTS.train_rows:,})")
    ivfpq.add_argument("--seed", type=int, default=DEFAULTS.seed, metavar="N",
                       help=f"which documents train (default: {DEFAULTS.seed})")
    parser.set_defaults(handler=run_build)


def run_build(args) -> int:
    from ..search.index_build import build_index_folder

    index = IndexSettings(kind=args.kind, precision=args.precision, rescore_store=args.rescore_store,
                          rescore_multiplier=args.rescore_multiplier, nlist=args.nlist, pq_m=args.pq_m,
                          pq_nbits=args.pq_nbits, nprobe=args.nprobe, hnsw_m=args.hnsw_m,
                          ef_construction=args.ef_construction, ef_search=args.ef_search,
                          train_rows=args.train_rows, seed=args.seed)
    manifest = build_index_folder(IndexBuildSettings(shards_dir=args.shards_dir, output_dir=args.output, index=index,
                                                     allow_partial=args.allow_partial,
                                                     store_texts=not args.no_texts))
    sizes = ", ".join(f"{name} {_mib(size)}" for name, size in manifest.sizes.items())
    print(f"indexed {manifest.count:,} x {manifest.dimension} embeddings of {manifest.model or 'an unnamed model'} "
          f"into {args.output} ({manifest.factory}, {manifest.settings.precision.value}, rescore store "
          f"{manifest.settings.rescore_store.value}) in {manifest.build_seconds:.1f} s; {sizes}")
    if manifest.source.get("kind") == "query":
        print("note: these shards were encoded as queries (--kind query); documents are usually encoded as "
              "documents")
    return 0


def run_info(args) -> int:
    from ..search.index_folder import IndexManifest

    print(json.dumps(IndexManifest.read(args.index_dir).to_json(), indent=1))
    return 0


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 1024:.1f} KiB"
