"""The loss section's additions in training: Matryoshka prefixes and in-batch false-negative masks (same text, a
guide model) train alike with and without the gradient cache and row blocks, the masked logits are counted in
the log as a naive loop over the batch's texts counts them, and the trained dims are saved with the model."""

from __future__ import annotations

import json

import pytest
import torch

from gtekit import Embedder
from gtekit.config import ConfigError, load_recipe
from gtekit.training.batches import text_ids
from gtekit.training.objective import Objective
from gtekit.training.trainer import Trainer
from tests.helpers import write_duplicate_pairs, write_other_vocabulary_model, write_start_and_trained

MATRYOSHKA = ["loss.matryoshka_dims=[32, 16, 8]", "loss.matryoshka_weights=[1, 0.5, 2]"]


@pytest.fixture
def pairs(tmp_path):
    return write_duplicate_pairs(tmp_path / "pairs.jsonl", 40)


@pytest.fixture
def guide(tmp_path):
    return write_start_and_trained(tmp_path / "guide")[1]


@pytest.fixture
def other_vocabulary(tmp_path):
    return write_other_vocabulary_model(tmp_path / "other-vocabulary")


def make_recipe(model_dir, pairs, output_dir, *extra):
    return load_recipe(None, [
        f"model.name={model_dir}", "model.max_seq_length=32", f"data.sources=[{pairs}]", "data.negatives_per_query=2",
        f"train.output_dir={output_dir}", "train.steps=3", "train.batch_size=8", "train.lr=1e-3", "train.save_every=0",
        "train.log_every=0", "data.guard_tasks=[]", "train.data_workers=0", "loss.name=gte", "loss.temperature=0.05",
        *extra])


def no_dropout(model_dir) -> Embedder:
    model = Embedder.load(model_dir, max_seq_length=32).double()
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model


@pytest.mark.parametrize("setting", ["matryoshka", "mask-duplicates-guide-teacher-matryoshka",
                                     "teacher-with-its-own-vocabulary"])
def test_gradient_cache_and_row_blocks_train_like_one_big_batch(tiny_model_dir, pairs, guide, other_vocabulary,
                                                               tmp_path, setting):
    """With dropout off, float64: the cache's backward gets the gradient of the whole loss (every prefix, every
    mask, the teacher's term) with respect to the full embeddings; a teacher with another tokenizer is chunked
    on its own tokens."""
    extra = list(MATRYOSHKA)
    if setting == "mask-duplicates-guide-teacher-matryoshka":
        extra += ["loss.mask_duplicates=true", f"loss.guide_model={guide}", "loss.guide_margin=0.02",
                  f"loss.distill_teacher={guide}", "loss.distill_weight=2"]
    elif setting == "teacher-with-its-own-vocabulary":
        extra += [f"loss.distill_teacher={other_vocabulary}", "loss.distill_weight=400"]

    def run(*levers):
        trainer = Trainer(make_recipe(tiny_model_dir, pairs, tmp_path / f"run-{len(levers)}", *extra, *levers),
                          model=no_dropout(tiny_model_dir))
        return trainer.train().losses, {k: v.clone() for k, v in trainer.parts.state_dict().items()}

    plain_losses, plain_weights = run()
    cached_losses, cached_weights = run("train.chunk_size=3", "train.loss_block_size=3")
    assert cached_losses == pytest.approx(plain_losses, rel=1e-10)
    for name, value in plain_weights.items():
        torch.testing.assert_close(cached_weights[name], value, rtol=1e-8, atol=1e-10, msg=name)


def cos(a, b) -> float:
    return float(a @ b / (a.norm() * b.norm()))


def naive_counts(queries, positives, negatives, guide_vectors, margin):
    """(duplicates, by guide): the logits each rule removes from gte's four sums, one candidate at a time."""
    batch = len(queries)
    texts = {("q", j): queries[j] for j in range(batch)} | {("d", j): positives[j] for j in range(batch)} | \
        {("n", j, k): negatives[j][k] for j in range(batch) for k in range(len(negatives[j]))}
    documents = [key for key in texts if key[0] != "q"]
    duplicates = by_guide = 0
    for i in range(batch):
        candidates = [(("q", i), c) for c in documents if c != ("d", i)]  # q_i -> every other document
        candidates += [(("q", i), ("q", j)) for j in range(batch) if j != i]  # q_i -> q_j
        candidates += [(("d", i), ("q", j)) for j in range(batch) if j != i]  # q_j -> d_i
        candidates += [(("d", i), c) for c in documents if c[1] != i]  # d_i -> the other groups' documents
        threshold = cos(guide_vectors[("q", i)], guide_vectors[("d", i)]) - margin
        for anchor, candidate in candidates:
            duplicates += texts[candidate] in (queries[i], positives[i])
            by_guide += cos(guide_vectors[anchor], guide_vectors[candidate]) > threshold
    return duplicates, by_guide


