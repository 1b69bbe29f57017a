"""`gtekit search`: embed query texts with the index's model and print the nearest documents (``gtekit.search``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TEXT_WIDTH = 100  # characters of each hit's text shown (the JSON output has them whole)

DESCRIPTION = """\
Search an index folder written by `gtekit index build`: load the model named in its manifest (or
--model), encode each query with the model's query prefix, and print the k nearest documents with
their cosine scores, ids and texts; --json prints one JSON object per query instead:
  {"query": "...", "hits": [{"rank": 1, "id": "...", "score": 0.83, "text": "..."}, ...]}

An index with a rescore store (binary, int8, float16 or ivfpq indexes by default) retrieves
--rescore-multiplier x k candidates and rescores them exactly; --no-rescore shows the index's own
ranking and scores.

examples:
  gtekit search my-index "how do I read a file line by line"
  gtekit search my-index "parse a date" "sort a dict by value" -k 3 --json
  gtekit search my-index --queries-file queries.txt --json > results.jsonl
  gtekit search my-index "open a socket" --no-rescore --ef-search 256
"""


def add_parser(subcommands) -> argparse.ArgumentParser:
    parser = subcommands.add_parser("search", help="search an index with query texts",
                                    description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index_dir", metavar="INDEX_DIR", help="a folder written by `gtekit index build`")
    parser.add_argument("queries", nargs="*", metavar="QUERY", help="query texts")
    parser.add_argument("--queries-file", metavar="FILE",
                        help="more queries, one per line of a .txt file (or a field of .jsonl rows: --field)")
    parser.add_argument("--field", default="text", help="JSONL field of --queries-file holding the query "
                                                        "(default: text)")
    parser.add_argument("-k", "--top-k", type=int, default=10, metavar="K", help="hits per query (default: 10)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per query (JSON lines)")
    parser.add_argument("--model", default=None,
                        help="model to encode the queries with (default: the model named in the index's manifest)")
    rescore = parser.add_mutually_exclusive_group()
    rescore.add_argument("--rescore", dest="rescore", action="store_true", default=None,
                         help="rescore candidates with the stored embeddings (default: when the index keeps them)")
    rescore.add_argument("--no-rescore", dest="rescore", action="store_false",
                         help="return the index's own ranking and scores")
    parser.add_argument("--rescore-multiplier", type=int, default=None, metavar="N",
                        help="candidates rescored per hit (default: the index's, set at build time)")
    parser.add_argument("--nprobe", type=int, default=None, metavar="N",
                        help="ivfpq: cells searched per query (default: the index's)")
    parser.add_argument("--ef-search", type=int, default=None, metavar="N",
                        help="hnsw: search beam width (default: the index's)")
    parser.add_argument("--batch-size", type=int, default=64, metavar="N",
                        help="queries per forward pass (default: 64)")
    parser.add_argument("--device", default=None, help="where the model encodes, e.g. cpu, cuda (default: cpu)")
    parser.set_defaults(handler=run)
    return parser


def run(args) -> int:
    from ..model.embedder import Embedder
    from ..search.search_index import SearchIndex

    queries = list(args.queries)
    if args.queries_file:
        from ..data.text_files import read_texts

        queries += read_texts(Path(args.queries_file), field=args.field)
    if not queries:
        raise ValueError("no queries: give QUERY texts or --queries-file")
    if args.top_k < 1:
        raise ValueError(f"-k must be >= 1, got {args.top_k}")
    index = SearchIndex.load(args.index_dir, nprobe=args.nprobe, ef_search=args.ef_search,
                             rescore_multiplier=args.rescore_multiplier)
    model_name = args.model or index.model
    if not model_name:
        raise ValueError(f"{args.index_dir}: its manifest names no model; give --model")
    try:
        model = Embedder.load(model_name)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot load the model {model_name!r}"
                         f"{'' if args.model else ' named in the index manifest'}: {error}; give --model") from None
    if model.dimension != index.dimension:
        raise ValueError(f"the model {model_name!r} makes {model.dimension}-dimensional embeddings but the index "
                         f"holds {index.dimension}-dimensional ones (built from {index.model!r})")
    if args.device:
        model = model.to(args.device)
    embeddings = model.encode(queries, batch_size=args.batch_size, normalize=True, kind="query")
    results = index.search(embeddings, args.top_k, rescore=args.rescore)
    out = sys.stdout
    for query, hits in zip(queries, results, strict=True):
        if args.json:
            rows = [{"rank": rank, "id": hit.id, "score": round(hit.score, 6), "text": hit.text}
                    for rank, hit in enumerate(hits, 1)]
            out.write(json.dumps({"query": query, "hits": rows}, ensure_ascii=False) + "\n")
            continue
        out.write(f"query: {query}\n")
        for rank, hit in enumerate(hits, 1):
            text = "" if hit.text is None else "  " + _one_line(hit.text)
            out.write(f"{rank:>4}  {hit.score:7.4f}  {hit.id}{text}\n")
        out.write("\n")
    return 0


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TEXT_WIDTH else text[:TEXT_WIDTH - 1] + "…"
