"""``gtekit quickstart``: the whole loop on the embedded default, on CPU, in minutes.

1. mine (docstring, code) pairs from the Python standard library with ``ast``, split by
   top-level module into train and held-out;
2. score the bundled all-MiniLM-L6-v2 on held-out code search and STS-B test;
3. train it with GTE's improved contrastive loss on the train split;
4. score it again, print the before/after table and save the model.

The library is imported when the command runs, so that building the command line stays fast.
"""

from __future__ import annotations

import argparse
import json
import time
from importlib import resources
from pathlib import Path

SOURCE_NAME = "python-stdlib-code"


def add_parser(subcommands) -> argparse.ArgumentParser:
    quick = subcommands.add_parser(
        "quickstart", help="mine stdlib (docstring, code) pairs, train all-MiniLM-L6-v2, compare",
        description="Mine (docstring, code) pairs from the Python standard library (split by module), "
                    "train the bundled all-MiniLM-L6-v2 with the GTE loss on CPU, and print held-out code "
                    "search and STS-B before/after.")
    quick.add_argument("--output-dir", default="runs/quickstart", help="where data, checkpoints and model go")
    quick.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a value of the quickstart recipe, e.g. --set train.steps=20")
    quick.add_argument("--resume", action="store_true",
                       help="continue an interrupted quickstart run (without it, an earlier run there is replaced)")
    quick.set_defaults(handler=run)
    return quick


def run(args) -> int:
    run_quickstart(Path(args.output_dir), overrides=args.overrides, resume=args.resume)
    return 0


def quickstart_recipe_path() -> Path:
    return Path(str(resources.files("gtekit") / "recipes" / "stdlib-code-quickstart.yaml"))


def run_quickstart(output_dir: Path, overrides: list[str] = (), resume: bool = False) -> dict:
    """Run the quickstart and return ``{"before": {...}, "after": {...}, "change": {...}, "seconds": ...}``."""
    from ..config import load_recipe
    from ..data.extract.python_code import mine_python_pairs, split_by_module, stdlib_root, to_training_rows
    from ..evaluation.guard import text_hash
    from ..evaluation.results_report import write_json
    from ..evaluation.tasks.code_search import evaluate_code_search
    from ..evaluation.tasks.sts import evaluate_sts, load_stsb
    from ..model.embedder import Embedder
    from ..training.trainer import build_model, train

    began = time.perf_counter()
    data_dir = output_dir / "data"
    print("mining (docstring, code) pairs from the Python standard library ...")
    pairs, report = mine_python_pairs(stdlib_root())
    train_pairs, held_out = split_by_module(pairs)
    evaluated = {text_hash(text) for pair in held_out for text in (pair.docstring, pair.code)}
    kept = [p for p in train_pairs if text_hash(p.docstring) not in evaluated and text_hash(p.code) not in evaluated]
    repeated, train_pairs = len(train_pairs) - len(kept), kept
    train_file = data_dir / f"{SOURCE_NAME}.jsonl"
    _write_jsonl(train_file, to_training_rows(train_pairs))
    print(f"  {len(pairs)} pairs from {report.files_seen} files: {len(train_pairs)} train, "
          f"{len(held_out)} held out (modules never trained on); {repeated} train pairs dropped because their "
          "docstring or code also appears in a held-out module")

    recipe = load_recipe(quickstart_recipe_path(), [
        f"data.sources=[{json.dumps(str(train_file))}]", f"train.output_dir={json.dumps(str(output_dir))}",
        *overrides])
    sts = load_stsb("test")
    queries, codes = [p.docstring for p in held_out], [p.code for p in held_out]

    def score(model: Embedder) -> dict:
        search = evaluate_code_search(model, queries, codes)
        return {"code_search_mrr_at_10": search["mrr_at_10"], "code_search_ndcg_at_10": search["ndcg_at_10"],
                "stsb_spearman": evaluate_sts(model, sts)["main_score"]}

    base_file = output_dir / "base_scores.json"
    if resume and base_file.is_file():
        before = json.loads(base_file.read_text())
    else:
        print(f"scoring the base model {recipe.model.name} ...")
        before = score(build_model(recipe))
        write_json(base_file, before)

    print(f"training {recipe.train.steps} steps of {recipe.train.batch_size} pairs "
          f"({recipe.loss.name} loss, τ={recipe.loss.temperature}) ...")
    result = train(recipe, resume=resume, overwrite=not resume)  # without --resume: a new run
    trained = Embedder.load(result.model_dir)
    print("scoring the trained model ...")
    after = score(trained)
    results = {"base_model": recipe.model.name, "trained_model": str(result.model_dir),
               "held_out_pairs": len(held_out), "before": before, "after": after,
               "change": {name: after[name] - before[name] for name in before},
               "seconds": round(time.perf_counter() - began)}
    write_json(output_dir / "quickstart_results.json", results)
    print()
    print(format_before_after(before, after))
    print(f"\ntrained model: {result.model_dir}   results: {output_dir / 'quickstart_results.json'}")
    return results


def format_before_after(before: dict, after: dict) -> str:
    labels = {"code_search_mrr_at_10": "held-out code search MRR@10",
              "code_search_ndcg_at_10": "held-out code search nDCG@10",
              "stsb_spearman": "STS-B test Spearman"}
    lines = ["| metric | base | trained | change |", "|---|---:|---:|---:|"]
    for key, label in labels.items():
        lines.append(f"| {label} | {100 * before[key]:.2f} | {100 * after[key]:.2f} | "
                     f"{100 * (after[key] - before[key]):+.2f} |")
    return "\n".join(lines)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    from ..io.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
