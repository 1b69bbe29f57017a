"""What every miner yields: a pair, the document it comes from, and a count of what was skipped.

``doc_id`` names the document (article, module, dictionary entry, dialogue, ...) a pair comes from:
held-out splits and de-duplication group pairs by it, never by row, so near-duplicates from one
document never land on both sides of a split. Depends on the standard library only.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class MinedPair:
    """One weakly supervised (query, positive) pair (GTE Table 2), with the document it comes from."""

    query: str
    positive: str
    doc_id: str


@dataclass
class MineReport:
    """What a miner read and kept; ``skipped`` counts rows or documents left out, by reason.

    ``failed`` lists the files that could not be read at all (undecodable, unparsable), as
    ``(path, reason)``; each of them is also counted in ``skipped`` under a short reason.
    """

    documents: int = 0
    pairs: int = 0
    skipped: Counter = field(default_factory=Counter)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] += count

    def fail(self, path: str, reason: str, detail: str = "") -> None:
        """Record a file that could not be read: counted under ``reason``, listed with its path."""
        self.skip(reason)
        self.failed.append((path, f"{reason}: {detail}" if detail else reason))


def held_out(doc_id: str, fraction: float) -> bool:
    """Whether document ``doc_id`` is in the held-out split: a stable SHA-1 draw, the same on every machine."""
    digest = hashlib.sha1(doc_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split_held_out(pairs: Iterable[MinedPair], fraction: float) -> tuple[list[MinedPair], list[MinedPair]]:
    """(train, held_out): whole documents go to one side (by ``doc_id``, never by row); order is kept."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"the held-out fraction must be in [0, 1), got {fraction}")
    train: list[MinedPair] = []
    held: list[MinedPair] = []
    for pair in pairs:
        (held if held_out(pair.doc_id, fraction) else train).append(pair)
    return train, held


def dedupe(pairs: Iterable[MinedPair], report: MineReport) -> list[MinedPair]:
    """The pairs with exact (query, positive) repeats removed, the first kept; repeats are counted."""
    seen: set[tuple[str, str]] = set()
    kept: list[MinedPair] = []
    for pair in pairs:
        if (pair.query, pair.positive) in seen:
            report.skip("duplicate pair")
            continue
        seen.add((pair.query, pair.positive))
        kept.append(pair)
    return kept
