"""Giving memory back to the system between the stages of one process.

``run_pipeline`` runs every stage in the same process, so what a stage leaves behind stays resident
under the next one, and under the DataLoader workers a later train stage forks: objects held in
reference cycles (a ``Trainer`` and its batch loader) until the cyclic collector runs, and the free
blocks of glibc's heap, where every allocation below its mmap threshold (which grows to 32 MiB: most
activation tensors) goes and stays mapped for reuse. :func:`release_memory` collects the cycles, then
returns the heap's free pages to the system (``malloc_trim``; nothing where the C library has none).

Depends on the standard library only.
"""

from __future__ import annotations

import ctypes
import functools
import gc


def release_memory() -> None:
    """Free what is only held by reference cycles, then unmap the free pages of the C heap."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim(pad)``, or None (another C library, or none loaded)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim
