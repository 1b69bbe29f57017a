"""`gtekit quickstart` end to end with a tiny model: stdlib pairs, training, the before/after table."""

from __future__ import annotations

import json

from gtekit.cli.main import main

from .conftest import assert_help_explains_every_option


def test_help_explains_every_option(capsys):
    assert_help_explains_every_option("quickstart", capsys=capsys)


def test_quickstart_with_a_tiny_model(tiny_model_dir, tmp_path, capsys):
    output_dir = tmp_path / "qs"
    code = main(["quickstart", "--output-dir", str(output_dir), "--set", f"model.name={tiny_model_dir}",
                 "--set", "train.steps=2", "--set", "train.batch_size=4", "--set", "model.max_seq_length=32"])
    assert code == 0
    results = json.loads((output_dir / "quickstart_results.json").read_text())
    assert set(results["before"]) == set(results["after"]) == {
        "code_search_mrr_at_10", "code_search_ndcg_at_10", "stsb_spearman"}
    assert results["held_out_pairs"] > 300
    out = capsys.readouterr().out
    assert "| held-out code search MRR@10 |" in out
    rows = (output_dir / "data" / "python-stdlib-code.jsonl").read_text().splitlines()
    assert len(rows) > 3000 and set(json.loads(rows[0])) == {"query", "positive"}
    assert (output_dir / "model" / "modules.json").is_file()
