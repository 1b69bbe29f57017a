"""The benchmark's outputs: plain-text tables for the console and the JSON record, written atomically."""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime
from pathlib import Path


def result_path(folder: Path, when: datetime | None = None, host: str | None = None,
                prefix: str = "train-bench") -> Path:
    """``folder/PREFIX-YYYYMMDD-HHMMSS-HOST.json``."""
    when = when or datetime.now()
    host = "".join(c if c.isalnum() or c in "-_." else "_" for c in (host or socket.gethostname()))
    return Path(folder) / f"{prefix}-{when:%Y%m%d-%H%M%S}-{host}.json"


def write_json_atomic(path: Path, data: dict) -> Path:
    """Write ``data`` to ``path.tmp``, flush it to disk, then rename it over ``path``: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=2, ensure_ascii=False)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; the first left-aligned, the others right-aligned."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *map(line, rows)])


def _g(flop_per_s: float | None) -> str:
    return "-" if flop_per_s is None else f"{flop_per_s / 1e9:.1f}"


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.1f}%"


def render(record: dict) -> str:
    """The whole report as text: machine, peaks, throughput, loss check, ratio, memory curve."""
    m, parts = record["machine"], []
    parts.append(f"machine: {m['cpu_model']} ({m['torch_threads']} torch threads), torch {m['torch']}, "
                 f"sentence-transformers {m['sentence_transformers']}, host {m['host']}")
    load = record.get("load_average")
    if load:
        busy = max(load["start"][0], load["end"][0]) > 0.5 + 0.5 * m["torch_threads"]
        parts[-1] += (f"\nload average (1 min) {load['start'][0]:.2f} at start, {load['end'][0]:.2f} at end"
                      + ("; the CPU was shared with other work: the timings are lower and noisier" if busy else ""))
    peaks = record.get("peaks") or {}
    if peaks:
        rows = [[f"{dtype} {'x'.join(map(str, s['shape']))}", s.get("layout", ""), _g(s["flop_per_s"]),
                 str(s["calls"])] for dtype, p in peaks.items() for s in p["shapes"]]
        rows += [[f"{dtype} peak", "", _g(p["peak_flop_per_s"]), ""] for dtype, p in peaks.items()]
        parts.append("matmul peaks (torch.matmul, all threads, best call; a@w.T: the right operand stored "
                     "transposed, as nn.Linear's weight)\n"
                     + table(["dtype m x k x n", "layout", "GFLOP/s", "calls"], rows))
    results = record.get("throughput") or []
    if results:
        rows = [[r["name"], f"{r['pairs_per_s']:.2f}", f"{r['tokens_per_s']:.0f}", f"{r['median_s']:.2f}",
                 _pct(r["padding_share"]), _g(r["useful_flop_per_s"]), _g(r["executed_flop_per_s"]),
                 _pct(r.get("useful_mfu")), _pct(r.get("executed_mfu")), f"{r['check_loss']:.6f}"]
                for r in results]
        parts.append(f"training step, median of {record['settings']['repeats']} steps after an eval-mode warm-up; "
                     "tok/s = non-padding tokens; MFU vs the measured matmul peak of the step's dtype\n"
                     + table(["configuration", "pairs/s", "tok/s", "s/step", "padding", "useful GF/s",
                              "exec GF/s", "useful MFU", "exec MFU", "warm-up loss"], rows))
    checks = record.get("loss_checks") or []
    if checks:
        rows = [[c["name"], f"{c['loss']:.6f}", f"{c['reference_loss']:.6f}", f"{c['rel_diff']:.1e}",
                 f"{c['rtol']:.0e}", "ok" if c["ok"] else "MISMATCH"] for c in checks]
        parts.append("loss check: eval mode (no dropout), identical weights, same batch, against gtekit\n"
                     + table(["configuration", "loss", "gtekit loss", "rel diff", "rtol", ""], rows))
    for c in record.get("comparisons") or []:
        parts.append(f"batch {c['batch']}, {c.get('precision', 'best of any precision')}: gtekit / "
                     f"sentence-transformers best = {c['ratio_pairs_per_s']:.2f}x "
                     f"in pairs/s ({c['gtekit']} vs {c['sentence_transformers_best']})")
    memory = record.get("memory")
    if memory:
        parts.append(render_memory(memory))
    return "\n\n".join(parts)


def render_memory(memory: dict) -> str:
    """One row per N: full-step peak (where measured) and loss-phase peaks, in MiB."""
    points = memory["points"]
    by_n: dict[int, dict[str, dict]] = {}
    for p in points:
        key = "step" if p["kind"] == "step" else ("blocked" if p.get("block") else "whole")
        by_n.setdefault(p["n"], {})[key] = p

    def cell(p: dict | None, field: str) -> str:
        if p is None:
            return "-"
        if "skipped" in p:
            return f"skipped ({p['skipped'].split(',')[0]})"
        return "failed" if "error" in p else f"{p[field]:.0f}"

    def peak(p: dict | None, seconds: bool = False) -> str:  # "peak (+growth over the RSS before the phase)"
        if p is None or "error" in p or "skipped" in p:
            return cell(p, "peak_mib")
        text = f"{p['peak_mib']:.0f} (+{p['peak_mib'] - p['rss_before_mib']:.0f})"
        return text + f" {p['seconds']:.1f}s" if seconds else text

    rows = []
    for n in sorted(by_n):
        got = by_n[n]
        rows.append([str(n), "full step" if "step" in got else "loss only", cell(got.get("step"), "rss_before_mib"),
                     peak(got.get("step")), peak(got.get("whole"), True), peak(got.get("blocked"), True)])
    block = f"loss in blocks of {memory['block']} rows" if memory["block"] else "row-blocked loss not measured"
    steps = memory.get("steps", 1)
    title = (f"peak RSS (MiB, VmHWM of a fresh process per point; + growth over the RSS before) vs global batch N, "
             f"chunk {memory['chunk']}, full step: highest of {steps} step(s) from a fresh model; {block}")
    headers = ["N", "measured", "step RSS before", "step peak", "loss peak whole", "loss peak blocked"]
    return title + "\n" + table(headers, rows)
