"""LoRA fine-tuning (``model.lora``): only the adapters train, the saved folder is the merged model that
gtekit and sentence-transformers load, and the gradient cache, resume and two processes give what plain
training, an uninterrupted run and one process give."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
import torch

from gtekit import Embedder
from gtekit.config import ConfigError, LoraConfig, load_recipe
from gtekit.training.lora import ADAPTER_DIR, add_lora, has_lora, lora_targets, require_peft
from gtekit.training.trainer import Trainer

LORA = "model.lora={r: 4, alpha: 8, dropout: 0.1}"
TEXTS = ["what is item 3 of alpha?", "item 5 is a beta thing 35", "an unrelated sentence about the sea", ""]


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {name: value.clone() for name, value in trainer.parts.state_dict().items()}


def is_adapter(name: str) -> bool:
    return ".lora_A." in name or ".lora_B." in name


def without_dropout(model: Embedder) -> Embedder:
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model


# ---------------------------------------------------------------------------------- configuration
def test_the_defaults_and_the_ranges_of_model_lora():
    recipe = load_recipe(None, ["model.lora={}"])
    assert recipe.model.lora == LoraConfig(r=16, alpha=32.0, dropout=0.05,
                                           target_modules=["query", "key", "value", "dense"])
    assert load_recipe(None, []).model.lora is None
    assert load_recipe(None, ["model.lora.r=8"]).model.lora.r == 8
    for override, message in [("model.lora.r=0", "model.lora.r must be >= 1"),
                              ("model.lora.alpha=0", "model.lora.alpha must be > 0"),
                              ("model.lora.dropout=1", r"model.lora.dropout must be in \[0, 1\)"),
                              ("model.lora.target_modules=[]", "model.lora.target_modules is empty"),
                              ("model.lora.rank=4", "unknown key 'model.lora.rank'")]:
        with pytest.raises(ConfigError, match=message):
            load_recipe(None, [override])
    with pytest.raises(ConfigError, match=r"train\.save_adapter writes the LoRA adapters: set model\.lora"):
        load_recipe(None, ["train.save_adapter=true"])
    with pytest.raises(ConfigError, match=r"model\.random_init"):
        load_recipe(None, ["model.lora={}", "model.random_init=true"])


def test_the_adapted_layers_are_named_in_full_and_the_pooler_is_left_out(tiny_embedder):
    targets = lora_targets(tiny_embedder.encoder, ["query", "dense"])
    assert targets == [f"encoder.layer.{i}.{name}" for i in range(2) for name in
                       ("attention.self.query", "attention.output.dense", "intermediate.dense", "output.dense")]
    with pytest.raises(ValueError, match=r"names none of the encoder's linear layers; .*: dense, key, query, value"):
        lora_targets(tiny_embedder.encoder, ["q_proj"])


def test_without_peft_the_error_says_how_to_install_it(tiny_recipe, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)  # `import peft` raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'gtekit\[lora\]'"):
        require_peft()
    with pytest.raises(ImportError, match=r"model.lora .* peft library, which is not installed"):
        Trainer(tiny_recipe(tmp_path / "run", LORA))


# ---------------------------------------------------------------------------------- what trains
def test_only_the_adapters_train_and_the_base_weights_do_not_change(tiny_recipe, tmp_path):
    trainer = Trainer(tiny_recipe(tmp_path / "run", LORA, "train.steps=3"))
    trained = [name for name, p in trainer.parts.named_parameters() if p.requires_grad]
    assert trained and all(is_adapter(name) for name in trained)
    assert len(trained) == 2 * 6 * 2  # 2 layers · (q, k, v, attention output, intermediate, output) · (A, B)
    assert not [name for name in trained if "pooler" in name]
    optimized = [p for group in trainer.optimizer.param_groups for p in group["params"]]
    assert len(optimized) == len(trained)
    before = weights(trainer)
    trainer.train()
    after = weights(trainer)
    for name, value in before.items():
        if is_adapter(name):
            continue
        assert torch.equal(after[name], value), name
    assert all(after[name].abs().max() > 0 for name in trained if ".lora_B." in name)  # B starts at 0 and moved


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")  # peft asks transformers 5
def test_the_saved_folder_is_the_merged_model_for_gtekit_sentence_transformers_and_peft(tiny_recipe, tiny_model_dir,
                                                                                      tmp_path):
    from peft import PeftModel
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel

    trainer = Trainer(tiny_recipe(tmp_path / "run", LORA, "train.steps=3", "train.save_adapter=true"))
    result = trainer.train()
    adapted = trainer.model.encode(TEXTS)  # the adapters apart from the frozen weights
    assert has_lora(trainer.model)  # saving merged a copy, not the training model

    loaded = Embedder.load(result.model_dir)
    assert not has_lora(loaded) and not (result.model_dir / "adapter_config.json").exists()
    assert not any("lora" in name for name in loaded.state_dict())
    merged = loaded.encode(TEXTS)
    torch.testing.assert_close(merged, adapted, rtol=1e-5, atol=1e-6)
    st = SentenceTransformer(str(result.model_dir), device="cpu").encode(TEXTS, convert_to_numpy=True)
    torch.testing.assert_close(st, merged, rtol=1e-5, atol=1e-6)
    base = Embedder.load(tiny_model_dir, max_seq_length=32).encode(TEXTS)
    assert abs(merged - base).max() > 1e-3  # the adapters changed the model

    adapter = result.model_dir / ADAPTER_DIR
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in adapter.iterdir()}
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_model_dir)
    encoder = PeftModel.from_pretrained(AutoModel.from_pretrained(tiny_model_dir), adapter)
    applied = Embedder(encoder, loaded.tokenizer, loaded.settings).encode(TEXTS)
    torch.testing.assert_close(applied, adapted, rtol=1e-5, atol=1e-6)


def test_saving_during_the_run_does_not_change_it(tiny_recipe, tmp_path):
    straight = Trainer(tiny_recipe(tmp_path / "a", LORA, "train.save_every=0"))
    full = straight.train()
    paused = Trainer(tiny_recipe(tmp_path / "b", LORA, "train.save_every=0", "train.save_adapter=true"))
    first = paused.train(stop_after=3)
    paused.save_model(tmp_path / "b" / "best_model")  # as validation does: the merge works on a copy
    assert paused.model.encoder.peft_config["default"].inference_mode is False  # the adapters still train
    second = paused.train()
    assert first.losses + second.losses == full.losses
    for name, value in weights(straight).items():
        assert torch.equal(weights(paused)[name], value), name


def test_gradient_cache_trains_like_one_big_batch(tiny_model_dir, tiny_recipe, tmp_path):
    """Without dropout (the encoder's and the adapters'), ``train.chunk_size`` changes how the batch is
    encoded, not what the adapters learn; float64, so that differently shaped sums round alike."""
    def run(chunk_size: int):
        recipe = tiny_recipe(tmp_path / f"run-{chunk_size}", "model.lora={r: 4, dropout: 0}", "train.steps=3",
                             "loss.temperature=0.05", f"train.chunk_size={chunk_size}")
        model = without_dropout(Embedder.load(tiny_model_dir, max_seq_length=32)).double()
        trainer = Trainer(recipe, model=model)
        return trainer.train().losses, weights(trainer)

    plain_losses, plain_weights = run(0)
    cached_losses, cached_weights = run(3)
    assert cached_losses == pytest.approx(plain_losses, rel=1e-10)
    assert any(is_adapter(name) for name in plain_weights)
    for name, value in plain_weights.items():
        torch.testing.assert_close(cached_weights[name], value, rtol=1e-8, atol=1e-10, msg=name)


@pytest.mark.parametrize("lever", ["train.recompute=selective", "train.gradient_checkpointing=true"])
def test_recomputing_activations_changes_nothing(tiny_model_dir, tiny_recipe, tmp_path, lever):
    """Recomputation is enabled on the wrapped encoder (dropout replayed); float64, as in test_trainer."""
    def run(*extra):
        recipe = tiny_recipe(tmp_path / f"run-{len(extra)}", LORA, "train.steps=3", "train.chunk_size=3", *extra)
        trainer = Trainer(recipe, model=Embedder.load(tiny_model_dir, max_seq_length=32).double())
        base = trainer.model.encoder.get_base_model()
        checkpointing = getattr(base, "is_activation_checkpointing", None)
        if checkpointing is None:  # transformers 4.x
            checkpointing = base.is_gradient_checkpointing
        assert checkpointing == bool(extra)
        return trainer.train().losses, weights(trainer)

    default_losses, default_weights = run()
    losses, trained = run(lever)
    assert losses == pytest.approx(default_losses, rel=1e-10)
    for name, value in default_weights.items():
        torch.testing.assert_close(trained[name], value, rtol=1e-9, atol=1e-12, msg=name)


def test_resume_ends_with_the_same_weights(tiny_recipe, tmp_path):
    """With dropout on (the adapters' included): the checkpoint holds the adapters, the frozen weights, AdamW's
    state of the adapters alone and the random state."""
    uninterrupted = Trainer(tiny_recipe(tmp_path / "a", LORA))
    full = uninterrupted.train()
    stopped = Trainer(tiny_recipe(tmp_path / "b", LORA))
    first = stopped.train(stop_after=3)
    resumed = Trainer(tiny_recipe(tmp_path / "b", LORA))
    second = resumed.train(resume=True)
    assert second.steps == 6
    assert first.losses + second.losses == pytest.approx(full.losses, rel=1e-6)
    for name, value in weights(uninterrupted).items():
        torch.testing.assert_close(weights(resumed)[name], value, rtol=0, atol=1e-6, msg=name)
    a, b = Embedder.load(full.model_dir).encode(TEXTS), Embedder.load(second.model_dir).encode(TEXTS)
    torch.testing.assert_close(b, a, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match=r"model\.lora: "):  # the adapters' shape is part of what is trained
        Trainer(tiny_recipe(tmp_path / "b", "model.lora={r: 8}")).train(resume=True)


def test_add_lora_keeps_the_model_until_it_trains(tiny_embedder):
    """B starts at zero: the wrapped encoder embeds as the model did."""
    before = tiny_embedder.encode(TEXTS)
    add_lora(tiny_embedder, LoraConfig(r=4))
    assert has_lora(tiny_embedder)
    torch.testing.assert_close(tiny_embedder.encode(TEXTS), before, rtol=0, atol=0)


# ---------------------------------------------------------------------------------- across processes
@pytest.mark.slow
def test_two_processes_equal_one_process_with_the_whole_batch(tiny_model_dir, tmp_path):
    """2 gloo processes (torchrun) with LoRA, the gradient cache and ZeRO against one process on the whole batch:
    the same losses, adapter gradients and weights (float64, dropout off)."""
    from test_distributed import assert_two_processes_equal_one

    from tests.helpers import write_source

    model = tmp_path / "tiny-no-dropout"
    shutil.copytree(tiny_model_dir, model)
    config = json.loads((model / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (model / "config.json").write_text(json.dumps(config))
    sources = [write_source(tmp_path / "alpha.jsonl", 60, negatives=2),
               write_source(tmp_path / "beta.jsonl", 24, negatives=2)]
    assert_two_processes_equal_one(model, sources, tmp_path, "model.lora={r: 4, dropout: 0}", "loss.name=gte",
                                   "loss.temperature=0.05", "train.chunk_size=3", "data.negatives_per_query=2",
                                   "train.zero_optimizer=true")
    assert (tmp_path / "two" / "model" / "model.safetensors").is_file()  # rank 0 merged and saved under DDP
