"""The training loop: exact resume, crash-safe checkpoints, every loss trains, hard negatives."""

from __future__ import annotations

import json

import pytest
import torch

from gtekit.config import load_recipe
from gtekit.training import checkpoint as checkpoint_module
from gtekit.training.checkpoint import latest_checkpoint, list_checkpoints
from gtekit.training.trainer import Trainer
from tests.helpers import write_source


@pytest.fixture
def sources(tmp_path):
    return [write_source(tmp_path / "alpha.jsonl", 40, negatives=2), write_source(tmp_path / "beta.jsonl", 12)]


def make_recipe(tiny_model_dir, sources, output_dir, *extra):
    return load_recipe(None, [
        f"model.name={tiny_model_dir}", "model.max_seq_length=32",
        f"data.sources=[{', '.join(str(s) for s in sources)}]",
        f"train.output_dir={output_dir}", "train.steps=6", "train.batch_size=4", "train.lr=1e-3",
        "train.save_every=2", "train.log_every=0", "train.keep_checkpoints=5", "data.guard_tasks=[]", *extra])


def weights(trainer):
    return {k: v.clone() for k, v in trainer.parts.state_dict().items()}


def test_resume_ends_with_the_same_weights(tiny_model_dir, sources, tmp_path):
    uninterrupted = Trainer(make_recipe(tiny_model_dir, sources, tmp_path / "a"))
    full = uninterrupted.train()
    stopped = Trainer(make_recipe(tiny_model_dir, sources, tmp_path / "b"))
    first = stopped.train(stop_after=3)
    assert first.steps == 3 and latest_checkpoint(tmp_path / "b" / "checkpoints").name == "step-0000003"
    resumed = Trainer(make_recipe(tiny_model_dir, sources, tmp_path / "b"))
    second = resumed.train(resume=True)
    assert second.steps == 6
    assert first.losses + second.losses == pytest.approx(full.losses, rel=1e-6)
    for name, value in weights(uninterrupted).items():
        torch.testing.assert_close(weights(resumed)[name], value, rtol=0, atol=1e-6, msg=name)
    assert (tmp_path / "b" / "model" / "model.safetensors").is_file()


