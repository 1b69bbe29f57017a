"""`gtekit card`: write a model folder's model card (``README.md``) again, with evaluation results; the
data comes from ``gtekit.model.card_data.build_card`` and, for a trained model, its run folder
(``gtekit.training.run_summary``)."""

from __future__ import annotations

import argparse
from pathlib import Path

CARD_DESCRIPTION = """\
Write MODEL/README.md, the Hugging Face model card sentence-transformers users know: YAML front matter
(base_model, library_name, pipeline_tag, tags, datasets, model-index with the results), usage, the
training recipe and data sources with their licences, evaluation tables. Training writes one into every
model folder it saves and gtekit merge into its output; run this to add results, e.g.

  gtekit eval runs/x/model --suite offline -o results.json
  gtekit card runs/x/model --results results.json

The run folder is MODEL's parent when that holds recipe.yaml or train_log.jsonl (runs/x for runs/x/model);
--run names another. Without a run, base_model and datasets are kept from the current card.
"""


def add_parser(subcommands) -> argparse.ArgumentParser:
    parser = subcommands.add_parser("card", help="write a model folder's model card (README.md)",
                                    description=CARD_DESCRIPTION,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="MODEL", help="the model folder")
    parser.add_argument("--results", action="append", default=[], metavar="FILE.json",
                        help="results JSON of gtekit eval -o (repeatable; a later file wins for a task in two)")
    parser.add_argument("--run", metavar="RUN_DIR", help="the training run that made MODEL (default: its parent, "
                                                         "when that is a run folder)")
    parser.add_argument("--base-model", metavar="HUB_ID", help="the hub model training started from, when the "
                                                               "run started from a local folder")
    parser.add_argument("--name", help="the model's name in the card and its code samples (default: MODEL)")
    parser.set_defaults(handler=run)
    return parser


def run(args) -> int:
    from ..model.card_data import build_card, load_results
    from ..model.model_card import write_card
    from ..training.run_folder import RECIPE_FILE
    from ..training.run_summary import run_summary
    from ..training.train_log import LOG_FILE

    folder = Path(args.model)
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder {folder} does not exist")
    run_dir = Path(args.run) if args.run else folder.resolve().parent
    summary = None
    if args.run or (run_dir / RECIPE_FILE).is_file() or (run_dir / LOG_FILE).is_file():
        summary = run_summary(run_dir)
    card = build_card(folder, name=args.name, model_id=args.name or args.model, run=summary,
                      results=load_results(args.results, folder), base_model=args.base_model)
    path = write_card(folder, card)
    print(f"wrote {path}" + (f" (training run {run_dir})" if summary else "")
          + (f" with {len(card['results'])} result(s)" if card["results"] else ""))
    return 0
