"""An easy-to-hard curriculum over hard negatives: which of a pair's negatives a training step uses.

The Arctic-Embed report (Merrick et al. 2024, arXiv:2405.05374) tunes how hard the mined negatives of
fine-tuning are (too easy teaches little; too close to the positive and many are unlabelled positives)
and discusses presenting them in order of difficulty. Here each pair's negatives are ranked by
difficulty, and a step uses a window of K = ``data.negatives_per_query`` of them that slides from the
easiest to the hardest as training goes on (``data.curriculum.kind: easy_to_hard``).

Difficulty. With mining scores (``gtekit mine --with-scores``: the positive's score s⁺ and each
negative's s⁻_j; see ``negative_scores``) a negative's difficulty is its relative score

    r_j = s⁻_j / s⁺          (s⁺ > 0)

the quantity Arctic-Embed's false-negative threshold is written in (``gtekit mine --relative-margin
0.05`` drops r_j > 0.95). Within one pair s⁺ is fixed, so r_j ranks the negatives exactly as s⁻_j
does; when s⁺ is missing or not positive (where dividing would reverse the order) they are ranked by
s⁻_j. Without scores the list order is the ranking (``gtekit mine`` lists negatives hardest first).
Equal scores keep their list order.

The window. Ranked hardest first, h_0 … h_{m−1}, the pool is the pair's m = ``pool`` hardest
negatives (all it has when ``pool`` is 0). The K-wide window has n = m − K + 1 positions; position c
uses h_{m−K−c} … h_{m−1−c}, so c = 0 is the K easiest of the pool and c = n − 1 the K hardest. At step
s of T (0-based; progress p = s / T) with a hold share h:

    q = min(1, p / (1 − h))          the ramp's progress
    c = min(n − 1, ⌊q · n⌋)

so the ramp's (1 − h)·T steps are cut into n equal stages, one per position, the last h·T steps stay
on the hardest window, and c never decreases as s grows.

The choice is a pure function of (pair, step), with no state and no random numbers: every rank, every
DataLoader worker and a resumed run compute the same negatives for the same batch, and a gradient cache
only splits what was chosen. Depends on ``gtekit.data.rows`` and ``gtekit.data.negative_scores``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .negative_scores import NegativeRequirements
from .rows import Pair


@dataclass(frozen=True)
class EasyToHardNegatives:
    """The window of the module docstring: ``negatives(pair, step)`` -> the K negatives of that step."""

    per_query: int  # K: negatives used per pair and step
    total_steps: int  # T
    pool: int = 0  # m: the hardest negatives ranked (0: all of each pair's)
    hold: float = 0.0  # h: the last share of the steps stays on the hardest window

    def __post_init__(self) -> None:
        if self.per_query < 1:
            raise ValueError(f"a negative curriculum needs negatives_per_query >= 1, got {self.per_query}")
        if self.total_steps < 1:
            raise ValueError(f"a negative curriculum needs at least 1 step, got {self.total_steps}")
        if self.pool and self.pool <= self.per_query:
            raise ValueError(f"pool={self.pool} must exceed negatives_per_query={self.per_query} (or be 0: all)")
        if not 0 <= self.hold < 1:
            raise ValueError(f"hold must be in [0, 1), got {self.hold}")

    @property
    def requirements(self) -> NegativeRequirements:
        """What the readers must check and keep: enough negatives for the pool, and their scores."""
        return NegativeRequirements(min_count=max(self.pool, self.per_query), keep_scores=True)

    def position(self, step: int, positions: int) -> int:
        """c: the window position (0: easiest) at 0-based ``step``, of ``positions`` = m − K + 1."""
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        ramp_steps = self.total_steps * (1 - self.hold)
        return min(positions - 1, int(step * positions / ramp_steps))

    def ranks(self, step: int, available: int) -> range:
        """The hardest-first ranks (0: hardest) used at ``step`` by a pair with ``available`` negatives."""
        m = self.pool or available
        if available < max(m, self.per_query):
            raise ValueError(f"the negative curriculum ranks {m} negatives per pair and uses "
                             f"{self.per_query}, but a pair has only {available} negatives")
        c = self.position(step, m - self.per_query + 1)
        return range(m - self.per_query - c, m - c)

    def negatives(self, pair: Pair, step: int) -> tuple[str, ...]:
        """The K negatives ``pair`` contributes at 0-based ``step``, hardest first."""
        try:
            window = self.ranks(step, len(pair.negatives))
        except ValueError as error:
            raise ValueError(f"{error} (query {pair.query[:60]!r})") from None
        ranked = ranked_hardest_first(pair)
        return ranked[window.start:window.stop]


def difficulty(pair: Pair) -> list[float] | None:
    """Each negative's difficulty, higher is harder: r_j = s⁻_j / s⁺ (s⁻_j when s⁺ is missing or
    not positive); None when the pair carries no negative scores."""
    if pair.negative_scores is None:
        return None
    s = pair.positive_score
    if s is not None and s > 0:
        return [score / s for score in pair.negative_scores]
    return list(pair.negative_scores)


def ranked_hardest_first(pair: Pair) -> tuple[str, ...]:
    """The pair's negatives, hardest first: by :func:`difficulty`, else as listed (ties keep list order)."""
    scores = difficulty(pair)
    if scores is None:
        return pair.negatives
    order = sorted(range(len(scores)), key=lambda j: -scores[j])  # stable
    return tuple(pair.negatives[j] for j in order)
