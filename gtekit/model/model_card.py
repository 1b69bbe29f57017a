"""A model folder's ``README.md``: the Hugging Face model card sentence-transformers users know.

``render_card`` turns plain data (a dict; ``card_data.build_card`` gathers it) into YAML front matter
(``base_model``, ``library_name: sentence-transformers``, ``pipeline_tag: sentence-similarity``,
``tags``, ``datasets``, and ``model-index`` when evaluation results are known) followed by sections:
model details, usage with sentence-transformers and with gtekit, the training recipe, the training data
with licences, a merge when the weights were interpolated, and evaluation tables. The card's keys::

    name, model_id (what the code samples load; default: name), base_model (hub id or None),
    base_model_note, model {dimension, max_seq_length, pooling, normalize, query_prefix, document_prefix},
    training {loss, temperature, steps, planned_steps, batch_size, lr, ...} or None, sources [{name, kind,
    licence, count, steps, pairs_trained, mean_loss, provenance}], validation {step, scores, mean} or None,
    results [{task, type, split, main_score, metrics}], merge {start, trained, weight} or None, datasets
    (names, when there are no sources)

Every key but ``name`` and ``model`` may be missing. Depends on yaml and ``gtekit.io.atomic`` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..io.atomic import atomic_path

CARD_FILE = "README.md"
TAGS = ["sentence-transformers", "sentence-similarity", "feature-extraction", "gtekit"]
TRAINING_ROWS = (  # (card field, label) of the training table, in order
    ("loss", "loss"), ("temperature", "temperature τ"), ("steps", "steps"), ("batch_size", "batch size (pairs)"),
    ("lr", "learning rate (AdamW)"), ("warmup_ratio", "warm-up share, then linear decay"),
    ("weight_decay", "weight decay"), ("max_seq_length", "max sequence length"),
    ("negatives_per_query", "hard negatives per query"), ("alpha", "source sampling α (p_i ∝ n_i^α)"),
    ("chunk_size", "gradient cache chunk (0: none)"), ("bf16", "bf16 autocast"), ("seed", "seed"),
    ("distill_teacher", "distillation teacher"), ("final_loss", "mean loss of the last 20 steps"),
)


def render_card(card: dict[str, Any]) -> str:
    """The card's Markdown, front matter first."""
    sections = [_details(card), _usage(card), _training(card), _data(card), _merge(card), _evaluation(card)]
    body = "\n\n".join(section for section in sections if section)
    return f"---\n{yaml.safe_dump(front_matter(card), sort_keys=False, allow_unicode=True)}---\n\n{body}\n"


def write_card(folder: str | Path, card: dict[str, Any]) -> Path:
    """Write ``folder/README.md`` (atomically) and return its path."""
    path = Path(folder) / CARD_FILE
    with atomic_path(path) as tmp:
        tmp.write_text(render_card(card), encoding="utf-8")
    return path


def front_matter(card: dict[str, Any]) -> dict[str, Any]:
    """The card's YAML metadata (what the hub indexes)."""
    meta: dict[str, Any] = {}
    if card.get("base_model"):
        meta["base_model"] = card["base_model"]
    meta.update({"library_name": "sentence-transformers", "pipeline_tag": "sentence-similarity", "tags": TAGS})
    datasets = dataset_names(card)
    if datasets:
        meta["datasets"] = datasets
    if card.get("results"):
        meta["model-index"] = [{"name": card["name"], "results": [_index_entry(row) for row in card["results"]]}]
    return meta


def read_front_matter(folder: str | Path) -> dict[str, Any]:
    """The YAML metadata of ``folder/README.md``; empty when there is no card or it has no valid front matter."""
    try:
        text = (Path(folder) / CARD_FILE).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        return {}
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 4)
    try:
        meta = yaml.safe_load(text[4:end]) if end > 0 else None
    except yaml.YAMLError:
        return {}
    return meta if isinstance(meta, dict) else {}


