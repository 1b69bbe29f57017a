"""`gtekit train`: train from a YAML recipe (``gtekit.training.trainer.train``), or check the recipe at toy scale
first with ``--dry-run`` (``dry_run``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subcommands) -> argparse.ArgumentParser:
    from ..training.run_folder import RESUMABLE

    train = subcommands.add_parser("train", help="train a model from a YAML recipe",
                                   formatter_class=argparse.RawDescriptionHelpFormatter,
                                   description="Train from a YAML recipe (see recipes/). Checkpoints go to "
                                               "train.output_dir/checkpoints, the final model to "
                                               "train.output_dir/model."
                                               "\n\nOne run per output folder: a folder that already holds a run "
                                               "(checkpoints, train_log.jsonl, model) needs --resume or --overwrite. "
                                               "On --resume the recipe must be the one the run started with "
                                               "(train.output_dir/recipe.yaml), except for these settings:\n  "
                                               + "\n  ".join(RESUMABLE)
                                               + "\n(train.steps extends or shortens the run: the learning-rate "
                                                 "schedule then runs to the new last step).")
    train.add_argument("recipe", help="YAML recipe file")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a recipe value, e.g. --set train.lr=1e-4 (repeatable)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in train.output_dir from its newest intact checkpoint (a damaged "
                            "newer one is named and skipped); settings that change what is trained must not change")
    train.add_argument("--overwrite", action="store_true",
                       help="delete the run in train.output_dir (checkpoints, train_log.jsonl, model, best_model, "
                            "recipe.yaml) and start again")
    train.add_argument("--dry-run", action="store_true",
                       help="check the recipe before a cluster: build everything it describes at toy scale (a tiny "
                            "random BERT, batch 8, <= 32 tokens, stdlib sample data if its sources are missing) "
                            "and run 2 steps; works on CPU and under torchrun")
    train.add_argument("--output-dir", metavar="DIR",
                       help="with --dry-run: where its data, checkpoints and model go (default: a new temporary "
                            "folder)")
    train.set_defaults(handler=run)
    return train


def run(args) -> int:
    from ..config import load_recipe
    from ..training.trainer import train

    recipe = load_recipe(args.recipe, args.overrides)
    if args.dry_run:
        return run_dry(args, recipe)
    if args.output_dir:
        raise ValueError("--output-dir goes with --dry-run; to train elsewhere, --set train.output_dir=DIR")
    result = train(recipe, resume=args.resume, overwrite=args.overwrite)
    print(f"trained {result.steps} steps; model saved to {result.model_dir}")
    return 0


def run_dry(args, recipe) -> int:
    """``--dry-run``: the recipe at toy scale (``dry_run.prepare_dry_run``), trained for its few steps."""
    from ..training.distributed import is_main_process
    from ..training.run_folder import RunFolderError, run_marks
    from ..training.trainer import train
    from .dry_run import default_output_dir, prepare_dry_run

    if args.resume:
        raise ValueError("--dry-run always starts from step 0; leave out --resume")
    output_dir = Path(args.output_dir) if args.output_dir else default_output_dir(args.recipe)
    if not args.overwrite and run_marks(output_dir):  # a dry run has no --resume: name what it does take
        raise RunFolderError(f"{output_dir} already holds a training run; a dry run always starts from step 0: "
                             "pass --overwrite to replace it, or leave out --output-dir for a new temporary folder")
    shrunk, lines = prepare_dry_run(recipe, output_dir)
    main_process = is_main_process()  # torchrun starts one copy of this per GPU: print once
    if main_process:
        print(f"dry run of {args.recipe}: the recipe at toy scale, {shrunk.train.steps} steps, into {output_dir}")
        print("\n".join(f"  {line}" for line in lines))
    result = train(shrunk, overwrite=args.overwrite)
    if main_process:
        print(f"dry run passed: {result.steps} steps; checkpoints in {output_dir / 'checkpoints'}, "
              f"model in {result.model_dir}")
    return 0
