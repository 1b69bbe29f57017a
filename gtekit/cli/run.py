"""`gtekit run`: the stages of a pipeline file (``gtekit.pipeline``), in order, resuming where it stopped."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Run a pipeline: one YAML file (a pipeline file) that declares stages in order, each a data stage (`gtekit
data build` of a mixture YAML), a train stage (a training recipe: model, data, loss, train, eval), a
mine stage (`gtekit mine` settings: model, pairs, corpus, selection rules), an eval stage (models
to compare on tasks, a suite or task files; split: test or dev; with several models, each one's change
to the first with a paired bootstrap interval) or a merge stage (start, trained, weights, tasks: the
WiSE-FT interpolation of trained with start whose weight scores best on the tasks' dev split). A stage
reads an earlier stage's output by reference: {from: pretrain} is that train (or merge) stage's model
folder, {from: mine} that mine stage's triples.jsonl,
{from: corpus} that data stage's built mixture folder (as training sources or pairs to mine). Each
stage writes to OUTPUT_DIR/<stage>/ and, last, a completion marker .gtekit-stage-done.json holding
its resolved config's hash.

A run skips finished stages and starts at the first unfinished one; an interrupted train stage
resumes from its latest checkpoint. A finished stage whose config changed (or whose inputs were
rerun since) is refused: rerun it and the stages after it with --rerun-from STAGE.

pipeline file layout (recipes/quickstart.yaml and recipes/multistage-example.yaml are complete ones):
  output_dir: runs/multistage
  stages:
    - {name: corpus, kind: data, mixture: data/offline-mix.yaml}
    - {name: pretrain, kind: train, model: {name: all-MiniLM-L6-v2}, data: {sources: [{from: corpus}]}}
    - {name: mine, kind: mine, model: {from: pretrain}, pairs: [finetune.jsonl], num_negatives: 7}
    - {name: finetune, kind: train, model: {from: pretrain},
       data: {sources: [{from: mine}], negatives_per_query: 7}}
    - {name: merge, kind: merge, start: all-MiniLM-L6-v2, trained: {from: finetune},
       weights: [0.0, 0.5, 1.0], tasks: [STSBenchmark]}
    - {name: compare, kind: eval, tasks: [STSBenchmark],
       models: [{label: base, model: all-MiniLM-L6-v2}, {label: PT+FT, model: {from: finetune}},
                {label: merged, model: {from: merge}}]}

examples:
  gtekit run recipes/quickstart.yaml                        offline data -> PT -> mine -> FT -> compare (~30 min)
  gtekit run recipes/multistage-example.yaml --dry-run      the plan: stages, inputs, outputs, what is done
  gtekit run recipes/multistage-example.yaml
  gtekit run recipes/multistage-example.yaml --set pretrain.train.steps=500 --set mine.top_k=100
  gtekit run recipes/multistage-example.yaml --only compare
  gtekit run recipes/multistage-example.yaml --rerun-from finetune
"""


def add_parser(subcommands) -> argparse.ArgumentParser:
    parser = subcommands.add_parser("run", help="run a pipeline file: stages such as pre-train, mine, fine-tune, eval",
                                    description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline_file", metavar="PIPELINE",
                        help="pipeline YAML file (top-level output_dir and stages)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="STAGE.KEY=VALUE",
                        help="override a stage's value, e.g. --set pretrain.train.lr=1e-4 or --set mine.top_k=100; "
                             "--set output_dir=DIR moves every stage (repeatable)")
    parser.add_argument("--only", metavar="STAGE",
                        help="run this stage alone; the stages it reads must be finished")
    parser.add_argument("--rerun-from", metavar="STAGE",
                        help="run this stage and every stage after it again from scratch (their markers and "
                             "training checkpoints are removed), even if finished; with --only STAGE, that stage "
                             "alone (the stages reading it are then stale)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the resolved plan (each stage's status, inputs and outputs) and run nothing")
    parser.set_defaults(handler=run)
    return parser


def run(args) -> int:
    from ..pipeline import format_plan, load_pipeline, plan_run, run_pipeline

    pipeline = load_pipeline(args.pipeline_file, args.overrides)
    if args.dry_run:
        print(format_plan(pipeline, plan_run(pipeline, only=args.only, rerun_from=args.rerun_from)))
        return 0
    run_pipeline(pipeline, only=args.only, rerun_from=args.rerun_from)
    finished = f"stage {args.only}" if args.only else "every stage"
    print(f"{finished} finished; outputs under {pipeline.output_dir}")
    return 0
