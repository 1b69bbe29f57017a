"""Mined triples back into one training source per kind of pair, without negatives from the query's own document.

``gtekit mine`` writes one ``triples.jsonl`` for all the pair files it read. ``gtekit adapt`` trains with every
batch from one kind (GTE Eq. 4), so each triple goes back to its kind (by its query and positive). A
candidate from the document the query was mined from is no negative (a crop or section of the same
document says the same thing), so it is removed before the first ``negatives`` are kept. A kind with fewer
triples than a batch is left out. Everything removed is counted.

Depends on ``gtekit.io.atomic`` only.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from ..io.atomic import atomic_path


def split_triples_by_kind(files: dict[str, str], triples: Path, out: Path, negatives: int,
                           min_pairs: int) -> tuple[dict[str, int], dict[str, int]]:
    """Each mined triple back to its kind, with negatives from the query's own document removed and
    ``negatives`` kept; a kind with fewer than ``min_pairs`` triples (one batch) is left out (counted)."""
    owner: dict[tuple[str, str], tuple[str, str]] = {}
    documents_of: dict[str, set[str]] = defaultdict(set)
    for kind, path in files.items():
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                owner.setdefault((row["query"], row["positive"]), (kind, row["doc_id"]))
                documents_of[row["positive"]].add(row["doc_id"])
                documents_of[row["query"]].add(row["doc_id"])
    by_kind: dict[str, list[dict]] = defaultdict(list)
    dropped: Counter = Counter()
    with open(triples, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            kind, doc_id = owner[(row["query"], row["positive"])]
            negatives_kept = [text for text in row["negatives"] if doc_id not in documents_of.get(text, ())]
            if len(negatives_kept) < len(row["negatives"]):
                dropped["negatives from the query's own document"] += len(row["negatives"]) - len(negatives_kept)
            if len(negatives_kept) < negatives:
                dropped["pairs with too few negatives"] += 1
                continue
            by_kind[kind].append({"query": row["query"], "positive": row["positive"],
                                  "negatives": negatives_kept[:negatives]})
    kept = {}
    for kind, rows in sorted(by_kind.items()):
        if len(rows) < min_pairs:
            dropped[f"kind {kind}: fewer pairs than a batch"] += len(rows)
            continue
        with atomic_path(out / "triples" / f"{kind}.jsonl") as tmp:
            tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        kept[kind] = len(rows)
    if not kept:
        raise RuntimeError(f"no kind of pair has a batch of triples with hard negatives ({dict(dropped)}); "
                           f"a larger corpus, fewer negatives or a smaller batch size would help")
    return kept, dict(dropped)
