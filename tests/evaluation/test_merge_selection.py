"""Choosing the WiSE-FT weight on dev: every candidate scored on the dev split, the best kept, the rest removed."""

from __future__ import annotations

import json

import pytest
import torch

from gtekit import Embedder
from gtekit.config import ConfigError
from gtekit.evaluation.merge_selection import select_merge_weight
from gtekit.evaluation.runner import evaluate_tasks
from gtekit.evaluation.settings import MergeSelectionSettings
from gtekit.evaluation.tasks.named_tasks import get_tasks
from tests.helpers import write_start_and_trained


def test_the_best_dev_candidate_is_kept(tmp_path) -> None:
    start, trained = write_start_and_trained(tmp_path)
    settings = MergeSelectionSettings(start=str(start), trained=str(trained), weights=[1.0, 0.0, 0.5],
                                      tasks=["LeeDocumentSimilarity"], output_dir=str(tmp_path / "merge"),
                                      use_cache=False)
    record = select_merge_weight(settings)
    dev = get_tasks(["LeeDocumentSimilarity"], "dev")
    ends = {weight: evaluate_tasks(Embedder.load(folder), dev, use_cache=False)["LeeDocumentSimilarity"]["main_score"]
            for weight, folder in ((0.0, start), (1.0, trained))}
    by_weight = {c["weight"]: c["average"] for c in record["candidates"]}
    assert list(by_weight) == [0.0, 0.5, 1.0] and record["split"] == "dev"
    assert by_weight[0.0] == ends[0.0] and by_weight[1.0] == ends[1.0]  # the ends are the two models exactly
    assert record["chosen_weight"] == max(by_weight, key=lambda w: (by_weight[w], -w))
    chosen = Embedder.load(tmp_path / "merge" / "model").encoder.state_dict()
    merged = json.loads((tmp_path / "merge" / "model" / "merge.json").read_text())
    assert merged["weight"] == record["chosen_weight"] and set(chosen)
    if record["chosen_weight"] in (0.0, 1.0):
        reference = Embedder.load(start if record["chosen_weight"] == 0.0 else trained).encoder.state_dict()
        assert all(torch.equal(chosen[name], reference[name]) for name in chosen)
    assert not (tmp_path / "merge" / "candidates").exists()
    assert json.loads((tmp_path / "merge" / "selection.json").read_text())["chosen_weight"] == record["chosen_weight"]


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="nothing to choose λ on"):
        MergeSelectionSettings(start="a", trained="b")
    with pytest.raises(ConfigError, match="weights must be"):
        MergeSelectionSettings(start="a", trained="b", weights=[], tasks=["STSBenchmark"])
