"""What mining did, for a person to check: counts, score histograms and sample triples.

:class:`MiningReport` is fed one query chunk at a time (so its memory does not grow with the data:
histograms over fixed bins, a bounded set of samples) and writes, each atomically:

- ``report.json``: inputs, settings, what happened to every candidate (one count per
  ``select.Reason``), queries with enough / too few / no negatives, how often the positive was
  retrieved, and score summaries of positives, selected negatives and candidates dropped as likely
  false negatives (by the absolute or relative margin or ``max_score``);
- ``scores.png``: the three score histograms;
- ``samples.md``: a few random queries with their positive, selected negatives and dropped
  candidates, and the highest-scoring dropped candidates of the whole run.

Scores are cosines: histograms use 200 bins over [-1, 1], so percentiles are exact to 0.01.
Depends on numpy, matplotlib (object API: no global backend is set) and ``select.Reason``.
"""

from __future__ import annotations

import heapq
import json
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_path
from .select import FALSE_NEGATIVE_REASONS, Reason, Selection

EDGES = np.linspace(-1.0, 1.0, 201)
SAMPLE_CHARS = 300
DROPPED_PER_SAMPLE = 5
HISTOGRAMS = {"positive": "positives", "selected": "selected negatives",
              "false_negative": "dropped as likely false negatives"}


class ScoreHistogram:
    """Counts over fixed bins, with exact count, mean, min and max."""

    def __init__(self) -> None:
        self.counts = np.zeros(len(EDGES) - 1, dtype=np.int64)
        self.count, self.total, self.low, self.high = 0, 0.0, np.inf, -np.inf

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        if not values.size:
            return
        self.counts += np.histogram(np.clip(values, EDGES[0], EDGES[-1]), EDGES)[0]
        self.count += values.size
        self.total += values.sum()
        self.low, self.high = min(self.low, values.min()), max(self.high, values.max())

    def summary(self) -> dict:
        if not self.count:
            return {"count": 0}
        cumulative = np.cumsum(self.counts) / self.count
        centres = (EDGES[:-1] + EDGES[1:]) / 2
        quantiles = {f"p{round(q * 100):02d}": round(float(centres[np.searchsorted(cumulative, q)]), 3)
                     for q in (0.05, 0.25, 0.5, 0.75, 0.95)}
        return {"count": self.count, "mean": round(self.total / self.count, 4), "min": round(float(self.low), 4),
                "max": round(float(self.high), 4), **quantiles}


