"""The ``gtekit`` command: the root parser, built from one module per command, and the run of its handler
(errors as messages, Ctrl-C as exit status 130)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

DESCRIPTION = """\
gtekit trains, evaluates and serves general-purpose text embedding models with the GTE
multi-stage contrastive recipe.

  gtekit run recipes/quickstart.yaml                  GTE at small scale: offline data, PT, mine, FT, compare
  gtekit quickstart                                   mine stdlib pairs, train MiniLM, compare before/after
  gtekit train recipes/offline-pretrain.yaml --set train.lr=1e-4
  gtekit train recipes/gte-base-pretrain.yaml --dry-run    check a recipe in seconds before a cluster
  gtekit mine all-MiniLM-L6-v2 pairs.jsonl -o mined        hard negatives, likely false negatives dropped
  gtekit encode all-MiniLM-L6-v2 texts.txt -o embeddings.npy
  gtekit index build embeddings/ -o my-index --precision binary    faiss index; rescored with float32
  gtekit search my-index "how do I parse a date" -k 5
  gtekit eval all-MiniLM-L6-v2 --tasks STSBenchmark -o results.json
  gtekit plot runs/a runs/b -o loss.png                   training curves of several runs on one figure
  gtekit card runs/a/model --results results.json         the model card (README.md), with results
  gtekit run recipes/multistage-example.yaml --dry-run     pre-train, mine, fine-tune, compare: one pipeline file
"""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _quiet_libraries()
    try:
        return args.handler(args) or 0
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        if args.verbose:
            raise
        print(f"gtekit {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gtekit {args.command}: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The root parser, with one subcommand per command module, in the order ``gtekit --help`` lists them."""
    from . import (
        adapt,
        card,
        convert,
        data,
        encode,
        export,
        index,
        merge,
        mine,
        plot,
        quickstart,
        run,
        search,
        serve,
        train,
    )
    from . import eval as evaluate

    parser = argparse.ArgumentParser(prog="gtekit", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log details and show full tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     help="run `gtekit COMMAND --help` for its options")
    for module in (data, train, plot, mine, run, adapt, serve, encode, index, search, export, evaluate, merge, card,
                   convert, quickstart):
        module.add_parser(commands)
    return parser


def _quiet_libraries() -> None:
    """transformers at error level, without its (and huggingface_hub's) progress bars. Through their environment
    variables, read when they are imported, so that a command which fails on its arguments imports neither."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:  # imported already (gtekit called from Python): set it directly
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
