"""Memory given back between stages: reference cycles collected, the C heap trimmed."""

from __future__ import annotations

import weakref

from gtekit.pipeline.memory import release_memory


class _Node:
    pass


def test_release_memory_frees_what_only_a_reference_cycle_holds():
    node = _Node()
    node.self = node  # a cycle, as a Trainer and its batch loader make
    alive = weakref.ref(node)
    del node
    release_memory()
    assert alive() is None
