"""The hard-negative curriculum in training: off by default (batches as before), the window the trainer
uses step by step, the same batches on resume with workers and the gradient cache, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from gtekit.cli.main import main
from gtekit.config import ConfigError, load_recipe
from gtekit.data.negative_scores import NegativeRequirements
from gtekit.data.pairs import PairFormatError, read_pairs
from gtekit.data.streaming import write_mixture
from gtekit.training.trainer import Trainer

RECIPES_DIR = Path(__file__).resolve().parents[2] / "recipes"
NEGATIVES = 6


@pytest.fixture(autouse=True)
def one_thread():
    """A tiny model gains nothing from intra-op threads, and loses much when the cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def negative_score(i: int, j: int) -> float:
    """A fixed shuffle: negative j of row i is neither listed in score order nor the same order in every row."""
    return round(0.1 + 0.1 * ((j * 5 + i) % NEGATIVES), 2)


def write_triples(path: Path, n: int, negatives: int = NEGATIVES, scores: bool = True) -> Path:
    """Rows whose negative j is the text 'neg i j' (so a batch can be read back), with mining scores."""
    with open(path, "w") as handle:
        for i in range(n):
            row = {"query": f"query {i}", "positive": f"positive {i}",
                   "negatives": [f"neg {i} {j}" for j in range(negatives)]}
            if scores:
                row |= {"positive_score": 0.9, "negative_scores": [negative_score(i, j) for j in range(negatives)]}
            handle.write(json.dumps(row) + "\n")
    return path


def make_recipe(tiny_model_dir, source, output_dir, *extra):
    return load_recipe(None, [
        f"model.name={tiny_model_dir}", "model.max_seq_length=16", f"data.sources=[{source}]",
        "data.negatives_per_query=2", "data.guard_tasks=[]", f"train.output_dir={output_dir}", "train.steps=8",
        "train.batch_size=4", "train.lr=1e-3", "train.save_every=2", "train.log_every=0", "train.data_workers=0",
        "train.keep_checkpoints=5", *extra])


def record_batches(trainer: Trainer) -> list[list[tuple[int, list[str]]]]:
    """What each step trains on, as (example index, the negatives it contributed) per row, read back from
    the token ids of the negatives column (reassembled when the gradient cache split it into chunks)."""
    steps: list[list[tuple[int, list[str]]]] = []
    next_batch = trainer.batches.next
    k = trainer.recipe.data.negatives_per_query

    def next_and_record():
        batch = next_batch()
        texts: list[str] = [""] * (len(batch.rows) * k)
        for chunk in batch.groups[2]:
            decoded = trainer.model.tokenizer.batch_decode(chunk.features["input_ids"], skip_special_tokens=True)
            for index, text in zip(chunk.indices.tolist(), decoded, strict=True):
                texts[index] = text
        steps.append([(row, texts[r * k:(r + 1) * k]) for r, row in enumerate(batch.rows)])
        return batch

    trainer.batches.next = next_and_record
    return steps


def hardest_first(i: int) -> list[int]:
    return sorted(range(NEGATIVES), key=lambda j: -negative_score(i, j))


def test_off_by_default_each_pair_gives_its_first_negatives_as_listed(tiny_model_dir, tmp_path):
    source = write_triples(tmp_path / "triples.jsonl", 16)
    default = Trainer(make_recipe(tiny_model_dir, source, tmp_path / "a", "train.steps=4"))
    assert default.recipe.data.curriculum.kind == "none" and default.curriculum is None
    assert default.sources[0].pairs[0].negative_scores is None  # scores are not even read
    seen = record_batches(default)
    losses = default.train().losses
    assert len(seen) == 4
    for batch in seen:  # the behaviour before the curriculum existed: negatives[:K], whatever the scores
        assert all(texts == [f"neg {row} 0", f"neg {row} 1"] for row, texts in batch)
    ignored = Trainer(make_recipe(tiny_model_dir, source, tmp_path / "b", "train.steps=4",
                                  "data.curriculum={kind: none, pool: 5, hold: 0.5}"))
    seen_ignored = record_batches(ignored)
    assert ignored.train().losses == losses and seen_ignored == seen


def test_the_trainer_slides_the_window_from_easiest_to_hardest(tiny_model_dir, tmp_path):
    source = write_triples(tmp_path / "triples.jsonl", 16)
    on = ("data.curriculum.kind=easy_to_hard", "data.curriculum.hold=0.25")
    trainer = Trainer(make_recipe(tiny_model_dir, source, tmp_path / "run", *on))
    seen = record_batches(trainer)
    trainer.train()
    assert len(seen) == 8
    pairs, _ = read_pairs(source, requirements=NegativeRequirements(keep_scores=True))
    mixture = write_mixture(tmp_path / "mixture", {"triples": [pairs]}).parent  # the same rows, streamed
    streamed = Trainer(make_recipe(tiny_model_dir, mixture, tmp_path / "streamed", *on))
    seen_streamed = record_batches(streamed)
    streamed.train()
    assert seen_streamed == seen
    windows = []
    for batch in seen:
        ranks = {hardest_first(row).index(int(text.split()[-1])) for row, texts in batch for text in texts}
        windows.append(sorted(ranks))  # the same hardest-first ranks for every row of a step
        assert all(len(texts) == 2 for _, texts in batch)
    # 6 ranked, 2 used: 5 positions over the first 75% of 8 steps (6 steps, c = floor(s * 5 / 6)), then hold
    assert windows == [[4, 5], [4, 5], [3, 4], [2, 3], [1, 2], [0, 1], [0, 1], [0, 1]]


