"""`gtekit plot`: one metric of several training runs on one figure, from their ``train_log.jsonl``
(``gtekit.training.curves.plot_runs``)."""

from __future__ import annotations

import argparse

PLOT_DESCRIPTION = """\
Draw a metric of one or more training runs on one figure, labelled by folder names, e.g.

  gtekit plot runs/tau-0.01 runs/tau-0.05 -o tau.png                 loss (and its moving average)
  gtekit plot runs/a runs/b --metric validation_mean -o dev.png

Metrics: loss, lr, pairs_per_s, tokens_per_s, source_mean_loss (every step); validation_mean and
validation/TASK (each validation). Every run folder also holds its own curves.png, drawn during training.
"""


def add_parser(subcommands) -> argparse.ArgumentParser:
    parser = subcommands.add_parser("plot", help="draw training curves of several runs on one figure",
                                    description=PLOT_DESCRIPTION,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="training run folders (holding train_log.jsonl)")
    parser.add_argument("-o", "--output", default=None, metavar="FILE.png",
                        help="the figure to write (default: curves-METRIC.png in the current folder)")
    parser.add_argument("--metric", default="loss", help="what to draw (default: loss; see above)")
    parser.set_defaults(handler=run)
    return parser


def run(args) -> int:
    from ..training.curves import plot_runs

    output = args.output or f"curves-{args.metric.replace('/', '-')}.png"
    path = plot_runs(args.runs, output, args.metric)
    print(f"drew {args.metric} of {len(args.runs)} run(s) into {path}")
    return 0
