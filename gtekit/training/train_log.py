"""``train_log.jsonl``: one strict-JSON line per training step and per validation, kept through crashes.

Each line is flushed to the operating system as it is written, and ``TrainLog.sync`` (called before every
checkpoint) puts the lines on disk, so after a crash the log holds at least every step up to the newest
checkpoint. On resume, ``truncate_log`` keeps the lines of the steps up to the checkpoint resumed from and
drops the rest (those steps are trained again), so an interrupted and resumed run writes the same log as
an uninterrupted one, apart from its ``TIMING_FIELDS``. A value that is not a finite number (a NaN
validation score) is written as ``null``: every line is JSON that any parser reads.

Depends on ``gtekit.io.atomic`` only.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from types import TracebackType
from typing import Any

from ..io.atomic import atomic_path

LOG_FILE = "train_log.jsonl"
TIMING_FIELDS = ("pairs_per_s", "tokens_per_s")  # the fields that differ between two runs of the same recipe


def json_line(record: dict[str, Any]) -> str:
    """``record`` as one line of strict JSON, with NaN and ±Infinity written as ``null``."""
    return json.dumps(_finite(record), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


class TrainLog:
    """Appends lines to a training log: ``write`` flushes each line, ``sync`` puts them on disk."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())

    def write(self, record: dict[str, Any]) -> None:
        self._handle.write(json_line(record) + "\n")
        self._handle.flush()

    def sync(self) -> None:
        """Every line written so far is on disk (before a checkpoint that covers their steps)."""
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> TrainLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def read_log(path: Path) -> list[dict[str, Any]]:
    """The records of a training log, up to its first line that is not a complete JSON object (a line cut
    short by a crash)."""
    records = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    for line in text.splitlines(keepends=True):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            break
        if not line.endswith("\n") or not isinstance(record, dict):
            break
        records.append(record)
    return records


def truncate_log(path: Path, last_step: int) -> int:
    """Keep the lines of steps up to ``last_step`` (a checkpoint's step), drop the later ones and any line cut
    short; the file is rewritten atomically, and only when something is dropped. Returns the lines dropped."""
    path = Path(path)
    if not path.is_file():
        return 0
    total = len(path.read_text(encoding="utf-8").splitlines())
    kept = []
    for record in read_log(path):
        if not isinstance(record.get("step"), int) or record["step"] > last_step:
            break
        kept.append(record)
    if len(kept) == total:
        return 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.writelines(json_line(record) + "\n" for record in kept)
        handle.flush()
        os.fsync(handle.fileno())
    return total - len(kept)
