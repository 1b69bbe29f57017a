"""`gtekit mine`: hard negatives for pair files, with a false-negative report: the options become a
``MineSettings`` for ``gtekit.negatives.mining_stage.run_mining``."""

from __future__ import annotations

import argparse
from dataclasses import fields

from ..negatives.candidate_search import EXACT_MAX_DOCS, MINING_KINDS
from ..negatives.select import Sampling
from ..negatives.settings import MineSettings

DEFAULTS = MineSettings()

DESCRIPTION = """\
Mine hard negatives for (query, positive) pair files with an embedding model: encode the queries and
the corpus (by default all positives), retrieve each query's --top-k nearest corpus texts, drop its
known positives and the candidates likely to be unlabelled positives (false negatives), and keep
--num-negatives of the rest. Writes into OUT (each file atomically):

  triples.jsonl   {"query", "positive", "negatives": [...]} per pair, ready for training
  run.parquet     the retrieved candidates (query_id, candidate_id, rank, score)
  report.json     counts of every candidate's fate, false negatives dropped, score summaries
  scores.png      histograms: positives, selected negatives, dropped as likely false negatives
  samples.md      a few queries with their negatives and dropped candidates, to read
  embeddings/     the embeddings, in chunks: an interrupted run resumes where it stopped, and a
                  rerun with other selection options re-encodes and re-searches nothing

Selection (sentence-transformers' mine_hard_negatives rules): with s+ the positive's score, drop a
candidate if score + --absolute-margin > s+, if score > s+ - |s+| * --relative-margin (Arctic-Embed:
0.05, i.e. above 0.95 x the positive), if score > --max-score or score < --min-score; rank the
rest by score and sample from ranks [--range-min, --range-max).

examples:
  gtekit mine all-MiniLM-L6-v2 data/msmarco.jsonl -o mined/msmarco
  gtekit mine my-model data/nq.jsonl --corpus wiki.jsonl --corpus-field text -o mined/nq \\
      --num-negatives 7 --range-min 5 --range-max 100 --top-k 101 --sampling random
  gtekit mine my-model data/nq.jsonl -o mined/nq --relative-margin 0.1   (reruns selection only)
"""