def test_resume_data_workers_and_gradient_cache_give_the_same_batches(tiny_model_dir, tmp_path):
    source = write_triples(tmp_path / "triples.jsonl", 16)
    on = ("data.curriculum={kind: easy_to_hard, pool: 5}", "train.chunk_size=3")  # chunks of 3 texts
    whole = Trainer(make_recipe(tiny_model_dir, source, tmp_path / "whole", *on))
    seen_whole = record_batches(whole)
    losses = whole.train().losses
    split = ("train.data_workers=2",)
    first = Trainer(make_recipe(tiny_model_dir, source, tmp_path / "split", *on, *split))
    seen = record_batches(first)
    part = first.train(stop_after=3).losses
    resumed = Trainer(make_recipe(tiny_model_dir, source, tmp_path / "split", *on, *split))
    seen_rest = record_batches(resumed)
    rest = resumed.train(resume=True).losses
    assert seen + seen_rest == seen_whole and len(seen_whole) == 8 and len(seen) == 3
    assert part + rest == pytest.approx(losses, rel=1e-4)
    plain = Trainer(make_recipe(tiny_model_dir, source, tmp_path / "plain", *on, "train.chunk_size=0"))
    seen_plain = record_batches(plain)
    plain.train()
    assert seen_plain == seen_whole  # the gradient cache only splits what was chosen
    assert {text for _, texts in seen[0] for text in texts} != {text for _, texts in seen_rest[-1] for text in texts}


def test_too_few_negatives_names_the_file_and_line_or_is_skipped(tiny_model_dir, tmp_path):
    source = write_triples(tmp_path / "short.jsonl", 8, negatives=3)
    recipe = make_recipe(tiny_model_dir, source, tmp_path / "run", "data.curriculum={kind: easy_to_hard, pool: 4}")
    with pytest.raises(PairFormatError) as caught:
        Trainer(recipe)
    assert str(caught.value) == f"{source}:1: field 'negatives': 3 negatives, fewer than the 4 required"
    assert "gtekit mine --num-negatives 4" in "\n".join(caught.value.__notes__)
    with open(source, "a") as handle:  # 4 good rows after the 8 short ones
        handle.writelines(json.dumps({"query": f"q {i}", "positive": f"p {i}", "negatives": ["a", "b", "c", "d"]})
                          + "\n" for i in range(4))
    skipping = Trainer(make_recipe(tiny_model_dir, source, tmp_path / "skip", "data.skip_invalid=true",
                                   "data.curriculum={kind: easy_to_hard, pool: 4}", "train.steps=2"))
    assert len(skipping.sources[0].pairs) == 4 and len(skipping.sources[0].skipped) == 8
    assert all(torch.isfinite(torch.tensor(skipping.train().losses)))


@pytest.mark.parametrize("overrides, message", [
    (["data.curriculum.kind=hardest"], "data.curriculum.kind: unknown value 'hardest'; valid: none, easy_to_hard"),
    (["data.curriculum.kind=easy_to_hard", "data.negatives_per_query=0"], "set data.negatives_per_query"),
    (["data.curriculum={kind: easy_to_hard, pool: 2}"], "pool=2 leaves no choice with data.negatives_per_query=2"),
    (["data.curriculum.pool=-1"], "data.curriculum.pool must be >= 0"),
    (["data.curriculum.hold=1.0"], r"data.curriculum.hold must be in \[0, 1\) \(a share of the steps\), got 1.0"),
    (["data.curriculum.window=3"], "unknown key 'data.curriculum.window'; valid keys in 'data.curriculum': kind, pool"),
    (["data.curriculum.kind=[a]"], "data.curriculum.kind: expected str"),
])
def test_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message) as caught:
        load_recipe(None, ["data.negatives_per_query=2", *overrides])
    assert str(caught.value).startswith("recipe: ")


@pytest.mark.parametrize("size", ["small", "base", "large"])
def test_finetune_recipes_carry_the_option_switched_off(size):
    path = RECIPES_DIR / f"gte-{size}-finetune.yaml"
    curriculum = load_recipe(path).data.curriculum
    assert curriculum.kind == "none" and curriculum.pool > load_recipe(path).data.negatives_per_query
    assert "--set data.curriculum.kind=easy_to_hard" in path.read_text()
    on = load_recipe(path, ["data.curriculum.kind=easy_to_hard"])
    assert on.data.curriculum.kind == "easy_to_hard"


def test_dry_run_of_a_finetune_recipe_with_the_curriculum(tmp_path, capsys):
    copy = tmp_path / "recipes" / "gte-small-finetune.yaml"  # its data folder is missing here: sample data
    copy.parent.mkdir()
    shutil.copy(RECIPES_DIR / copy.name, copy)
    output = tmp_path / "dry-run"
    code = main(["train", str(copy), "--dry-run", "--output-dir", str(output),
                 "--set", "data.curriculum.kind=easy_to_hard"])
    assert code == 0 and "dry run passed: 2 steps" in capsys.readouterr().out
    rows = [json.loads(line) for line in (output / "data" / "stdlib-http.jsonl").read_text().splitlines()]
    assert {len(row["negatives"]) for row in rows} == {load_recipe(copy).data.curriculum.pool}
