"""Write-then-rename, so that a crash never leaves a half-written output file or folder.

Depends on nothing else in gtekit.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    Works for files and folders (an existing folder at ``path`` is replaced whole).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    _remove(tmp)
    try:
        yield tmp
        if tmp.is_dir() and path.exists():
            _remove(path)
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def remove_leftovers(folder: Path, names: tuple[str, ...]) -> list[Path]:
    """Delete the temporary copies (``.tmp-PID-NAME``) of ``names`` in ``folder`` that a killed write left
    (a SIGKILL skips :func:`atomic_path`'s clean-up); none is ever valid. Returns what was deleted."""
    leftovers = [path for name in names for path in Path(folder).glob(f".tmp-*-{name}")]
    for path in leftovers:
        _remove(path)
    return leftovers


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