def test_interrupted_checkpoint_write_keeps_the_previous_one(tiny_model_dir, sources, tmp_path, monkeypatch):
    trainer = Trainer(make_recipe(tiny_model_dir, sources, tmp_path / "run"))
    trainer.train(stop_after=2)
    before = latest_checkpoint(tmp_path / "run" / "checkpoints")
    real_save_file = checkpoint_module.save_file

    def crash_midway(tensors, filename, *args, **kwargs):
        real_save_file(tensors, filename, *args, **kwargs)
        if filename.endswith("optimizer.safetensors"):
            raise KeyboardInterrupt("simulated crash while writing a checkpoint")

    monkeypatch.setattr(checkpoint_module, "save_file", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(stop_after=2)  # reaches step 4, crashes while saving it
    monkeypatch.undo()
    assert latest_checkpoint(tmp_path / "run" / "checkpoints") == before
    assert [p.name for p in list_checkpoints(tmp_path / "run" / "checkpoints")] == ["step-0000002"]
    fresh = Trainer(make_recipe(tiny_model_dir, sources, tmp_path / "run"))
    assert fresh.resume() and fresh.step == 2


@pytest.mark.parametrize("loss", ["gte", "infonce", "symmetric"])
def test_every_loss_trains(tiny_model_dir, sources, tmp_path, loss):
    recipe = make_recipe(tiny_model_dir, sources, tmp_path / loss, f"loss.name={loss}", "train.steps=4",
                         "loss.temperature=0.05")
    trainer = Trainer(recipe)
    start = weights(trainer)
    result = trainer.train()
    assert len(result.losses) == 4 and all(torch.isfinite(torch.tensor(result.losses)))
    changed = [k for k, v in weights(trainer).items() if not torch.equal(v, start[k])]
    assert any("encoder" in k for k in changed)
    if loss == "symmetric":
        assert "logit_scale.value" in changed


def test_hard_negatives_and_log(tiny_model_dir, tmp_path):
    source = write_source(tmp_path / "triples.jsonl", 16, negatives=3)
    recipe = make_recipe(tiny_model_dir, [source], tmp_path / "neg", "data.negatives_per_query=3", "train.steps=2")
    Trainer(recipe).train()
    log = [json.loads(line) for line in (tmp_path / "neg" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2]
    assert {"loss", "lr", "pairs_per_s", "tokens_per_s", "source"} <= set(log[0])
    too_many = make_recipe(tiny_model_dir, [source], tmp_path / "neg2", "data.negatives_per_query=4")
    with pytest.raises(ValueError, match="has only 3 negatives"):
        Trainer(too_many).train()


def test_warmup_then_linear_decay(tiny_model_dir, sources, tmp_path):
    recipe = make_recipe(tiny_model_dir, sources, tmp_path / "lr", "train.steps=20", "train.warmup_ratio=0.1")
    trainer = Trainer(recipe)
    rates = []
    for _ in range(20):
        rates.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.optimizer.step()
        trainer.scheduler.step()
    assert rates[0] == pytest.approx(5e-4) and rates[1] == pytest.approx(1e-3)
    assert rates[2] > rates[3] > rates[19] > 0


def test_validation_every_n_steps_keeps_the_best_model(tiny_model_dir, sources, tmp_path):
    pairs = tmp_path / "sts.csv"
    pairs.write_text("s1,s2,score\n" + "".join(f"item {i} thing,item {i} is a thing,{i % 5}\n" for i in range(12)))
    spec = tmp_path / "sts.yaml"
    spec.write_text(json.dumps({"name": "TinySTS", "type": "STS",
                                "data": {"path": "sts.csv", "text1": "s1", "text2": "s2"}}))
    recipe = make_recipe(tiny_model_dir, sources, tmp_path / "val", "eval.every=2", f"eval.task_files=[{spec}]",
                         "train.steps=4")
    trainer = Trainer(recipe)
    trainer.train()
    log = [json.loads(line) for line in (tmp_path / "val" / "train_log.jsonl").read_text().splitlines()]
    validations = [r for r in log if "validation" in r]
    assert [r["step"] for r in validations] == [2, 4]
    best = max(validations, key=lambda r: r["validation_mean"])
    assert validations[-1]["best_step"] == best["step"] == trainer.validation.best_step
    assert (tmp_path / "val" / "best_model" / "model.safetensors").is_file()
    with pytest.raises(ValueError, match=r"eval\.every is set"):
        Trainer(make_recipe(tiny_model_dir, sources, tmp_path / "v2", "eval.every=2"))


def test_refuses_to_train_on_an_evaluation_split(tiny_model_dir, tmp_path):
    from gtekit.evaluation.tasks.sts import load_stsb

    test = load_stsb("test")
    leaked = tmp_path / "leaked.jsonl"
    leaked.write_text("".join(json.dumps({"query": f"question {i}", "positive": f"answer {i}"}) + "\n"
                              for i in range(8)) + json.dumps({"query": test.sentences1[5].upper(),
                                                              "positive": "x"}) + "\n")
    recipe = make_recipe(tiny_model_dir, [leaked], tmp_path / "g", "data.guard_tasks=[STSBenchmark]")
    with pytest.raises(ValueError, match=r"repeats 1 text.* STSBenchmark"):
        Trainer(recipe)
    clean = write_source(tmp_path / "clean.jsonl", 8)
    Trainer(make_recipe(tiny_model_dir, [clean], tmp_path / "g2", "data.guard_tasks=[STSBenchmark]"))


@pytest.mark.parametrize("loss", ["gte", "symmetric", "gte-distilled"])
def test_gradient_cache_trains_like_one_big_batch(tiny_model_dir, sources, tmp_path, loss):
    """With dropout off, `train.chunk_size` changes how the batch is encoded, not what is learned (a teacher's
    distillation term included: its columns are constants of the step)."""
    from gtekit import Embedder
    from tests.helpers import write_start_and_trained

    teacher = []
    if loss == "gte-distilled":
        teacher = [f"loss.distill_teacher={write_start_and_trained(tmp_path / 'teacher')[1]}", "loss.distill_weight=2"]

    def run(chunk_size):
        model = Embedder.load(tiny_model_dir, max_seq_length=32)
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        recipe = make_recipe(tiny_model_dir, sources, tmp_path / f"{loss}-{chunk_size}",
                             f"loss.name={loss.removesuffix('-distilled')}", "loss.temperature=0.05",
                             "train.steps=3", f"train.chunk_size={chunk_size}", *teacher,
                             "data.negatives_per_query=0" if loss == "symmetric" else "train.batch_size=4")
        trainer = Trainer(recipe, model=model)
        return trainer.train().losses, weights(trainer)

    plain_losses, plain_weights = run(0)
    cached_losses, cached_weights = run(3)
    assert cached_losses == pytest.approx(plain_losses, rel=1e-5)
    for name, value in plain_weights.items():
        if "attention.self.key.bias" in name:  # true gradient is 0: AdamW amplifies rounding noise either way
            continue
        torch.testing.assert_close(cached_weights[name], value, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("setting", ["train.gradient_checkpointing=true", "train.recompute=selective",
                                     "train.prefetch=false", "train.loss_block_size=1"])
def test_memory_and_speed_levers_do_not_change_training(tiny_model_dir, sources, tmp_path, setting):
    """Gradient checkpointing and selective recomputation (dropout replayed by torch.utils.checkpoint),
    tokenizing on the calling thread and a row-blocked loss give the same run as the defaults, dropout
    included; float64 so that float32 rounding of differently shaped sums does not hide a real difference."""
    from gtekit import Embedder

    def run(*extra):
        recipe = make_recipe(tiny_model_dir, sources, tmp_path / f"run-{len(extra)}", "train.steps=3",
                             "train.chunk_size=3", *extra)
        trainer = Trainer(recipe, model=Embedder.load(tiny_model_dir, max_seq_length=32).double())
        encoder = trainer.model.encoder
        checkpointing = getattr(encoder, "is_activation_checkpointing", None)
        if checkpointing is None:  # transformers 4.x
            checkpointing = encoder.is_gradient_checkpointing
        assert checkpointing == any(lever in " ".join(extra) for lever in ("gradient_checkpointing", "recompute"))
        return trainer.train().losses, weights(trainer)

    default_losses, default_weights = run()
    losses, trained = run(setting)
    assert losses == pytest.approx(default_losses, rel=1e-10)
    for name, value in default_weights.items():
        torch.testing.assert_close(trained[name], value, rtol=1e-9, atol=1e-12, msg=name)


def test_stopping_and_continuing_the_same_trainer_skips_no_batch(tiny_model_dir, sources, tmp_path):
    """The batch prefetched during the last step is dropped and the sampler rewound when train() returns."""
    straight = Trainer(make_recipe(tiny_model_dir, sources, tmp_path / "a", "train.save_every=0"))
    drawn_straight = []
    take = straight.batches.next
    straight.batches.next = lambda: drawn_straight.append((batch := take()).rows) or batch
    straight.train()

    paused = Trainer(make_recipe(tiny_model_dir, sources, tmp_path / "b", "train.save_every=0"))
    drawn_paused = []
    take_paused = paused.batches.next
    paused.batches.next = lambda: drawn_paused.append((batch := take_paused()).rows) or batch
    paused.train(stop_after=2)
    paused.train()
    assert drawn_paused == drawn_straight


def test_a_max_seq_length_beyond_the_models_positions_is_refused(tiny_model_dir, sources, tmp_path):
    from gtekit.config import ConfigError

    recipe = make_recipe(tiny_model_dir, sources, tmp_path / "run", "model.max_seq_length=200")  # 128 positions
    with pytest.raises(ConfigError, match=r"model.max_seq_length=200 is more than the 128 positions of model .*"
                                          r"\(max_position_embeddings in its config\): set it in \[1, 128\]"):
        Trainer(recipe)


def test_distillation_adds_the_teacher_term(tiny_model_dir, sources, tmp_path):
    """A teacher equal to the start adds 0 at the first step (dropout off); another teacher adds a positive term."""
    from gtekit import Embedder
    from tests.helpers import write_start_and_trained

    def first_loss(name, *extra):
        model = Embedder.load(tiny_model_dir, max_seq_length=32)
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        recipe = make_recipe(tiny_model_dir, sources, tmp_path / name, "train.steps=1", "train.batch_size=4", *extra)
        return Trainer(recipe, model=model).train().losses[0]

    plain = first_loss("plain")
    assert first_loss("start", "loss.distill_teacher=start") == pytest.approx(plain, abs=1e-6)
    other = write_start_and_trained(tmp_path / "teacher")[1]
    assert first_loss("other", f"loss.distill_teacher={other}", "loss.distill_weight=100") > plain + 1e-3


def test_a_teacher_with_another_vocabulary_reads_the_batch_in_its_own_tokens(tiny_model_dir, sources, tmp_path):
    """One renamed token is another vocabulary: the teacher is not refused, and the batches carry its tokens
    (the guide, which reads the student's token ids, is still refused: tests/training/test_objective.py)."""
    from gtekit import Embedder

    teacher = tmp_path / "teacher"
    Embedder.load(tiny_model_dir).save(teacher)
    tokenizer = json.loads((teacher / "tokenizer.json").read_text())
    vocabulary = tokenizer["model"]["vocab"]
    vocabulary["[unused-x]"] = vocabulary.pop(max(vocabulary, key=vocabulary.get))  # one token renamed
    (teacher / "tokenizer.json").write_text(json.dumps(tokenizer))
    trainer = Trainer(make_recipe(tiny_model_dir, sources, tmp_path / "run", f"loss.distill_teacher={teacher}"))
    assert trainer.step_parts.objective.teacher.own_tokens
    assert trainer.preparer.teacher_tokenizer is not None