def test_masked_logits_are_counted_in_the_log_and_the_dims_saved(tiny_model_dir, pairs, guide, tmp_path):
    trainer = Trainer(make_recipe(tiny_model_dir, pairs, tmp_path / "run", *MATRYOSHKA, "loss.mask_duplicates=true",
                                  f"loss.guide_model={guide}", "loss.guide_margin=0.02"))
    batches = []
    take = trainer.batches.next
    trainer.batches.next = lambda: batches.append(batch := take()) or batch
    trainer.train()
    rows = [json.loads(line) for line in pairs.read_text().splitlines()]
    guide_model = Embedder.load(guide).double().eval()
    records = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert len(records) == len(batches) == 3
    for record, batch in zip(records, batches, strict=True):
        pairs_ = [rows[i] for i in batch.rows]
        queries, positives = [p["query"] for p in pairs_], [p["positive"] for p in pairs_]
        negatives = [p["negatives"][:2] for p in pairs_]
        flat = [n for group in negatives for n in group]
        assert [ids.tolist() for ids in batch.text_ids] == [text_ids(t).tolist() for t in (queries, positives, flat)]
        with torch.no_grad():
            vectors = {key: vector for kind, texts, keys in (
                ("query", queries, [("q", j) for j in range(8)]), ("document", positives, [("d", j) for j in range(8)]),
                ("document", flat, [("n", j, k) for j in range(8) for k in range(2)]))
                for key, vector in zip(keys, guide_model(guide_model.tokenize(texts, kind)), strict=True)}
        duplicates, by_guide = naive_counts(queries, positives, negatives, vectors, 0.02)
        assert record["masked_duplicates"] == duplicates > 0
        assert record["masked_by_guide"] == by_guide > 0
    saved = json.loads((tmp_path / "run" / "model" / "gtekit_config.json").read_text())
    assert saved["matryoshka_dims"] == [32, 16, 8]
    assert Embedder.load(tmp_path / "run" / "model").settings.matryoshka_dims == [32, 16, 8]


def test_a_plain_run_logs_no_counts_and_records_no_dims(tiny_model_dir, pairs, tmp_path):
    Trainer(make_recipe(tiny_model_dir, pairs, tmp_path / "run", "train.steps=1")).train()
    record = json.loads((tmp_path / "run" / "train_log.jsonl").read_text())
    assert not [key for key in record if key.startswith("masked")]
    assert json.loads((tmp_path / "run" / "model" / "gtekit_config.json").read_text())["matryoshka_dims"] == []


def test_dims_beyond_the_models_dimension_are_refused(tiny_model_dir, pairs, tmp_path):
    recipe = make_recipe(tiny_model_dir, pairs, tmp_path / "run", "loss.matryoshka_dims=[64, 16]")
    with pytest.raises(ConfigError, match=r"loss.matryoshka_dims=\[64, 16\]: \[64\] more than the 32 dimensions of "
                                          r"model .*; give prefix sizes in \[1, 32\]"):
        Trainer(recipe)


@pytest.mark.parametrize(("override", "message"), [
    ("loss.matryoshka_dims=[32, 0]", r"loss.matryoshka_dims\[1\] must be >= 1, got 0"),
    ("loss.matryoshka_dims=[16, 16]", r"names a dimension twice; give each once, in any order"),
    ("loss.matryoshka_weights=[1, 2]", r"needs one weight per dimension of loss.matryoshka_dims=\[\]"),
    ("loss.guide_margin=-0.1", r"loss.guide_margin must be >= 0"),
])
def test_bad_matryoshka_and_guide_settings_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_recipe(None, [override])


def test_a_guide_with_another_vocabulary_is_refused(tiny_model_dir, pairs, tmp_path):
    other = tmp_path / "other"
    Embedder.load(tiny_model_dir).save(other)
    tokenizer = json.loads((other / "tokenizer.json").read_text())
    vocabulary = tokenizer["model"]["vocab"]
    vocabulary["[unused-x]"] = vocabulary.pop(max(vocabulary, key=vocabulary.get))  # one token renamed
    (other / "tokenizer.json").write_text(json.dumps(tokenizer))
    with pytest.raises(ValueError, match=r"loss.guide_model .* has another vocabulary than the student"):
        Trainer(make_recipe(tiny_model_dir, pairs, tmp_path / "run", f"loss.guide_model={other}"))


def test_a_teacher_with_its_own_vocabulary_embeds_the_batch_from_its_own_tokens(tiny_model_dir, pairs,
                                                                              other_vocabulary, tmp_path):
    """The teacher's columns are what the teacher embeds from the batch's texts through its own tokenizer and
    prefixes, in the batch's row order, whatever the chunking; the student still reads its own tokens."""
    trainer = Trainer(make_recipe(tiny_model_dir, pairs, tmp_path / "run", "train.chunk_size=3",
                                  f"loss.distill_teacher={other_vocabulary}"))
    teacher = trainer.step_parts.objective.teacher
    assert teacher.own_tokens
    batch = trainer.batches.next()
    trainer.batches.close()
    rows = [json.loads(line) for line in pairs.read_text().splitlines()]
    pairs_ = [rows[i] for i in batch.rows]
    columns = [([p["query"] for p in pairs_], "query"), ([p["positive"] for p in pairs_], "document"),
               ([n for p in pairs_ for n in p["negatives"][:2]], "document")]
    reference = Embedder.load(other_vocabulary).eval()
    with torch.no_grad():
        expected = [reference(reference.tokenize(texts, kind)) for texts, kind in columns]
    got = teacher.columns(batch)
    torch.testing.assert_close(got[0], expected[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got[1], expected[1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got[2], expected[2].view(8, 2, -1), rtol=1e-5, atol=1e-6)
    student_ids = {int(t) for chunk in batch.groups[0] for t in chunk.features["input_ids"].flatten()}
    teacher_ids = {int(t) for chunk in batch.teacher_groups[0] for t in chunk.features["input_ids"].flatten()}
    assert max(teacher_ids) < len(reference.tokenizer) < max(student_ids)


def test_text_ids_are_equal_for_equal_texts_only():
    ids = text_ids(["a cat", "a dog", "a cat", "", "a cat "])
    assert ids.dtype == torch.int64 and ids[0] == ids[2] and len(set(ids.tolist())) == 4


def test_the_default_objective_adds_nothing():
    def loss(*args, **kwargs):
        return torch.tensor(0.0)

    assert Objective().for_batch(loss, batch=None, group=None) == (loss, {})
