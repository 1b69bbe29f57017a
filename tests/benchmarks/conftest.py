"""The benchmarks package lives beside gtekit at the repository root: make it importable under any pytest runner."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
