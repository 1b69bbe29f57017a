"""``gtekit adapt`` end to end on a small generated corpus with the tiny model: every step's files, the
report, resume after an interruption, and settings that changed refused."""

import json
import random

import pytest

from gtekit.adapt.adapt_run import STEPS, AdaptRun, adapt
from gtekit.adapt.adapt_settings import AdaptSettings, SelectionSettings, TrainingSettings
from gtekit.adapt.pair_set import PairSettings
from gtekit.config import ConfigError

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
