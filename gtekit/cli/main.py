"""The ``gtekit`` command. Thin: parses options and calls the library; ties the stages together."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

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
  gtekit run recipes/multistage-example.yaml --dry-run     pre-train, mine, fine-tune, compare: one recipe
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
    parser = argparse.ArgumentParser(prog="gtekit", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log details and show full tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     help="run `gtekit COMMAND --help` for its options")

    data = commands.add_parser("data", help="mine, build and inspect training pairs",
                               description="Turn raw material into pair files (mine), assemble a cleaned, sharded "
                                           "mixture of sources (build) and inspect it (stats).")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND",
                                        help="run `gtekit data DATA_COMMAND --help` for its options")
    from . import data_build, data_stats
    from . import data_extract as data_mine

    for module in (data_mine, data_build, data_stats):
        module.add_parser(data_commands)

    from ..training.run_folder import RESUMABLE

    train = commands.add_parser("train", help="train a model from a YAML recipe",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Train from a YAML recipe (see recipes/). Checkpoints go to "
                                            "train.output_dir/checkpoints, the final model to train.output_dir/model."
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
    train.set_defaults(handler=_train)

    from . import encode, export, index, mine, run, search, serve

    for module in (mine, run, serve, encode, index, search, export):
        module.add_parser(commands)

    evaluate = commands.add_parser("eval", help="evaluate models on named tasks",
                                   description="Evaluate one or more models; scores are on mteb's 0-1 scale.")
    evaluate.add_argument("models", nargs="+", help="model folders, 'all-MiniLM-L6-v2' or hub names")
    evaluate.add_argument("--tasks", default=None,
                          help="comma-separated task names (e.g. STSBenchmark,PythonStdlibCodeSearch)")
    evaluate.add_argument("--suite", default=None, help="a named suite of tasks: offline")
    evaluate.add_argument("--beir", action="append", default=[], metavar="DIR",
                          help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv) as a retrieval task "
                               "(repeatable)")
    evaluate.add_argument("--beir-split", default="test", help="qrels split of --beir folders (default: test)")
    evaluate.add_argument("--task-file", action="append", default=[], metavar="FILE",
                          help="a YAML/JSON task definition pointing at local JSONL/CSV files (repeatable)")
    evaluate.add_argument("--markdown", metavar="FILE", help="also write the results table as Markdown")
    evaluate.add_argument("--plot", metavar="FILE.png", help="also write a bar chart of main scores")
    evaluate.add_argument("-o", "--output", help="results JSON file (one model: {model, tasks}; several: a list)")
    evaluate.add_argument("--batch-size", type=int, default=64, help="texts per forward pass (default: 64)")
    evaluate.add_argument("--no-cache", action="store_true",
                          help="do not read or write the embedding cache (~/.cache/gtekit/embeddings)")
    evaluate.set_defaults(handler=_eval)

    convert = commands.add_parser("convert", help="convert an ONNX BERT export into a model folder",
                                  description="Read the weights of a BERT encoder exported to ONNX and write a "
                                              "sentence-transformers folder (needs `pip install onnx`).")
    convert.add_argument("onnx", help="the .onnx file")
    convert.add_argument("output", help="folder to write")
    convert.add_argument("--tokenizer-from", default="all-MiniLM-L6-v2",
                         help="model whose tokenizer the export uses (default: all-MiniLM-L6-v2, BERT uncased)")
    convert.add_argument("--pooling", default="mean", choices=["mean", "cls", "last"], help="pooling (default: mean)")
    convert.set_defaults(handler=_convert)

    quick = commands.add_parser(
        "quickstart", help="mine stdlib (docstring, code) pairs, train all-MiniLM-L6-v2, compare",
        description="Mine (docstring, code) pairs from the Python standard library (split by module), "
                    "train the bundled all-MiniLM-L6-v2 with the GTE loss on CPU, and print held-out code "
                    "search and STS-B before/after.")
    quick.add_argument("--output-dir", default="runs/quickstart", help="where data, checkpoints and model go")
    quick.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a value of the quickstart recipe, e.g. --set train.steps=20")
    quick.add_argument("--resume", action="store_true",
                       help="continue an interrupted quickstart run (without it, an earlier run there is replaced)")
    quick.set_defaults(handler=_quickstart)
    return parser


def _train(args) -> int:
    from ..config import load_recipe
    from ..training.trainer import Trainer

    recipe = load_recipe(args.recipe, args.overrides)
    if args.dry_run:
        return _dry_run(args, recipe)
    if args.output_dir:
        raise ValueError("--output-dir goes with --dry-run; to train elsewhere, --set train.output_dir=DIR")
    result = Trainer(recipe).train(resume=args.resume, overwrite=args.overwrite)
    print(f"trained {result.steps} steps; model saved to {result.model_dir}")
    return 0


def _dry_run(args, recipe) -> int:
    from ..training.run_folder import RunFolderError, run_marks
    from ..training.trainer import Trainer
    from .dry_run import default_output_dir, prepare_dry_run

    if args.resume:
        raise ValueError("--dry-run always starts from step 0; leave out --resume")
    output_dir = Path(args.output_dir) if args.output_dir else default_output_dir(args.recipe)
    if not args.overwrite and run_marks(output_dir):  # a dry run has no --resume: name what it does take
        raise RunFolderError(f"{output_dir} already holds a training run; a dry run always starts from step 0: "
                             "pass --overwrite to replace it, or leave out --output-dir for a new temporary folder")
    shrunk, lines = prepare_dry_run(recipe, output_dir)
    main_process = os.environ.get("RANK", "0") == "0"  # torchrun starts one copy of this per GPU: print once
    if main_process:
        print(f"dry run of {args.recipe}: the recipe at toy scale, {shrunk.train.steps} steps, into {output_dir}")
        print("\n".join(f"  {line}" for line in lines))
    result = Trainer(shrunk).train(overwrite=args.overwrite)
    if main_process:
        print(f"dry run passed: {result.steps} steps; checkpoints in {output_dir / 'checkpoints'}, "
              f"model in {result.model_dir}")
    return 0


def _eval(args) -> int:
    from ..evaluation.results_report import format_table, plot_results, write_json
    from ..evaluation.runner import evaluate_tasks
    from ..evaluation.task_files import beir_task, load_task_file
    from ..evaluation.tasks import get_suite, get_tasks
    from ..io.atomic import atomic_path
    from ..model.embedder import Embedder

    tasks = get_tasks([name.strip() for name in args.tasks.split(",") if name.strip()]) if args.tasks else []
    if args.suite:
        tasks += get_suite(args.suite)
    tasks += [beir_task(Path(folder), args.beir_split) for folder in args.beir]
    tasks += [load_task_file(Path(file)) for file in args.task_file]
    if not tasks:
        raise ValueError("nothing to evaluate: give --tasks, --suite, --beir or --task-file")
    all_results = []
    for name in args.models:
        model = Embedder.load(name)
        all_results.append({"model": name, "tasks": evaluate_tasks(model, tasks, use_cache=not args.no_cache,
                                                                   batch_size=args.batch_size)})
    table = format_table(all_results)
    print(table)
    if args.markdown:
        with atomic_path(Path(args.markdown)) as tmp:
            tmp.write_text(table + "\n")
    if args.plot:
        plot_results(all_results, Path(args.plot))
    if args.output:
        write_json(Path(args.output), all_results[0] if len(all_results) == 1 else all_results)
    return 0


def _convert(args) -> int:
    from ..model.onnx_import import convert_onnx

    folder = convert_onnx(Path(args.onnx), Path(args.output), tokenizer_from=args.tokenizer_from, pooling=args.pooling)
    print(f"wrote {folder}")
    return 0


def _quickstart(args) -> int:
    from .quickstart import run_quickstart

    run_quickstart(Path(args.output_dir), overrides=args.overrides, resume=args.resume)
    return 0


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
