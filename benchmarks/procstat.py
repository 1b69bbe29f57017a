"""A process's memory as Linux reports it in /proc/PID (this one by default): the resident set and its
high-water mark.

``ru_maxrss`` of a child starts at its parent's peak, so the benchmarks read ``VmHWM`` and reset it
just before the phase they measure. Depends on the standard library only.
"""

from __future__ import annotations

from pathlib import Path


def status_kib(field: str, pid: int | str = "self") -> int | None:
    """A ``/proc/PID/status`` field in KiB (``VmRSS``, ``VmHWM``) of this process or of ``pid``; None where
    there is no /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def status_mib(field: str, pid: int | str = "self") -> float | None:
    """The same field in MiB, rounded to 0.1."""
    kib = status_kib(field, pid)
    return None if kib is None else round(kib / 1024, 1)


def reset_peak() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0); False where that is not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False
