"""MineSettings: the one set of checks of `gtekit mine` and a pipeline's mine stage, made when the settings are."""

from __future__ import annotations

import pytest

from gtekit.config import ConfigError, from_dict
from gtekit.negatives import MINING_KINDS, IndexKind, MineSettings, Sampling, SearchSettings, SelectionRules


def test_defaults_are_those_of_the_rules_and_the_search():
    settings = MineSettings(model="m", pairs=["p.jsonl"])
    assert settings.rules() == SelectionRules()
    assert settings.search() == SearchSettings()
    assert settings.device == "auto" and settings.output_dir is None


def test_options_given_as_strings_become_their_enum_members():
    settings = MineSettings(index="hnsw", sampling="random")
    assert settings.index is IndexKind.HNSW and settings.sampling is Sampling.RANDOM
    assert settings.search().index is IndexKind.HNSW and settings.rules().sampling is Sampling.RANDOM


@pytest.mark.parametrize(("values", "message"), [
    ({"index": "ivfpq"}, "index: unknown value 'ivfpq'; valid: auto, flat, ivf, hnsw$"),
    ({"index": "exact"}, "index: unknown value 'exact'; valid: auto, flat, ivf, hnsw"),
    ({"sampling": "best"}, "sampling: unknown value 'best'; valid: top, random"),
    ({"device": "gpu"}, "device: unknown value 'gpu'; valid: auto, cpu, cuda, cuda:N"),
    ({"samples": -1}, "samples must be >= 0, got -1"),
    ({"relative_margin": 0.95}, "relative_margin must lie in"),
    ({"range_min": 5, "range_max": 10, "num_negatives": 7}, "cannot take 7 negatives from ranks"),
    ({"top_k": 0}, "k must be >= 1, got 0"),
])
def test_bad_values_are_config_errors_that_name_the_key(values, message):
    with pytest.raises(ConfigError, match=message):
        MineSettings(model="m", pairs=["p.jsonl"], **values)
    with pytest.raises(ConfigError, match=f"stage 'mine': {message}"):
        from_dict(MineSettings, {"model": "m", "pairs": ["p.jsonl"], **values}, where="stage 'mine'")


def test_every_mining_kind_is_accepted():
    assert [MineSettings(index=kind.value).index for kind in MINING_KINDS] == list(MINING_KINDS)
