"""`gtekit data stats`: what a built mixture holds, and how often training would draw each source."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PLOT_NAME = "source-shares.png"


def add_parser(subcommands) -> argparse.ArgumentParser:
    parser = subcommands.add_parser(
        "stats", help="per-source counts, sampling shares for several α, token lengths and sample pairs",
        description="Summarise a `gtekit data build` folder from its manifest: pairs per source, the share p_i of "
                    "batches each source gets under the mixture's α and under α = 0, 0.3, 0.5, 1 (GTE Eq. 4, "
                    "Table 10), token-length percentiles, a few sample pairs, and a PNG of the shares.")
    parser.add_argument("directory", metavar="DIR", help="a folder written by `gtekit data build`")
    parser.add_argument("--plot", metavar="PATH", default=None,
                        help=f"where to write the PNG of source shares (default: DIR/{PLOT_NAME})")
    parser.add_argument("--samples", type=int, default=3, metavar="N",
                        help="sample pairs shown per source, from its first shard (default: 3)")
    parser.add_argument("--json", metavar="FILE", default=None, help="also write the statistics as JSON")
    parser.set_defaults(handler=run)
    return parser


def run(args) -> int:
    from ..data.stats import format_stats, mixture_stats, plot_source_shares

    if args.samples < 0:
        raise ValueError(f"--samples must be >= 0, got {args.samples}")
    stats = mixture_stats(args.directory, samples=args.samples)
    print(format_stats(stats))
    plot = plot_source_shares(stats, args.plot or Path(args.directory) / PLOT_NAME)
    print(f"\nsource shares plotted to {plot}")
    if args.json:
        Path(args.json).write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0