def dataset_names(card: dict[str, Any]) -> list[str]:
    """The training sources' names (a replay source under its own name), or the card's ``datasets``."""
    names = [source["name"].removeprefix("replay:") for source in card.get("sources") or []]
    return list(dict.fromkeys(names or card.get("datasets") or []))


def _index_entry(row: dict[str, Any]) -> dict[str, Any]:
    """One ``model-index`` result: task type, dataset (the task) and its split, the metrics (main score first)."""
    metrics = [{"type": "main_score", "value": row["main_score"], "name": "main score"}]
    metrics += [{"type": key, "value": value} for key, value in (row.get("metrics") or {}).items()]
    return {"task": {"type": row.get("type") or "sentence-similarity"},
            "dataset": {"name": row["task"], "type": row["task"], "split": row.get("split") or "test"},
            "metrics": metrics}


def _details(card: dict[str, Any]) -> str:
    model = card.get("model") or {}
    base = card.get("base_model")
    start = f"[{base}](https://huggingface.co/{base})" if base else card.get("base_model_note") or "unknown"
    what = ("merged from two fine-tunings" if card.get("merge") else "trained") + " with gtekit"
    lines = [f"# {card['name']}", "",
             f"A sentence-embedding model {what} (GTE multi-stage contrastive recipe). It maps text to a "
             f"{model.get('dimension', '?')}-dimensional vector for semantic search, similarity and clustering.",
             "", "## Model details", "", "| | |", "|---|---|", f"| base model | {_cell(start)} |"]
    if base and card.get("base_model_note"):
        lines.append(f"| started from | {_cell(card['base_model_note'])} |")
    lines += [f"| dimension | {model.get('dimension', '?')} |",
              f"| max sequence length | {model.get('max_seq_length', '?')} tokens |",
              f"| pooling | {model.get('pooling', '?')} |",
              f"| normalised | {'yes (cosine = dot product)' if model.get('normalize') else 'no'} |",
              "| similarity | cosine |"]
    for kind in ("query", "document"):
        if model.get(f"{kind}_prefix"):
            lines.append(f"| {kind} prefix | `{_cell(model[kind + '_prefix'])}` |")
    return "\n".join(lines)


def _usage(card: dict[str, Any]) -> str:
    model, name = card.get("model") or {}, card.get("model_id") or card["name"]
    prefixed = model.get("query_prefix") or model.get("document_prefix")
    st_encode = ('queries = model.encode(["how do I sort a list"], prompt_name="query")\n'
                 'documents = model.encode(["Use sorted(items)."], prompt_name="document")\n'
                 "print(model.similarity(queries, documents))" if prefixed else
                 'embeddings = model.encode(["A man plays a guitar.", "Someone strums an instrument."])\n'
                 "print(model.similarity(embeddings, embeddings))")
    gtekit_encode = ('queries = model.encode(["how do I sort a list"], kind="query")  # adds the query prefix\n'
                     'documents = model.encode(["Use sorted(items)."], kind="document")\n'
                     "print(queries @ documents.T)" if prefixed else
                     'embeddings = model.encode(["A man plays a guitar.", "Someone strums an instrument."])\n'
                     "print(embeddings @ embeddings.T)  # cosine similarities (normalised embeddings)")
    return "\n".join([
        "## Usage", "", "With sentence-transformers (`pip install sentence-transformers`):", "", "```python",
        "from sentence_transformers import SentenceTransformer", "", f'model = SentenceTransformer("{name}")',
        st_encode, "```", "", "With gtekit:", "", "```python", "from gtekit import Embedder", "",
        f'model = Embedder.load("{name}")', gtekit_encode, "```", "", "```bash",
        f"gtekit encode {name} texts.txt -o embeddings.npy", f"gtekit eval {name} --suite offline", "```"])


