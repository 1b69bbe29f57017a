"""Choose the WiSE-FT weight λ on dev splits: merge the trained model with its start at each candidate λ
(``gtekit.model.weight_merge``), score every candidate on the dev split of the tasks, keep the best.

A merge stage of ``gtekit run`` calls :func:`select_merge_weight`. It writes into ``output_dir``:

    model/            the merged model at the chosen λ (what ``{from: STAGE}`` gives)
    selection.json    each candidate's dev scores per task and on average, the chosen λ, the split

Only the dev split is read (``EvalSettings.split``), never test: published tables stay unbiased. The
candidate with the highest dev average (unweighted over tasks) wins; a tie goes to the smaller λ, the
one closer to the start. Candidates other than the chosen one are deleted.

Depends on ``gtekit.model.weight_merge`` and this package's runner and tasks.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from ..config import ConfigError
from ..io.atomic import atomic_path
from ..model.embedder import Embedder
from ..model.weight_merge import MergeSettings, merge_models
from .runner import evaluate_tasks
from .settings import MergeSelectionSettings
from .tasks.named_tasks import get_suite, get_tasks


def select_merge_weight(settings: MergeSelectionSettings, echo: Callable[[str], None] | None = None) -> dict:
    """Merge at each λ, score on dev, keep the best as ``output_dir/model``; return the selection record."""
    if not settings.output_dir:
        raise ConfigError("output_dir is required")
    output = Path(settings.output_dir)
    tasks = get_tasks(settings.tasks, "dev") + (get_suite(settings.suite, "dev") if settings.suite else [])
    candidates = output / "candidates"
    scores: dict[str, dict] = {}
    for weight in sorted(set(settings.weights)):
        folder = candidates / f"weight-{weight:g}"
        merge_models(MergeSettings(settings.start, settings.trained, weight, str(folder), overwrite=True))
        results = evaluate_tasks(Embedder.load(folder), tasks, use_cache=settings.use_cache,
                                 batch_size=settings.batch_size)
        per_task = {name: result["main_score"] for name, result in results.items()}
        scores[f"{weight:g}"] = {"weight": weight, "average": sum(per_task.values()) / len(per_task),
                                 "tasks": per_task}
        if echo is not None:
            echo(f"λ = {weight:g}: dev average {100 * scores[f'{weight:g}']['average']:.2f}")
    best = max(scores.values(), key=lambda entry: (entry["average"], -entry["weight"]))
    chosen = candidates / f"weight-{best['weight']:g}"
    with atomic_path(output / "model") as tmp:
        shutil.copytree(chosen, tmp)
    shutil.rmtree(candidates)
    record = {"chosen_weight": best["weight"], "split": "dev", "candidates": list(scores.values()),
              "settings": asdict(settings)}
    with atomic_path(output / "selection.json") as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record
