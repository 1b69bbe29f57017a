"""The per-stage peak-memory sampler of benchmarks.quickstart_memory, on small child processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.quickstart_memory import MARKER, descendants, run_measured

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc")

# stage "a" holds 200 MiB, then its marker appears and stage "b" holds 40 MiB in a child process
TWO_STAGES = f"""
import subprocess, sys, time
from pathlib import Path
held = bytearray(200 * 2**20)
time.sleep(0.5)
del held
(Path(sys.argv[1]) / "a").mkdir()
(Path(sys.argv[1]) / "a" / "{MARKER}").write_text("{{}}")
child = subprocess.run([sys.executable, "-c", "import time; held = bytearray(40 * 2**20); time.sleep(0.5)"])
"""


def test_descendants_include_children_and_grandchildren():
    script = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import time; time.sleep(3)'])"
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        for _ in range(100):
            found = descendants(parent.pid)
            if len(found) >= 2:
                break
            time.sleep(0.05)
        assert found[0] == parent.pid and len(found) >= 2
    finally:
        parent.kill()
        parent.wait()


def test_each_stage_is_charged_its_own_peak(tmp_path):
    measured = run_measured([sys.executable, "-c", TWO_STAGES, str(tmp_path)], tmp_path, ["a", "b"], 0.02,
                            tmp_path / "log.txt")
    assert measured["rc"] == 0
    a, b = measured["stages"]["a"], measured["stages"]["b"]
    assert a["main_peak_mib"] >= 200 and a["peak_mib"] >= 200
    assert b["main_peak_mib"] < 200  # the main process's high-water mark did not rise during b
    assert 40 <= b["child_peak_mib"] < 200 and b["processes"] >= 2
    assert measured["ru_maxrss_mib"] >= 200 and measured["cpu_seconds"] >= 0
