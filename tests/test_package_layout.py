"""The package's shape: import contracts (lint-imports), private names, module sizes, unique names, mirrored tests.

The contracts themselves live in ``[tool.importlinter]`` of pyproject.toml; these tests check that
``lint-imports`` passes on the package and fails on a copy of it with a new cycle or an upward import.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gtekit"
MAX_MODULE_LINES = 400
# one settings dataclass per stage, each in its stage's package; cli/ modules are named after their commands
SHARED_FILE_NAMES = {"__init__.py", "__main__.py", "settings.py"}


def modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the gtekit package under ``root`` with the contracts of ``root/pyproject.toml``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A copy of the package and its contracts, to break on purpose."""
    shutil.copytree(PACKAGE, tmp_path / "gtekit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_lint_imports_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout, result.stdout


def test_lint_imports_fails_on_a_new_import_cycle(package_copy: Path):
    assert lint_imports(package_copy).returncode == 0
    io = package_copy / "gtekit" / "io"
    (io / "cycle_one.py").write_text("from . import cycle_two\n")
    (io / "cycle_two.py").write_text("from . import cycle_one\n")
    result = lint_imports(package_copy)
    assert result.returncode == 1, result.stdout
    assert "No cycles are allowed in gtekit.io." in result.stdout, result.stdout


def test_lint_imports_fails_on_an_upward_import(package_copy: Path):
    atomic = package_copy / "gtekit" / "io" / "atomic.py"
    atomic.write_text(atomic.read_text() + "\n\ndef _upward():\n    from ..cli.main import main\n\n    return main\n")
    result = lint_imports(package_copy)
    assert result.returncode == 1, result.stdout
    assert "gtekit.io is not allowed to import gtekit.cli" in result.stdout, result.stdout


def test_no_module_imports_another_modules_private_name():
    found = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("gtekit")):
                found += [f"{path.relative_to(ROOT)}:{node.lineno} {alias.name}" for alias in node.names
                          if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert not found, found


def test_no_module_is_over_400_lines():
    sizes = {str(path.relative_to(ROOT)): len(path.read_text().splitlines()) for path in modules()}
    assert not {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES}


def test_a_file_name_means_one_thing():
    by_name: dict[str, list[str]] = {}
    for path in modules():
        if path.name not in SHARED_FILE_NAMES and path.parent.name != "cli":
            by_name.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert not {name: paths for name, paths in by_name.items() if len(paths) > 1}


def test_tests_mirror_the_package():
    packages = {path.parent.relative_to(PACKAGE) for path in PACKAGE.rglob("__init__.py")} - {Path(".")}
    missing = sorted(str(package) for package in packages if not (ROOT / "tests" / package).is_dir())
    assert not missing, f"no tests/ folder for gtekit/{missing}"


def test_the_training_step_fits_on_one_screen():
    """``training/step.py``'s ``train_step``: batch → embed → blocked loss and backward → clip → step, ≤ 40 lines."""
    tree = ast.parse((PACKAGE / "training" / "step.py").read_text())
    (step,) = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "train_step"]
    assert step.end_lineno - step.lineno + 1 <= 40
