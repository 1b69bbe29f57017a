"""Results JSON and Markdown tables. No model knowledge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..atomic import atomic_path


def write_json(path: Path, results: Any) -> None:
    """Write results atomically (temporary file, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(results, indent=2) + "\n")


def format_table(results: list[dict]) -> str:
    """A Markdown table: one row per task, one column per model, main scores × 100."""
    tasks = list(dict.fromkeys(task for result in results for task in result["tasks"]))
    header = "| task | " + " | ".join(result["model"] for result in results) + " |"
    lines = [header, "|---" * (len(results) + 1) + "|"]
    for task in tasks:
        cells = []
        for result in results:
            score = result["tasks"].get(task, {}).get("main_score")
            cells.append("" if score is None else f"{100 * score:.2f}")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