def _training(card: dict[str, Any]) -> str:
    training = card.get("training")
    if not training:
        return ""
    rows = []
    for key, label in TRAINING_ROWS:
        value = training.get(key)
        if value is None or value == "" or (key == "distill_teacher" and not value):
            continue
        if key == "steps" and training.get("planned_steps") not in (None, value):
            value = f"{value} of {training['planned_steps']}"
        rows.append(f"| {label} | {_cell(_format(value))} |")
    negatives = " and mined hard negatives" if training.get("negatives_per_query") else ""
    lines = ["## Training", "", f"Contrastive training, every batch from one source (GTE Eq. 4), with in-batch "
             f"negatives{negatives}.", "",
             "| setting | value |", "|---|---|", *rows]
    if training.get("run_dir"):
        lines += ["", f"Run folder: `{training['run_dir']}` (recipe.yaml, train_log.jsonl, curves.png)."]
    return "\n".join(lines)


def _data(card: dict[str, Any]) -> str:
    sources = card.get("sources") or []
    if not sources:
        return ""
    lines = ["## Training data", "", "| source | kind | licence | pairs | steps | pairs trained | mean loss |",
             "|---|---|---|---:|---:|---:|---:|"]
    for s in sources:
        cells = [s["name"], s.get("kind") or "", s.get("licence") or "not recorded", _count(s.get("count")),
                 _count(s.get("steps")), _count(s.get("pairs_trained")), _format(s.get("mean_loss", ""))]
        lines.append("| " + " | ".join(_cell(str(cell)) for cell in cells) + " |")
    origins = [(s["name"], s["provenance"]) for s in sources if isinstance(s.get("provenance"), dict)]
    if origins:
        lines += ["", "Where the pairs come from:", ""]
        lines += [f"- {name}: {_origin(provenance)}" for name, provenance in origins]
    if any(not s.get("licence") for s in sources):
        lines += ["", "Sources without a recorded licence are pair files; check their licences before "
                      "redistributing this model."]
    return "\n".join(lines)


def _merge(card: dict[str, Any]) -> str:
    merge = card.get("merge")
    if not merge:
        return ""
    return "\n".join([
        "## Merge", "", "The weights interpolate two models (WiSE-FT, Wortsman et al. 2022):", "",
        f"θ = (1 − λ)·θ_start + λ·θ_trained with λ = {_format(merge.get('weight'))}, start = "
        f"`{merge.get('start')}`, trained = `{merge.get('trained')}` (see its card for the training recipe)."])


def _evaluation(card: dict[str, Any]) -> str:
    lines = []
    if card.get("results"):
        lines += ["## Evaluation", "", "Scores × 100 (mteb's scores are in [0, 1]).", "",
                  "| task | type | split | main score | other metrics |", "|---|---|---|---:|---|"]
        for row in card["results"]:
            metrics = list((row.get("metrics") or {}).items())[:6]
            others = ", ".join(f"{key} {100 * value:.2f}" for key, value in metrics)
            lines.append(f"| {_cell(row['task'])} | {row.get('type', '')} | {row.get('split', '')} | "
                         f"{100 * row['main_score']:.2f} | {_cell(others)} |")
    validation = card.get("validation")
    if validation:
        lines += ["" if lines else "## Evaluation", "",
                  f"Validation during training (dev splits), best at step {validation['step']} "
                  f"(mean {100 * validation['mean']:.2f}):", "", "| task | score |", "|---|---:|"]
        lines += [f"| {_cell(task)} | {100 * score:.2f} |" for task, score in validation["scores"].items()
                  if isinstance(score, int | float)]
    return "\n".join(lines)


def _origin(provenance: dict[str, Any]) -> str:
    package = provenance.get("package", "?")
    version = f"=={provenance['version']}" if provenance.get("version") else ""
    files = f", {provenance['files']}" if provenance.get("files") else ""
    return f"`{package}{version}`{files}"


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2e}" if 0 < abs(value) < 1e-3 else f"{value:g}"
    return str(value)


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else ""


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")
