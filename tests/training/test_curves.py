"""Training curves: curves.png at every checkpoint of a tiny run; one metric of several runs on one figure."""

from __future__ import annotations

import json

import pytest

from gtekit.model.model_card import read_front_matter
from gtekit.training import trainer as trainer_module
from gtekit.training.curves import (
    available_metrics,
    draw_run_curves,
    metric_series,
    moving_average,
    plot_runs,
    run_labels,
)
from gtekit.training.trainer import Trainer

PNG = b"\x89PNG\r\n\x1a\n"


def write_log(folder, losses, validations=()):
    """A train_log.jsonl of one step per loss and the validations ``(step, {task: score})``."""
    folder.mkdir(parents=True, exist_ok=True)
    records = [{"step": i + 1, "source": "qa", "loss": loss, "lr": 1e-4 * (1 - i / len(losses)),
                "pairs_per_s": 10.0, "tokens_per_s": 100.0, "source_mean_loss": loss} for i, loss in enumerate(losses)]
    for step, scores in validations:
        records.insert(step, {"step": step, "validation": scores,
                              "validation_mean": sum(scores.values()) / len(scores), "best_step": step})
    (folder / "train_log.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    return folder


def test_moving_average_is_the_mean_of_the_last_window():
    assert moving_average([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert moving_average([2.0, 4.0], 1) == [2.0, 4.0]


def test_metric_series_reads_steps_and_validations(tmp_path):
    from gtekit.training.train_log import read_log

    run = write_log(tmp_path / "run", [3.0, 2.0, 1.0, 0.5], validations=[(2, {"A": 0.5, "B": 0.7})])
    records = read_log(run / "train_log.jsonl")
    assert metric_series(records, "loss") == ([1, 2, 3, 4], [3.0, 2.0, 1.0, 0.5])
    assert metric_series(records, "validation/B") == ([2], [0.7])
    assert metric_series(records, "validation_mean") == ([2], [pytest.approx(0.6)])
    assert available_metrics(records) == ["loss", "lr", "pairs_per_s", "tokens_per_s", "source_mean_loss",
                                          "validation_mean", "validation/A", "validation/B"]


def test_run_curves_with_validation_and_an_empty_log(tmp_path):
    run = write_log(tmp_path / "run", [3.0 / (i + 1) for i in range(50)], validations=[(25, {"A": 0.5})])
    assert draw_run_curves(run) == run / "curves.png"
    assert (run / "curves.png").read_bytes().startswith(PNG)
    assert draw_run_curves(write_log(tmp_path / "empty", [])) is None
    assert not (tmp_path / "empty" / "curves.png").exists()


def test_a_tiny_run_draws_curves_at_every_checkpoint_and_writes_a_model_card(tiny_recipe, tmp_path, monkeypatch):
    drawn = []

    def counting(run_dir, *args):
        drawn.append(json.loads((run_dir / "train_log.jsonl").read_text().splitlines()[-1])["step"])
        return draw_run_curves(run_dir, *args)

    monkeypatch.setattr(trainer_module, "draw_run_curves", counting)
    Trainer(tiny_recipe(tmp_path / "run")).train()  # 6 steps, a checkpoint every 2
    assert drawn == [2, 4, 6]
    assert (tmp_path / "run" / "curves.png").read_bytes().startswith(PNG)
    assert not list((tmp_path / "run").glob(".tmp-*"))
    meta = read_front_matter(tmp_path / "run" / "model")  # the card: the run's sources and recipe
    assert meta["datasets"] == ["alpha", "beta"] and meta["library_name"] == "sentence-transformers"
    card = (tmp_path / "run" / "model" / "README.md").read_text()
    assert "| alpha |  | not recorded | 40 |" in card and "| steps | 6 |" in card


def test_plot_runs_draws_several_runs_and_lists_the_metrics_there_are(tmp_path):
    a = write_log(tmp_path / "a" / "finetune", [2.0, 1.5, 1.0], validations=[(3, {"A": 0.5})])
    b = write_log(tmp_path / "b" / "finetune", [2.5, 1.0])
    assert run_labels([a, b]) == ["a/finetune", "b/finetune"]
    assert run_labels([tmp_path / "a", tmp_path / "b"]) == ["a", "b"]
    output = plot_runs([a, b / "train_log.jsonl"], tmp_path / "out.png", "validation_mean")
    assert output.read_bytes().startswith(PNG)
    with pytest.raises(ValueError, match=r"no run logs metric 'accuracy'; valid: loss, lr, .*validation/A"):
        plot_runs([a, b], tmp_path / "x.png", "accuracy")
    with pytest.raises(FileNotFoundError, match=r"no train_log\.jsonl in"):
        plot_runs([a, tmp_path / "missing"], tmp_path / "x.png")
