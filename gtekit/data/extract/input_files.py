"""The input files of a miner: files, folders (walked recursively) and zip archives, in a fixed order.

Every miner reads its inputs through :func:`iter_input_files`, so they all name documents the same
way: a file's ``name`` is its path relative to the input it was found under (a file given directly
is named by its file name; a zip member is ``archive.zip/member``), with ``/`` separators. Folders
and archive members are visited in sorted order, so mining is deterministic. Nothing is dropped
without a count: hidden files and folders, skipped folders (``node_modules`` by default) and
archives inside archives are counted in the report, and :func:`read_text` reports every file that
is not UTF-8 with its path.

Depends on the standard library and ``base`` only.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .base import MineReport

DEFAULT_SKIP_DIRS = ("node_modules", "__pycache__")


@dataclass(frozen=True)
class InputFile:
    """One file to mine: its name (the doc_id base), where it is (for messages) and its bytes."""

    name: str  # relative to the input root, e.g. "docs/index.md" or "NewsArticles.zip/NewsArticles.csv"
    location: str  # the real path, e.g. "/data/NewsArticles.zip:NewsArticles.csv"
    read_bytes: Callable[[], bytes]

    @property
    def suffix(self) -> str:
        """The lower-cased extension with its dot (``.md``), or ``""``."""
        base = self.name.rsplit("/", 1)[-1]
        return "." + base.rsplit(".", 1)[-1].lower() if "." in base.lstrip(".") else ""

    @property
    def basename(self) -> str:
        return self.name.rsplit("/", 1)[-1]


def iter_input_files(paths: Sequence[str | Path], report: MineReport, *,
                     skip_dirs: Sequence[str] = DEFAULT_SKIP_DIRS) -> Iterator[InputFile]:
    """Yield every file under ``paths`` (files, folders, ``.zip`` archives), each input in sorted order.

    A zip archive is opened wherever it is found and read while the walk is in it (a member read
    later reopens it). Raises ``FileNotFoundError`` for an input that does not exist.
    """
    if isinstance(paths, str | Path):
        raise TypeError("iter_input_files takes a list of paths; wrap a single path in a list")
    for entry in paths:
        root = Path(entry)
        if root.is_dir():
            yield from _walk(root, report, skip_dirs)
        elif root.is_file():
            yield from _file_or_archive(root, root.name, report)
        else:
            raise FileNotFoundError(f"no such file or folder: {entry}")


def _walk(root: Path, report: MineReport, skip_dirs: Sequence[str]) -> Iterator[InputFile]:
    found: list[tuple[tuple[str, ...], Path]] = []
    for folder, dirs, files in os.walk(root):
        kept = []
        for name in dirs:
            if name.startswith("."):
                report.skip("hidden folder")
            elif name in skip_dirs:
                report.skip(f"folder skipped ({name})")
            else:
                kept.append(name)
        dirs[:] = kept
        relative = Path(folder).relative_to(root).parts
        for name in files:
            if name.startswith("."):
                report.skip("hidden file")
            else:
                found.append(((*relative, name), Path(folder) / name))
    for parts, path in sorted(found):
        yield from _file_or_archive(path, "/".join(parts), report)


def _file_or_archive(path: Path, name: str, report: MineReport) -> Iterator[InputFile]:
    if path.suffix.lower() != ".zip":
        yield InputFile(name, str(path), path.read_bytes)
        return
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        report.fail(str(path), "unreadable zip archive", str(error))
        return
    with archive:
        for member in sorted(archive.namelist()):
            if member.endswith("/"):
                continue  # a folder entry, not a file
            base = member.rsplit("/", 1)[-1]
            if base.startswith(".") or member.startswith("__MACOSX/"):
                report.skip("hidden file")
            elif base.lower().endswith(".zip"):
                report.skip("zip archive inside a zip archive")
            else:
                yield InputFile(f"{name}/{member}", f"{path}:{member}", _member_reader(archive, path, member))


def _member_reader(archive: zipfile.ZipFile, path: Path, member: str) -> Callable[[], bytes]:
    """Read ``member`` from the open archive, or reopen it once the walk has moved on and closed it."""

    def read() -> bytes:
        if archive.fp is not None:
            return archive.read(member)
        with zipfile.ZipFile(path) as reopened:
            return reopened.read(member)

    return read


def read_text(file: InputFile, report: MineReport, *,
              sniff: Callable[[bytes], str | None] | None = None) -> str | None:
    """The file's text (UTF-8, a leading BOM dropped, line breaks made ``\\n``), or None when it cannot
    be read or decoded; the failure is reported with the file's location.

    ``sniff`` may name another encoding for bytes that are not UTF-8 (an HTML ``<meta charset>``).
    """
    try:
        data = file.read_bytes()
    except (OSError, zipfile.BadZipFile) as error:
        report.fail(file.location, "unreadable file", str(error))
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        encoding = sniff(data) if sniff else None
        if encoding:
            try:
                return data.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")
            except (UnicodeDecodeError, LookupError):
                pass
        report.fail(file.location, "not UTF-8", f"byte 0x{data[error.start]:02x} at offset {error.start}")
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")
