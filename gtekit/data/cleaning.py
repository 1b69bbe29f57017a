"""Cleaning of mined pairs, per source, each filter counting what it removed (GTE Appendix A.3).

Filters run in this order; a pair removed by one is not seen by the next:

1. ``empty``: the query or the positive is empty or only whitespace.
2. ``control_chars``: control characters (Unicode category Cc other than tab and line feed) are
   *stripped*, after ``\\r\\n`` and ``\\r`` become ``\\n``: they carry no meaning for an embedding
   model, and dropping the pair would lose good text over one stray byte. Pairs changed are counted
   in ``modified["control_chars"]``; a pair left empty by the stripping is removed and counted here.
3. ``too_short`` / ``too_long``: a text outside the token bounds of :class:`~gtekit.data.mixture.Cleaning`
   (tokens of the mixture's tokenizer, special tokens not counted).
4. ``query_equals_positive``: the two texts are the same after :func:`normalise`.

De-duplication across the whole mix (:class:`PairDeduplicator`) runs after these, in the build:
GTE's exact-match de-duplication of pairs, on :func:`normalise`-d (query, positive).

Depends on numpy, and on ``tokenizers`` and ``model_files`` only inside :func:`load_token_counter`.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from .extract.base import MinedPair
from .mixture import Cleaning

CLEANING_FILTERS = ("empty", "control_chars", "too_short", "too_long", "query_equals_positive")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # Cc without \t (09) and \n (0a)

CountTokens = Callable[[Sequence[str]], np.ndarray]  # texts -> (len(texts),) token counts
COUNT_BATCH = 256  # texts encoded at once by load_token_counter


def normalise(text: str) -> str:
    """The key under which two texts are "the same": whitespace runs collapsed, case folded."""
    return " ".join(text.split()).casefold()


def strip_control(text: str) -> str:
    """``text`` with line breaks made ``\\n`` and every other control character but tab removed."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def load_token_counter(model: str) -> CountTokens:
    """Token counts (no special tokens, no truncation) from the fast tokenizer of ``model``'s folder.

    Texts are encoded ``COUNT_BATCH`` at a time and without character offsets (``encode_batch_fast`` where
    the tokenizers library has it), so only that many encodings exist at once: a batch of long articles
    would otherwise hold hundreds of MB of token strings and offsets only to be counted."""
    from tokenizers import Tokenizer

    from ..model.model_files import resolve_model_folder

    path = resolve_model_folder(model) / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the mixture's tokenizer needs a fast tokenizer (tokenizer.json)")
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()

    encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)  # the same ids, no offsets

    def count(texts: Sequence[str]) -> np.ndarray:
        counts = np.empty(len(texts), dtype=np.int32)  # (n,)
        for start in range(0, len(texts), COUNT_BATCH):
            encodings = encode(list(texts[start:start + COUNT_BATCH]), add_special_tokens=False)
            counts[start:start + len(encodings)] = [len(e.ids) for e in encodings]
        return counts

    return count


class PairCleaner:
    """Applies filters 1-4 to batches of one source's pairs and keeps the counts."""

    def __init__(self, bounds: Cleaning, count_tokens: CountTokens) -> None:
        self.bounds = bounds
        self.count_tokens = count_tokens
        self.removed: Counter = Counter({name: 0 for name in CLEANING_FILTERS})
        self.modified: Counter = Counter({"control_chars": 0})

    def clean(self, pairs: Sequence[MinedPair]) -> tuple[list[MinedPair], np.ndarray, np.ndarray]:
        """(kept pairs, their query token counts, their positive token counts), in input order."""
        stripped: list[MinedPair] = []
        for pair in pairs:
            if not pair.query.strip() or not pair.positive.strip():
                self.removed["empty"] += 1
                continue
            query, positive = strip_control(pair.query), strip_control(pair.positive)
            if query != pair.query or positive != pair.positive:
                if not query.strip() or not positive.strip():
                    self.removed["control_chars"] += 1
                    continue
                self.modified["control_chars"] += 1
                pair = MinedPair(query, positive, pair.doc_id)
            stripped.append(pair)
        counts = self.count_tokens([p.query for p in stripped] + [p.positive for p in stripped])
        query_tokens, positive_tokens = counts[: len(stripped)], counts[len(stripped) :]  # (n,), (n,)
        bounds = self.bounds
        kept: list[int] = []
        for i, pair in enumerate(stripped):
            q, p = query_tokens[i], positive_tokens[i]
            if q < bounds.min_tokens or p < bounds.min_tokens:
                self.removed["too_short"] += 1
            elif q > bounds.max_query_tokens or p > bounds.max_positive_tokens:
                self.removed["too_long"] += 1
            elif normalise(pair.query) == normalise(pair.positive):
                self.removed["query_equals_positive"] += 1
            else:
                kept.append(i)
        return [stripped[i] for i in kept], query_tokens[kept], positive_tokens[kept]


class PairDeduplicator:
    """Exact-match de-duplication of (query, positive) across sources: the first source to hold a pair keeps it.

    Holds one 64-bit hash per kept pair (a Python set; ~100 bytes a pair, fine to tens of millions).
    """

    def __init__(self) -> None:
        self._owner: dict[int, int] = {}  # pair hash -> index of the source that kept it

    @staticmethod
    def key(query: str, positive: str) -> int:
        digest = hashlib.blake2b(f"{normalise(query)}\x00{normalise(positive)}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little")

    def add(self, source: int, pair: MinedPair) -> str | None:
        """None if the pair is new (now kept by ``source``), else ``duplicate_within`` or ``duplicate_across``."""
        key = self.key(pair.query, pair.positive)
        owner = self._owner.get(key)
        if owner is None:
            self._owner[key] = source
            return None
        return "duplicate_within" if owner == source else "duplicate_across"

    def __contains__(self, pair: MinedPair) -> bool:
        return self.key(pair.query, pair.positive) in self._owner
