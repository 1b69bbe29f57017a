"""The adapt-eval table is rendered from the committed results, and its numbers are those results."""

import json
from pathlib import Path

from benchmarks.adapt_eval import RESULTS, SETS, render


def test_table_from_the_committed_results():
    record = json.loads(Path(RESULTS).read_text(encoding="utf-8"))
    assert [r["set"] for r in record["sets"]] == list(SETS)
    table = render(record["sets"])
    assert table == (Path(RESULTS).parent / "adapt-eval.md").read_text(encoding="utf-8")
    for r in record["sets"]:
        assert f"{100 * r['change']['delta']:+.2f}" in table
    assert f"{100 * record['mean_change']:+.2f}" in table
