"""``gtekit adapt`` end to end on a small generated corpus with the tiny model: every step's files, the
report, resume after an interruption, and settings that changed refused."""

import json
import random

import numpy as np
import pytest

from gtekit.adapt.adapt_run import STEPS, AdaptRun, adapt, general_guard
from gtekit.adapt.adapt_settings import AdaptSettings, SelectionSettings, TrainingSettings
from gtekit.adapt.pair_set import PairSettings
from gtekit.config import ConfigError
from gtekit.evaluation.metrics.bootstrap import mean_of

WORDS = ("index", "store", "vector", "passage", "query", "search", "model", "train", "batch", "token", "cache",
         "disk", "memory", "file", "folder", "network", "server", "client", "request", "answer", "score",
         "rank", "embed", "encode", "decode", "graph", "table", "column", "row", "river", "mountain", "forest",
         "ocean", "city", "garden", "kitchen", "window", "letter", "music")


def make_corpus(folder, documents=60, seed=0):
    rng = random.Random(seed)
    folder.mkdir()
    for number in range(documents):
        sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12))).capitalize() + "."
                     for _ in range(8)]
        title = " ".join(rng.choice(WORDS) for _ in range(4)).capitalize()
        (folder / f"doc{number:03d}.md").write_text(f"# {title}\n\n" + " ".join(sentences) + "\n", encoding="utf-8")
    return folder


def settings_for(tmp_path, model, corpus):
    return AdaptSettings(
        inputs=[str(corpus)], model=model, output_dir=str(tmp_path / "run"), budget_minutes=5, batch_size=16,
        pairs=PairSettings(held_out=0.3, distractors=20),
        training=TrainingSettings(steps=0, min_steps=2, max_steps=3, batch_size=4, chunk_size=4, negatives=1,
                                  max_seq_length=64,
                                  relative_margin=None),  # a random model scores every candidate alike
        selection=SelectionSettings(weights=[0.5, 1.0], general_tasks=["STSBenchmarkPairClassification"]))


@pytest.mark.slow
def test_adapt_end_to_end_then_resume(tmp_path, tiny_model_dir):
    corpus = make_corpus(tmp_path / "corpus")
    settings = settings_for(tmp_path, str(tiny_model_dir), corpus)
    run = AdaptRun(settings, echo=lambda _: None)
    original = run.step_select

    def interrupted():
        raise KeyboardInterrupt

    run.step_select = interrupted
    with pytest.raises(KeyboardInterrupt):
        run.run()
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert list(state["done"]) == ["pairs", "baseline", "negatives", "train"]
    run.step_select = original

    lines = []
    record = adapt(settings, echo=lines.append)
    assert [line for line in lines if line.endswith("done, skipped")] == [
        f"[{n}/{len(STEPS)}] {step}: done, skipped" for n, step in enumerate(STEPS[:4], 1)]
    folder = tmp_path / "run"
    for name in ("report.md", "report.json", "report.png", "model/config.json", "held-out-queries/qrels/dev.tsv",
                 "held-out-queries/qrels/test.tsv", "evaluate/results.json", "select/selection.json"):
        assert (folder / name).is_file(), name
    assert record["training"]["steps"] in (2, 3) and len(record["training"]["curve"]) >= 1  # planned from a probe
    assert not (folder / "train-probe").exists()
    assert {"title_body", "first_sentence", "inverse_cloze", "random_crops"} <= set(record["pairs"]["kinds"]) | set(
        record["samples"])
    assert record["headline"]["chosen_weight"] in (0.0, 0.5, 1.0)
    assert "held-out-queries" in record["evaluation"][1]["delta_to_first"]["tasks"]
    train_docs = {json.loads(line)["doc_id"] for path in (folder / "pairs" / "train").glob("*.jsonl")
                  for line in path.read_text().splitlines()}
    qrels = (folder / "held-out-queries" / "qrels" / "test.tsv").read_text().splitlines()[1:]
    assert qrels and not {line.split("\t")[1] for line in qrels} & train_docs  # held out by document

    settings.training.lr = 1e-4
    with pytest.raises(ConfigError, match="other settings"):
        AdaptRun(settings)


def _values(means, spread=0.05, count=200, seed=0):
    """Per-unit scores for each task, spread around the given means (each task's mean exactly as given)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, mean in means.items():
        noise = rng.normal(0, spread, count)
        out[name] = mean + noise - noise.mean()
    return out


def _units(values):
    return {name: mean_of(per_unit) for name, per_unit in values.items()}


def test_general_guard_refuses_a_task_lost_significantly_even_when_the_average_holds():
    base = _values({"a": 0.60, "b": 0.70})
    # a gains 3 points, b loses 2.5: the average rises by a quarter point but b's loss is large and consistent
    candidate = _units({"a": base["a"] + 0.03, "b": base["b"] - 0.025})
    guard = general_guard(_units(base), candidate, SelectionSettings(max_general_drop=0.005, max_task_drop=0.01))
    assert guard["average"] == pytest.approx(0.6525)
    assert list(guard["lost"]) == ["b"] and guard["lost"]["b"] == pytest.approx(-0.025)
    assert not guard["passed"]
    assert general_guard(_units(base), candidate, SelectionSettings(max_task_drop=None))["passed"]
    assert general_guard(_units(base), candidate, SelectionSettings(max_task_drop=0.03))["passed"]


def test_general_guard_lets_a_small_or_uncertain_task_drop_pass_and_still_checks_the_average():
    base = _values({"a": 0.60, "b": 0.70})
    small = _units({"a": base["a"], "b": base["b"] - 0.004})  # significant but under one point
    assert general_guard(_units(base), small, SelectionSettings())["passed"]
    noise = np.random.default_rng(1).normal(0, 0.5, 200)
    noisy = _units({"a": base["a"], "b": base["b"] - 0.015 + noise - noise.mean()})  # its interval spans 0
    guard = general_guard(_units(base), noisy, SelectionSettings(max_general_drop=1.0))
    assert guard["tasks"]["b"]["low"] < 0 < guard["tasks"]["b"]["high"] and guard["passed"]
    lower = _units({"a": base["a"] - 0.008, "b": base["b"] - 0.008})  # each task under a point, the average not
    assert not general_guard(_units(base), lower, SelectionSettings(max_general_drop=0.005))["passed"]


def test_general_guard_wants_the_average_within_the_drop_with_confidence_not_only_on_average():
    """A point average at the base's, with an interval reaching below −max_general_drop, is not enough."""
    base = _values({"a": 0.60, "b": 0.70}, count=40)
    noise = np.random.default_rng(2).normal(0, 0.3, (2, 40))
    uncertain = _units({"a": base["a"] + noise[0] - noise[0].mean(), "b": base["b"] + noise[1] - noise[1].mean()})
    guard = general_guard(_units(base), uncertain, SelectionSettings(max_general_drop=0.005))
    assert guard["average"] == pytest.approx(0.65) and guard["change"]["delta"] == pytest.approx(0.0, abs=1e-12)
    assert guard["change"]["low"] < -0.005 and not guard["passed"]
    assert general_guard(_units(base), uncertain, SelectionSettings(max_general_drop=0.5))["passed"]