def add_parser(subcommands) -> argparse.ArgumentParser:
    parser = subcommands.add_parser("mine", help="mine hard negatives for pair files, dropping likely false negatives",
                                    description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model folder, 'all-MiniLM-L6-v2' or a hub name")
    parser.add_argument("pairs", nargs="+", metavar="PAIRS",
                        help="pair files (.jsonl, .jsonl.gz, .parquet with fields query and positive)")
    parser.add_argument("-o", "--output-dir", required=True, metavar="OUT", help="folder for the outputs")

    inputs = parser.add_argument_group("inputs")
    inputs.add_argument("--corpus", metavar="FILE",
                        help="candidate documents besides the positives: a .txt file (one per line) or a .jsonl "
                             "file (see --corpus-field); default: the positives only")
    inputs.add_argument("--corpus-field", default="text", metavar="NAME",
                        help="JSONL field holding a corpus document's text (default: text)")
    inputs.add_argument("--skip-invalid", action="store_true",
                        help="skip malformed pair rows (counted in report.json) instead of stopping at the first")

    search = parser.add_argument_group("search")
    search.add_argument("--top-k", type=int, default=DEFAULTS.top_k, metavar="K",
                        help=f"candidates retrieved per query, its positives and its own text included "
                             f"(default: {DEFAULTS.top_k})")
    search.add_argument("--index", default=DEFAULTS.index.value, choices=[kind.value for kind in MINING_KINDS],
                        help=f"flat: exact, streamed over the corpus; ivf / hnsw: approximate (faiss, 8-bit codes), "
                             f"scores rescored exactly; auto: flat up to {EXACT_MAX_DOCS:,} corpus texts, then ivf "
                             f"(default: auto)")
    search.add_argument("--nprobe", type=int, default=DEFAULTS.nprobe, metavar="N",
                        help=f"ivf: inverted lists searched per query (default: {DEFAULTS.nprobe})")
    search.add_argument("--ef-search", type=int, default=DEFAULTS.ef_search, metavar="N",
                        help=f"hnsw: search beam width (default: {DEFAULTS.ef_search})")

    select = parser.add_argument_group("selection")
    select.add_argument("--num-negatives", type=int, default=DEFAULTS.num_negatives, metavar="N",
                        help=f"negatives per query (default: {DEFAULTS.num_negatives}, GTE's group of 16)")
    select.add_argument("--range-min", type=int, default=DEFAULTS.range_min, metavar="N",
                        help="skip the N best candidates left after the score rules (default: 0)")
    select.add_argument("--range-max", type=int, default=DEFAULTS.range_max, metavar="N",
                        help="consider only candidates ranked below N after the score rules "
                             "(default: all of --top-k)")
    select.add_argument("--relative-margin", type=_optional_float, default=DEFAULTS.relative_margin, metavar="M",
                        help="drop candidates scoring above s+ - |s+| * M, likely false negatives; 0.05 is "
                             "Arctic-Embed's 0.95 x the positive; 'none' turns it off (default: "
                             f"{DEFAULTS.relative_margin})")
    select.add_argument("--absolute-margin", type=_optional_float, default=DEFAULTS.absolute_margin, metavar="M",
                        help="drop candidates scoring above s+ - M (default: off)")
    select.add_argument("--max-score", type=_optional_float, default=DEFAULTS.max_score, metavar="SCORE",
                        help="drop candidates scoring above this cosine (default: off)")
    select.add_argument("--min-score", type=_optional_float, default=DEFAULTS.min_score, metavar="SCORE",
                        help="drop candidates scoring below this cosine (default: off)")
    select.add_argument("--sampling", default=DEFAULTS.sampling.value, choices=[s.value for s in Sampling],
                        help="top: the best-scoring candidates left; random: a seeded random choice (default: top)")
    select.add_argument("--seed", type=int, default=DEFAULTS.seed, metavar="N",
                        help="seed of --sampling random and of the samples (default: 0)")
    select.add_argument("--keep-short", action="store_true",
                        help="keep pairs whose query got fewer than --num-negatives negatives (default: drop them, "
                             "as training with data.negatives_per_query needs that many; counted in report.json)")

    encode = parser.add_argument_group("encoding and output")
    encode.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, metavar="N",
                        help=f"texts per forward pass (default: {DEFAULTS.batch_size})")
    encode.add_argument("--chunk-size", type=int, default=DEFAULTS.chunk_size, metavar="N",
                        help="texts per embedding chunk on disk, and queries searched at once: bounds memory "
                             f"(default: {DEFAULTS.chunk_size})")
    encode.add_argument("--bf16", action="store_true", help="bf16 autocast while encoding")
    encode.add_argument("--device", default=DEFAULTS.device,
                        help="where the model encodes, e.g. cpu, cuda, cuda:1 (default: cuda if available, else cpu)")
    encode.add_argument("--samples", type=int, default=DEFAULTS.samples, metavar="N",
                        help=f"queries shown in samples.md (default: {DEFAULTS.samples})")
    encode.add_argument("--with-scores", action="store_true",
                        help="add positive_score and negative_scores to each triple (for curricula by hardness)")
    parser.set_defaults(handler=run)
    return parser


def run(args) -> int:
    from ..negatives.mining_stage import run_mining

    # every option is named after the MineSettings field it sets
    settings = MineSettings(**{field.name: getattr(args, field.name) for field in fields(MineSettings)})
    report = run_mining(settings)
    queries = report["queries"]
    print(f"{report['output']['pairs_written']:,} pairs with negatives written to {args.output_dir}/triples.jsonl "
          f"({report['output']['pairs_dropped_too_few_negatives']:,} dropped: too few negatives)")
    print(f"{report['false_negatives_dropped']:,} candidates dropped as likely false negatives, in "
          f"{queries['with_false_negatives_dropped']:,} of {report['inputs']['queries']:,} queries; "
          f"see {args.output_dir}/report.json, scores.png and samples.md")
    return 0


def _optional_float(value: str) -> float | None:
    if value.lower() in ("none", "off"):
        return None
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {value!r}") from None
