"""TensorBoard event files of a run (``OUTPUT_DIR/tensorboard/``): the scalars of ``train_log.jsonl``.

Each record the trainer writes to ``train_log.jsonl`` is also written here, as scalars at its step:

- a step: ``train/loss``, ``train/lr``, ``train/pairs_per_s``, ``train/tokens_per_s`` and ``loss/<source>``
  (the step's loss under the name of the source its batch came from);
- a validation: ``validation/<task>`` for every task scored and ``validation/mean``.

``tensorboard`` is optional (``pip install 'gtekit[tensorboard]'``): without it, one message says so and
training goes on without event files. A writer opened on resume from step S purges the events of steps
after S that an earlier process wrote (TensorBoard hides them), as ``train_log.truncate_log`` drops their
lines: those steps are trained again, and each step appears once.

Depends on ``torch.utils.tensorboard`` (when installed) and nothing else of gtekit.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType
from typing import Any

logger = logging.getLogger(__name__)

STEP_SCALARS = {"loss": "train/loss", "lr": "train/lr", "pairs_per_s": "train/pairs_per_s",
                "tokens_per_s": "train/tokens_per_s"}  # train_log.jsonl field -> TensorBoard tag
MISSING_MESSAGE = ("tensorboard is not installed: no TensorBoard event files for this run (curves.png and "
                   "train_log.jsonl are still written); pip install 'gtekit[tensorboard]' to get them")
_missing_reported = False  # the message above is logged once per process


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """The TensorBoard scalars of one ``train_log.jsonl`` record (see the module docstring); a value that is
    not a number (a NaN validation score, logged as null) is left out."""
    values: dict[str, Any] = {}
    if "validation" in record:
        values.update({f"validation/{task}": score for task, score in record["validation"].items()})
        values["validation/mean"] = record.get("validation_mean")
    else:
        values.update({tag: record.get(field) for field, tag in STEP_SCALARS.items()})
        if "source" in record:
            values[f"loss/{record['source']}"] = record.get("loss")
    return {tag: float(value) for tag, value in values.items()
            if isinstance(value, int | float) and not isinstance(value, bool)}


def summary_writer_class() -> type | None:
    """``torch.utils.tensorboard.SummaryWriter``, or None (after logging ``MISSING_MESSAGE`` once) when
    tensorboard is not installed."""
    global _missing_reported
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        if not _missing_reported:
            logger.warning(MISSING_MESSAGE)
            _missing_reported = True
        return None
    return SummaryWriter


class TensorBoardLog:
    """Writes the scalars of log records to event files under ``log_dir``; does nothing without tensorboard.

    ``first_step``: the first step this writer logs (the step resumed from + 1); events of that step and
    later ones already in ``log_dir`` are purged."""

    def __init__(self, log_dir: Path, first_step: int = 1) -> None:
        writer_class = summary_writer_class()
        self._writer = None
        if writer_class is not None:
            # purge_step: TensorBoard drops earlier files' events from this step on (steps trained again)
            self._writer = writer_class(log_dir=str(log_dir), purge_step=first_step)

    @property
    def enabled(self) -> bool:
        return self._writer is not None

    def write(self, record: dict[str, Any]) -> None:
        if self._writer is None or not isinstance(record.get("step"), int):
            return
        for tag, value in scalars(record).items():
            self._writer.add_scalar(tag, value, global_step=record["step"])

    def flush(self) -> None:
        """Every scalar written so far is in the event file (before a checkpoint that covers their steps)."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> TensorBoardLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
