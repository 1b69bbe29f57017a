"""Training across processes (gloo, 2 CPU processes under torchrun) equals one process on the whole batch.

Each test launches ``distributed_worker.py`` with torchrun, the way users start a job, and compares
with the same worker run in this process at world size 1 with the same global batch. Dropout is
off in the model, so both runs see the same embeddings, and the runs are in float64: in float32 the
rows summed in other orders round differently, and AdamW turns that into visible weight differences
wherever a gradient entry is close to zero.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from distributed_worker import run as run_in_process
from safetensors.torch import load_file
from test_curriculum_training import write_triples

from tests.helpers import write_source

WORKER = Path(__file__).with_name("distributed_worker.py")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def no_dropout_model(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-no-dropout")
    shutil.copytree(tiny_model_dir, folder, dirs_exist_ok=True)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sources")
    return [write_source(folder / "alpha.jsonl", 60, negatives=2), write_source(folder / "beta.jsonl", 24, negatives=2)]


def overrides(model, sources, output_dir, *extra):
    return [f"model.name={model}", "model.max_seq_length=24", f"data.sources=[{', '.join(map(str, sources))}]",
            f"train.output_dir={output_dir}", "train.steps=4", "train.batch_size=8", "train.lr=1e-3",
            "train.save_every=2", "train.log_every=0", "train.warmup_ratio=0.25", "data.guard_tasks=[]",
            "train.device=cpu", *extra]


def torchrun(spec: dict, folder: Path, processes: int = 2) -> list[dict]:
    folder.mkdir(parents=True, exist_ok=True)
    spec_file = folder / "spec.json"
    spec_file.write_text(json.dumps(spec))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
         "--nproc-per-node", str(processes), str(WORKER), str(spec_file)],
        env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-4000:]
    return [json.loads((Path(spec["out"]) / f"rank{rank}.json").read_text()) for rank in range(processes)]


def assert_same_tensors(got: dict, expected: dict, rtol: float, floor: float) -> None:
    """Equal to ``rtol``, with entries near zero compared to ``rtol`` times the tensor's largest entry,
    and an absolute ``floor`` for tensors that are zero up to rounding (the gradient of an attention key
    bias, which softmax cancels)."""
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        atol = max(rtol * float(value.abs().max()), floor)
        torch.testing.assert_close(got[name], value, rtol=rtol, atol=atol, msg=lambda m, n=name: f"{n}: {m}")


CASES = {
    "gte-grad-cache-negatives-zero": ["loss.name=gte", "loss.temperature=0.05", "train.chunk_size=3",
                                      "data.negatives_per_query=2", "train.loss_block_size=3",
                                      "train.zero_optimizer=true"],
    "symmetric-trainable-scale-no-cache": ["loss.name=symmetric", "train.zero_optimizer=false"],
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_two_processes_equal_one_process_with_the_whole_batch(case, no_dropout_model, sources, tmp_path):
    assert_two_processes_equal_one(no_dropout_model, sources, tmp_path, *CASES[case])
    assert {source for source, _ in run_batches(tmp_path / "one-out")} == {"alpha", "beta"}  # both were drawn


def test_hard_negative_curriculum_across_ranks_equals_one_process(no_dropout_model, tmp_path):
    """The easy-to-hard window is a function of (pair, step): both ranks and the single process agree."""
    triples = write_triples(tmp_path / "triples.jsonl", 40)
    assert_two_processes_equal_one(no_dropout_model, [triples], tmp_path, "loss.name=gte", "train.chunk_size=3",
                                   "data.negatives_per_query=2", "data.curriculum={kind: easy_to_hard, pool: 5}")


@pytest.mark.parametrize("vocabulary", ["the-students", "its-own"])
def test_distillation_across_ranks_equals_one_process(vocabulary, no_dropout_model, sources, tmp_path):
    """The teacher's columns are gathered like the student's: each rank's rows see the whole batch's similarities,
    whether the teacher reads the student's token ids or the texts through its own tokenizer."""
    from tests.helpers import write_other_vocabulary_model, write_start_and_trained

    if vocabulary == "its-own":
        teacher = write_other_vocabulary_model(tmp_path / "teacher")
    else:
        _, teacher = write_start_and_trained(tmp_path / "teacher")
    assert_two_processes_equal_one(no_dropout_model, sources, tmp_path, "loss.name=gte", "loss.temperature=0.05",
                                   "train.chunk_size=3", "data.negatives_per_query=2", "train.loss_block_size=3",
                                   f"loss.distill_teacher={teacher}", "loss.distill_weight=0.5",
                                   weights_floor=1e-10)  # AdamW amplifies float64 rounding at a ~0 gradient


