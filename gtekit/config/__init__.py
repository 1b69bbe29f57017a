"""Typed configuration read from YAML: the training recipe and the one loader every YAML file goes through.

1. ``loader``: reading YAML (``read_yaml``), dotted ``key=value`` overrides, dataclasses built from mappings with
   every key, type, enumerated option and numeric range checked (``from_dict``), and data paths taken relative to
   the file that names them. The pipeline (``gtekit run``) and data mixture files use it too;
2. ``recipe``: the training recipe (``gtekit train RECIPE``): ``Recipe`` and its sections, the enumerated
   options (``LossName``, ``PoolingName``, ``Recompute``, ``CurriculumKind``), ``load_recipe``.

Imports nothing else from gtekit: every other package may import it.
"""

from .loader import (
    AT_LEAST_0,
    AT_LEAST_1,
    POSITIVE,
    SHARE,
    ConfigError,
    Range,
    apply_override,
    check_number,
    check_ranges,
    from_dict,
    matches_path,
    parse_choice,
    plain_dict,
    ranged,
    read_yaml,
)
from .recipe import (
    CUDA_INDEXED,
    CurriculumConfig,
    CurriculumKind,
    DataConfig,
    DeviceKind,
    EvalConfig,
    LoraConfig,
    LossConfig,
    LossName,
    ModelConfig,
    PoolingName,
    Recipe,
    Recompute,
    TrainConfig,
    check_device,
    load_recipe,
    recipe_to_yaml,
)

__all__ = [
    "AT_LEAST_0",
    "AT_LEAST_1",
    "CUDA_INDEXED",
    "POSITIVE",
    "SHARE",
    "ConfigError",
    "CurriculumConfig",
    "CurriculumKind",
    "DataConfig",
    "DeviceKind",
    "EvalConfig",
    "LoraConfig",
    "LossConfig",
    "LossName",
    "ModelConfig",
    "PoolingName",
    "Range",
    "Recipe",
    "Recompute",
    "TrainConfig",
    "apply_override",
    "check_device",
    "check_number",
    "check_ranges",
    "from_dict",
    "load_recipe",
    "matches_path",
    "parse_choice",
    "plain_dict",
    "ranged",
    "read_yaml",
    "recipe_to_yaml",
]
