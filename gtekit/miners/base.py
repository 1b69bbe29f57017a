"""What every miner yields: a pair, the document it comes from, and a count of what was skipped.

``doc_id`` names the document (article, module, dictionary entry, dialogue, ...) a pair comes from:
held-out splits and de-duplication group pairs by it, never by row, so near-duplicates from one
document never land on both sides of a split. Depends on the standard library only.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class MinedPair:
    """One weakly supervised (query, positive) pair (GTE Table 2), with the document it comes from."""

    query: str
    positive: str
    doc_id: str


@dataclass
class MineReport:
    """What a miner read and kept; ``skipped`` counts rows or documents left out, by reason."""

    documents: int = 0
    pairs: int = 0
    skipped: Counter = field(default_factory=Counter)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] += count


def held_out(doc_id: str, fraction: float) -> bool:
    """Whether document ``doc_id`` is in the held-out split: a stable SHA-1 draw, the same on every machine."""
    digest = hashlib.sha1(doc_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction
