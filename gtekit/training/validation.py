"""Validation during training: run a small task suite every N steps, keep the best model.

The score that decides "best" is the mean main score over the recipe's ``eval`` tasks, named tasks scored on
their dev split (``gtekit.evaluation.tasks.offline_suite``): the test split stays for the published result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ..config import EvalConfig

logger = logging.getLogger(__name__)


class Validation:
    def __init__(self, config: EvalConfig, output_dir: Path) -> None:
        self.config = config
        self.best_dir = output_dir / "best_model"
        self.best_score: float | None = None
        self.best_step: int | None = None
        self._tasks = None
        if config.every and not (config.tasks or config.task_files):
            raise ValueError("eval.every is set but eval.tasks and eval.task_files are empty")

    def due(self, step: int) -> bool:
        return bool(self.config.every) and step % self.config.every == 0

    def tasks(self) -> list:
        if self._tasks is None:
            from ..evaluation.tasks.named_tasks import get_tasks
            from ..evaluation.tasks.task_files import load_task_file

            # named tasks on their dev split: choosing the best model must not read the test split it is judged on
            files = [load_task_file(Path(f)) for f in self.config.task_files]
            self._tasks = get_tasks(self.config.tasks, "dev") + files
        return self._tasks

    def run(self, model, step: int, save_model: Callable[[Path], Path]) -> dict:
        """Score ``model``; save it as ``best_model`` when the mean main score improves. Returns a log record."""
        from ..evaluation.runner import evaluate_tasks

        results = evaluate_tasks(model, self.tasks(), use_cache=False, batch_size=self.config.batch_size)
        scores = {name: round(result["main_score"], 6) for name, result in results.items()}
        mean = sum(scores.values()) / len(scores)
        improved = self.best_score is None or mean > self.best_score
        if improved:
            self.best_score, self.best_step = mean, step
            save_model(self.best_dir)
        message = "  ".join(f"{name} {100 * score:.2f}" for name, score in scores.items())
        logger.warning("validation at step %d: %s  (mean %.2f%s)", step, message, 100 * mean,
                       ", best so far: saved to " + str(self.best_dir) if improved else "")
        return {"step": step, "validation": scores, "validation_mean": round(mean, 6), "best_step": self.best_step}

    def state_dict(self) -> dict:
        return {"best_score": self.best_score, "best_step": self.best_step}

    def load_state_dict(self, state: dict) -> None:
        self.best_score = state.get("best_score")
        self.best_step = state.get("best_step")