class MiningReport:
    """Accumulates per-chunk outcomes; :meth:`write` produces the three files of the module docstring."""

    def __init__(self, num_queries: int, num_negatives: int, samples: int = 5, seed: int = 0) -> None:
        self.num_negatives = num_negatives
        self.reasons = np.zeros(len(Reason), dtype=np.int64)
        self.histograms = {name: ScoreHistogram() for name in HISTOGRAMS}
        self.queries = {"with_all_negatives": 0, "with_too_few": 0, "with_none": 0,
                        "with_false_negatives_dropped": 0, "positive_retrieved": 0}
        self.positive_rank_total = 0
        picked = np.random.default_rng(seed).choice(num_queries, size=min(samples, num_queries), replace=False)
        self.sample_queries = set(picked.tolist())
        self.samples: list[dict] = []
        # min-heap of (score, query, candidate, reason, positive score, positive id)
        self.top_dropped: list[tuple[float, int, int, int, float, int]] = []
        self.top_dropped_size = samples

    def add_chunk(self, start: int, scores: np.ndarray, ids: np.ndarray, selection: Selection,
                  positive_ids: np.ndarray, positive_scores: np.ndarray, texts) -> None:
        """One query chunk: its candidates (Q, K), their selection, each query's hardest positive (Q,) and its score.
        ``texts(query id, candidate ids)`` returns (query text, candidate texts) for samples."""
        reasons = selection.reasons
        self.reasons += np.bincount(reasons.ravel(), minlength=len(Reason))
        self.histograms["positive"].add(positive_scores)
        self.histograms["selected"].add(selection.scores)
        dropped = np.isin(reasons, FALSE_NEGATIVE_REASONS)  # (Q, K)
        self.histograms["false_negative"].add(scores[dropped])
        counts = selection.counts
        self.queries["with_all_negatives"] += int((counts >= self.num_negatives).sum())
        self.queries["with_too_few"] += int(((counts > 0) & (counts < self.num_negatives)).sum())
        self.queries["with_none"] += int((counts == 0).sum())
        self.queries["with_false_negatives_dropped"] += int(dropped.any(axis=1).sum())
        is_positive = reasons == Reason.POSITIVE
        retrieved = is_positive.any(axis=1)
        self.queries["positive_retrieved"] += int(retrieved.sum())
        best_rank = np.argmax(np.where(is_positive, scores, -np.inf), axis=1)  # rank of the best-scoring positive
        self.positive_rank_total += int(best_rank[retrieved].sum())

        rows, columns = np.nonzero(dropped)
        best = np.argsort(-scores[rows, columns], kind="stable")[:self.top_dropped_size]
        for row, column in zip(rows[best], columns[best], strict=True):
            entry = (float(scores[row, column]), start + int(row), int(ids[row, column]), int(reasons[row, column]),
                     float(positive_scores[row]), int(positive_ids[row]))
            (heapq.heappush if len(self.top_dropped) < self.top_dropped_size else heapq.heappushpop)(
                self.top_dropped, entry)
        for query in sorted(self.sample_queries & set(range(start, start + len(ids)))):
            self.samples.append(self._sample(query, query - start, scores, ids, selection, positive_ids,
                                             positive_scores, texts))

    def _sample(self, query: int, row: int, scores, ids, selection: Selection, positive_ids, positive_scores,
                texts) -> dict:
        order = np.argsort(-scores[row], kind="stable")
        dropped = [c for c in order if selection.reasons[row, c] in FALSE_NEGATIVE_REASONS][:DROPPED_PER_SAMPLE]
        chosen = selection.ids[row][selection.ids[row] >= 0]
        query_text, chosen_texts = texts(query, chosen)
        _, dropped_texts = texts(query, ids[row, dropped])
        _, (positive_text,) = texts(query, [positive_ids[row]])
        return {"query_id": query, "query": query_text, "positive": positive_text,
                "positive_score": round(float(positive_scores[row]), 4),
                "negatives": [{"text": text, "score": round(float(score), 4)}
                              for text, score in zip(chosen_texts, selection.scores[row], strict=False)],
                "dropped": [{"text": text, "score": round(float(scores[row, c]), 4),
                             "reason": Reason(selection.reasons[row, c]).name.lower()}
                            for text, c in zip(dropped_texts, dropped, strict=True)]}

    def summary(self) -> dict:
        reasons = {reason.name.lower(): int(self.reasons[reason]) for reason in Reason if reason is not Reason.NONE}
        retrieved = self.queries["positive_retrieved"]
        return {
            "candidates": {"retrieved": int(self.reasons.sum() - self.reasons[Reason.NONE]), **reasons},
            "false_negatives_dropped": int(sum(self.reasons[r] for r in FALSE_NEGATIVE_REASONS)),
            "queries": dict(self.queries),
            "positive_mean_rank_when_retrieved": round(self.positive_rank_total / retrieved, 3) if retrieved else None,
            "scores": {name: histogram.summary() for name, histogram in self.histograms.items()},
        }

    def write(self, out_dir: Path, record: dict, texts) -> list[Path]:
        """Write report.json (``record`` plus :meth:`summary`), scores.png and samples.md into ``out_dir``."""
        out_dir = Path(out_dir)
        report = out_dir / "report.json"
        with atomic_path(report) as tmp:
            tmp.write_text(json.dumps({**record, **self.summary()}, indent=2, ensure_ascii=False) + "\n")
        plot = self.plot(out_dir / "scores.png")
        samples = out_dir / "samples.md"
        with atomic_path(samples) as tmp:
            tmp.write_text(self.samples_markdown(texts), encoding="utf-8")
        return [report, plot, samples]

    def plot(self, path: Path) -> Path:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(8, 4.5))
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        for name, label in HISTOGRAMS.items():
            histogram = self.histograms[name]
            if histogram.count:
                axes.stairs(histogram.counts / histogram.count, EDGES, label=f"{label} ({histogram.count:,})")
        axes.set_xlabel("cosine score with the query")
        axes.set_ylabel("fraction of each group")
        axes.set_title("hard-negative mining: scores")
        axes.legend()
        used = np.flatnonzero(sum(h.counts for h in self.histograms.values()))
        if used.size:
            axes.set_xlim(EDGES[max(used[0] - 2, 0)], EDGES[min(used[-1] + 3, len(EDGES) - 1)])
        figure.tight_layout()
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", dpi=110)
        return path

    def samples_markdown(self, texts) -> str:
        lines = ["# Mined hard negatives: samples", "",
                 "Random queries with their selected negatives and the candidates dropped as likely false "
                 "negatives (scores are cosines with the query).", ""]
        for sample in self.samples:
            lines += [f"## Query {sample['query_id']}: {_short(sample['query'])}", "",
                      f"positive, {sample['positive_score']:.4f}: {_short(sample['positive'])}", "", "negatives:", ""]
            lines += [f"- {n['score']:.4f} {_short(n['text'])}" for n in sample["negatives"]] or ["- (none)"]
            if sample["dropped"]:
                lines += ["", "dropped as likely false negatives:", ""]
                lines += [f"- {d['score']:.4f} ({d['reason']}) {_short(d['text'])}" for d in sample["dropped"]]
            lines.append("")
        if self.top_dropped:
            lines += ["## The highest-scoring dropped candidates of the run", ""]
            for score, query, candidate, reason, positive_score, positive in sorted(self.top_dropped, reverse=True):
                query_text, (candidate_text, positive_text) = texts(query, [candidate, positive])
                lines += [f"- query {query}: {_short(query_text)}",
                          f"  - positive, {positive_score:.4f}: {_short(positive_text)}",
                          f"  - dropped ({Reason(reason).name.lower()}), {score:.4f}: {_short(candidate_text)}"]
            lines.append("")
        return "\n".join(lines)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS] + " …"
