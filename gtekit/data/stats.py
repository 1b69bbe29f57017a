"""What a built mixture holds: counts, sampling shares p_i for several α (GTE Eq. 4, Table 10), lengths, samples.

Reads only the manifest and the first shard of each source. Depends on numpy, pyarrow,
``sampler`` (for p_i) and, inside :func:`plot_source_shares`, matplotlib.
"""

from __future__ import annotations

from pathlib import Path

from .manifest import read_manifest, shard_paths
from .pair_shards import read_shard
from .sampler import source_probabilities

ALPHAS = (0.0, 0.3, 0.5, 1.0)  # GTE Table 10
SAMPLE_CHARS = 120  # sample texts are cut to this many characters


def mixture_stats(directory: str | Path, samples: int = 3) -> dict:
    """Per-source counts, p_i under the mixture's α and under each of ``ALPHAS``, lengths and sample pairs."""
    manifest = read_manifest(directory)
    sources = manifest["sources"]
    sizes = [s["count"] for s in sources]
    weights = [s.get("weight", 1.0) for s in sources]
    alpha = manifest.get("mixture", {}).get("alpha", 0.5)  # hand-made mixtures may record less than a build
    configured = source_probabilities(sizes, alpha, weights)
    by_alpha = {a: source_probabilities(sizes, a, weights) for a in ALPHAS}
    rows = []
    for i, source in enumerate(sources):
        first = shard_paths(directory, source)[:1]
        table = read_shard(first[0]).slice(0, samples) if first and samples > 0 else None
        rows.append({
            "name": source["name"], "kind": source.get("kind", "?"), "licence": source.get("licence", "?"),
            "count": source["count"], "held_out": source.get("held_out", {}).get("count", 0),
            "p": float(configured[i]), "p_by_alpha": {str(a): float(p[i]) for a, p in by_alpha.items()},
            "lengths": source.get("lengths", {}),
            "samples": [] if table is None else table.select(["query", "positive"]).to_pylist(),
        })
    total = {"count": sum(sizes), "held_out": sum(row["held_out"] for row in rows)}
    return {"directory": str(directory), "alpha": alpha, "alphas": list(ALPHAS), "total": total, "sources": rows}


def format_stats(stats: dict) -> str:
    """Markdown tables (counts and shares; token lengths) and a few sample pairs per source."""
    alphas = stats["alphas"]
    header = ["source", "kind", "pairs", "held out", f"p (α={stats['alpha']:g})", *(f"α={a:g}" for a in alphas)]
    lines = [f"{stats['total']['count']:,} training pairs in {len(stats['sources'])} sources "
             f"({stats['total']['held_out']:,} held out): {stats['directory']}", "",
             _row(header), "|" + "---|" * len(header)]
    for s in stats["sources"]:
        lines.append(_row([s["name"], s["kind"], f"{s['count']:,}", f"{s['held_out']:,}", f"{s['p']:.1%}",
                           *(f"{s['p_by_alpha'][str(a)]:.1%}" for a in alphas)]))
    lines += ["", "Token lengths (p5 / p50 / p95 / p99):", "",
              _row(["source", "query", "positive"]), "|---|---|---|"]
    for s in stats["sources"]:
        lines.append(_row([s["name"], *(" / ".join(str(v) for v in s["lengths"].get(side, {}).values()) or "?"
                                        for side in ("query", "positive"))]))
    for s in stats["sources"]:
        if s["samples"]:
            lines += ["", f"{s['name']} ({s['licence']}):"]
            lines += [f"  {_cut(pair['query'])!r} -> {_cut(pair['positive'])!r}" for pair in s["samples"]]
    return "\n".join(lines)


def plot_source_shares(stats: dict, path: str | Path) -> Path:
    """Stacked bars of each source's share p_i for every α of ``ALPHAS`` (cf. GTE Table 10); a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    alphas = stats["alphas"]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    bottom = [0.0] * len(alphas)
    colours = plt.get_cmap("tab20").colors
    labels = [f"α = {a:g}" + (" (mix)" if a == stats["alpha"] else "") for a in alphas]
    for i, source in enumerate(stats["sources"]):
        shares = [source["p_by_alpha"][str(a)] for a in alphas]
        axes.bar(labels, shares, bottom=bottom, color=colours[i % len(colours)],
                 label=f"{source['name']} ({source['count']:,})")
        bottom = [b + s for b, s in zip(bottom, shares, strict=True)]
    axes.set_ylim(0, 1)
    axes.set_ylabel("share of batches  p_i = n_i^α / Σ n_j^α")
    axes.set_title(f"Source shares, {stats['total']['count']:,} training pairs (GTE Eq. 4)")
    axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SAMPLE_CHARS else text[: SAMPLE_CHARS - 1] + "…"
