"""`train.bf16` against the fp32 run: the same tiny random model, data and seed, step by step.

bf16 autocast rounds the inputs of every matmul to an 8-bit mantissa, so the two runs do not end with
the same weights (after 8 steps they differ by ~3 % of how far the fp32 weights moved: AdamW turns small
gradient differences into full-size steps). What holds is that every step's loss stays within relative
RTOL = 2e-3 of the fp32 run's over STEPS = 8 steps, for every loss; on this model the largest gap
measured was 3.4e-4 (three losses, three seeds). The tolerance is for this tiny model: its sublayers add
little to the residual stream, so bf16 rounding moves its embeddings less than a trained model's.
"""

from __future__ import annotations

import pytest

from gtekit.config import load_recipe
from gtekit.training.trainer import Trainer
from tests.helpers import write_source

STEPS = 8
RTOL = 2e-3


def train_losses(tiny_model_dir, folder, *extra) -> list[float]:
    folder.mkdir()
    sources = [write_source(folder / "alpha.jsonl", 40, negatives=2), write_source(folder / "beta.jsonl", 12)]
    recipe = load_recipe(None, [
        f"model.name={tiny_model_dir}", "model.max_seq_length=32",
        f"data.sources=[{', '.join(str(s) for s in sources)}]", "data.guard_tasks=[]",
        f"train.output_dir={folder / 'run'}", f"train.steps={STEPS}", "train.batch_size=4", "train.lr=1e-3",
        "train.save_every=0", "train.log_every=0", "train.data_workers=0", "train.device=cpu", *extra])
    return Trainer(recipe).train().losses


@pytest.mark.parametrize("loss", ["gte", "infonce", "symmetric"])
def test_bf16_losses_stay_within_rtol_of_fp32(tiny_model_dir, tmp_path, loss):
    fp32 = train_losses(tiny_model_dir, tmp_path / "fp32", f"loss.name={loss}")
    bf16 = train_losses(tiny_model_dir, tmp_path / "bf16", f"loss.name={loss}", "train.bf16=true")
    assert len(fp32) == len(bf16) == STEPS
    assert bf16 != fp32  # autocast ran: the bf16 run is not the fp32 run again
    for step, (got, expected) in enumerate(zip(bf16, fp32, strict=True), start=1):
        assert got == pytest.approx(expected, rel=RTOL), f"step {step}"
