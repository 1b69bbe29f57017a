"""`gtekit eval`: evaluate models on named tasks, a suite, BEIR folders or task files; the options become an
``EvalSettings`` for ``gtekit.evaluation.comparison.evaluate_models``."""

from __future__ import annotations

import argparse


def add_parser(subcommands) -> argparse.ArgumentParser:
    evaluate = subcommands.add_parser("eval", help="evaluate models on named tasks",
                                      description="Evaluate one or more models; scores are on mteb's 0-1 scale. "
                                                  "With several models, each one's change to the first is shown "
                                                  "with a paired bootstrap 95%% interval (* when it excludes 0).")
    evaluate.add_argument("models", nargs="+", help="model folders, 'all-MiniLM-L6-v2' or hub names")
    evaluate.add_argument("--tasks", default=None,
                          help="comma-separated task names (e.g. STSBenchmark,PythonStdlibCodeSearch)")
    evaluate.add_argument("--suite", default=None, help="a named suite of tasks: offline")
    evaluate.add_argument("--split", choices=("test", "dev"), default="test",
                          help="split of named tasks and suites: test (default; for published results) or dev "
                               "(disjoint from test, by document, problem or module; for choosing settings)")
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
    evaluate.add_argument("--dims", type=dimensions, default=[], metavar="M,M,...",
                          help="score each model's embeddings truncated to these sizes and re-normalised "
                               "(Matryoshka prefixes, e.g. 64,128), each as its own model NAME@M (default: the "
                               "full embeddings); the sizes share one encoding through the embedding cache "
                               "(with --no-cache, each size encodes again)")
    evaluate.add_argument("--resamples", type=int, default=1000,
                          help="paired bootstrap resamples of each task's queries, pairs or items for the changes "
                               "to the first model (default: 1000; 0: no intervals)")
    evaluate.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the resamples (default: 0)")
    evaluate.add_argument("--no-cache", action="store_true",
                          help="do not read or write the embedding cache (~/.cache/gtekit/embeddings)")
    evaluate.set_defaults(handler=run)
    return evaluate


def dimensions(text: str) -> list[int]:
    """``--dims 64,128`` -> [64, 128]; anything but distinct whole numbers >= 1 is refused."""
    try:
        dims = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated whole numbers, e.g. 64,128") from None
    if not dims or min(dims) < 1 or len(set(dims)) != len(dims):
        raise argparse.ArgumentTypeError(f"{text!r}: give distinct sizes >= 1, e.g. 64,128")
    return dims


def run(args) -> int:
    from ..evaluation.comparison import evaluate_models
    from ..evaluation.settings import EvalModel, EvalSettings, ResultsLayout

    tasks = [name.strip() for name in args.tasks.split(",") if name.strip()] if args.tasks else []
    settings = EvalSettings(models=[EvalModel(model=name) for name in args.models], tasks=tasks, suite=args.suite,
                            split=args.split,
                            task_files=args.task_file, beir=args.beir, beir_split=args.beir_split,
                            batch_size=args.batch_size, use_cache=not args.no_cache, dims=args.dims,
                            results_json=args.output,
                            results_layout=ResultsLayout.OBJECT_FOR_ONE, markdown=args.markdown, plot=args.plot,
                            resamples=args.resamples, bootstrap_seed=args.bootstrap_seed)
    evaluate_models(settings, echo=print)
    return 0