def test_matryoshka_and_false_negative_masks_across_ranks_equal_one_process(no_dropout_model, tmp_path):
    """The prefixes are taken inside the loss, and the text ids and the guide's columns are gathered like the
    embeddings: each rank's rows see the whole batch's masks, and the logged counts are the whole batch's."""
    from tests.helpers import write_duplicate_pairs, write_start_and_trained

    pairs = write_duplicate_pairs(tmp_path / "pairs.jsonl", 48)
    _, guide = write_start_and_trained(tmp_path / "guide")
    assert_two_processes_equal_one(no_dropout_model, [pairs], tmp_path, "loss.name=gte", "loss.temperature=0.05",
                                   "train.chunk_size=3", "data.negatives_per_query=2", "train.loss_block_size=3",
                                   "loss.matryoshka_dims=[32, 16, 8]", "loss.matryoshka_weights=[1, 0.5, 2]",
                                   "loss.mask_duplicates=true", f"loss.guide_model={guide}", "loss.guide_margin=0.02",
                                   weights_floor=1e-10)  # AdamW amplifies float64 rounding at a ~0 gradient

    def counts(run: str) -> list[tuple[int, int]]:
        lines = (tmp_path / run / "train_log.jsonl").read_text().splitlines()
        return [(record["masked_duplicates"], record["masked_by_guide"]) for record in map(json.loads, lines)]

    assert counts("two") == counts("one") and all(duplicates > 0 for duplicates, _ in counts("one"))


def run_batches(out: Path) -> list:
    return json.loads((out / "rank0.json").read_text())["batches"]


def assert_two_processes_equal_one(model, sources, tmp_path, *extra, weights_floor: float = 1e-12) -> None:
    single = run_in_process({"overrides": overrides(model, sources, tmp_path / "one", *extra),
                             "out": str(tmp_path / "one-out"), "first_gradients": True, "float64": True})
    ranks = torchrun({"overrides": overrides(model, sources, tmp_path / "two", *extra),
                      "out": str(tmp_path / "two-out"), "first_gradients": True, "float64": True},
                     tmp_path / "two-spec")

    for rank in ranks:
        assert rank["world_size"] == 2
        assert rank["first_loss"] == pytest.approx(single["first_loss"], rel=1e-10)
        assert rank["losses"] == pytest.approx(single["losses"], rel=1e-10)
    # the gradients DDP leaves on each rank are the single process's gradients on the whole batch
    expected_grads = load_file(str(tmp_path / "one-out" / "grads-rank0.safetensors"))
    for rank in (0, 1):
        got = load_file(str(tmp_path / "two-out" / f"grads-rank{rank}.safetensors"))
        assert_same_tensors(got, expected_grads, rtol=1e-9, floor=1e-15)
    assert_same_tensors(load_file(str(tmp_path / "two-out" / "weights.safetensors")),
                        load_file(str(tmp_path / "one-out" / "weights.safetensors")), rtol=1e-9, floor=weights_floor)

    # every step: both ranks draw the same source, and their rows are the two halves of the global batch
    for step, (whole, first, second) in enumerate(zip(single["batches"], ranks[0]["batches"], ranks[1]["batches"],
                                                       strict=True)):
        assert first[0] == second[0] == whole[0], f"step {step}: sources differ"
        assert first[1] + second[1] == whole[1]


def test_resume_across_ranks_is_exact(tiny_model_dir, sources, tmp_path):
    """With dropout on: each rank's random state comes back, so the resumed run matches the straight one."""
    def job(run: str, out: str, **spec) -> list[dict]:
        spec = {"overrides": overrides(tiny_model_dir, sources, tmp_path / run), "out": str(tmp_path / out), **spec}
        return torchrun(spec, tmp_path / f"{out}-spec")

    straight = job("a", "a-out")
    job("b", "b1-out", stop_after=2)
    resumed = job("b", "b2-out", resume=True)
    assert resumed[0]["step"] == 4
    assert resumed[0]["losses"] == pytest.approx(straight[0]["losses"][2:], rel=1e-6)
    assert resumed[0]["batches"] == straight[0]["batches"][2:]
    assert_same_tensors(load_file(str(tmp_path / "b2-out" / "weights.safetensors")),
                        load_file(str(tmp_path / "a-out" / "weights.safetensors")), rtol=1e-6, floor=1e-9)
    checkpoint = sorted((tmp_path / "b" / "checkpoints").glob("step-*"))[-1]
    assert set(load_file(str(checkpoint / "rng.safetensors"))) == {"rank0.torch", "rank1.torch"}
