"""The manifest.json of a gtekit folder format (encoded shards, search indexes): read with errors that name the file.

Depends on nothing else in gtekit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


def read_folder_manifest(folder: str | Path, *, format_name: str, version: int, required: Iterable[str],
                         error: type[Exception], what: str, written_by: str) -> dict[str, Any]:
    """The JSON object in ``folder/manifest.json``, checked for ``format_name``, ``version`` and ``required`` keys.

    Raises FileNotFoundError when ``folder`` does not exist, otherwise ``error`` naming the file and the
    fault, e.g. ``"DIR: not <what> (no manifest.json; <written_by> writes one)"``.
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{folder}: not {what} (no {MANIFEST}; {written_by} writes one)") from None
    except json.JSONDecodeError as bad:
        raise error(f"{path}: invalid JSON ({bad.msg} at line {bad.lineno})") from None
    if not isinstance(data, dict) or data.get("format") != format_name:
        found = data.get("format") if isinstance(data, dict) else None
        raise error(f"{path}: not {what} (\"format\" is {found!r}, expected {format_name!r})")
    if data.get("version") != version:
        raise error(f"{path}: format version {data.get('version')!r}; this gtekit reads version {version}")
    for key in required:
        if key not in data:
            raise error(f"{path}: missing key {key!r}")
    return data
