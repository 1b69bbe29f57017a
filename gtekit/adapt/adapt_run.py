"""``gtekit adapt``: fine-tune a general embedding model on a user's corpus, from its documents alone.

The run folder ``DIR`` (``-o``) holds one folder per step, each finished step marked in ``state.json``;
a rerun with the same settings skips finished steps and resumes training from its last checkpoint:

1. ``pairs``: read the corpus (``corpus_reading``), optionally ask an LLM for queries
   (``synthetic_queries``), mine pairs by kind (``pair_set``: title/heading-body, first sentence-rest,
   inverse cloze, random crops, code signature and doc comment-code, question-answer), de-duplicated,
   split by document; the held-out documents' pseudo-queries, each against its pair's positive, become a
   BEIR folder ``held-out-queries`` (dev: for choosing, test: for the report).
2. ``baseline``: the base model on the held-out dev queries and the general tasks' dev splits (the
   reference for the selection guard); timed, to plan the budget.
3. ``negatives``: hard negatives mined with the base model among the pairs' positives (relative margin,
   Arctic-Embed; ``gtekit.negatives``), with any candidate from the query's own document removed (a crop
   or section of the same document is no negative), ``negatives`` kept per pair, one triples file per kind.
4. ``train``: the improved contrastive loss (GTE Eq. 5-6) at the base model's temperature, every batch
   from one kind (p_i ∝ n_i^0.5, Eq. 4); as many steps as the time budget leaves (a few steps are timed
   first, in a scratch folder), optionally distilling the base model.
5. ``select``: WiSE-FT, θ(λ) = (1 − λ)·θ_base + λ·θ_adapted for each candidate λ, scored on the held-out dev
   queries; the best λ whose general dev average drops by at most ``max_general_drop`` with 95% confidence
   (paired bootstrap) and that loses no general task significantly by more than ``max_task_drop``
   (:func:`general_guard`) is kept
   (λ = 0 is the base itself, so the chosen model never loses on dev) as ``DIR/model``.
6. ``evaluate``: base and adapted model on the held-out test queries, the general tasks' test splits and
   any ``eval_beir`` folders, with paired bootstrap intervals (``gtekit.evaluation.comparison``).
7. ``report``: ``report.md``, ``report.json`` and ``report.png`` (``adapt_report``).

Imports training, mining and evaluation; only the CLI imports it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from ..config import ConfigError, from_dict
from ..config.recipe import Recipe
from ..data.extract.base import held_out
from ..io.atomic import atomic_path
from .adapt_settings import AdaptSettings, SelectionSettings
from .corpus_reading import read_corpus
from .pair_set import build_pair_set, samples, write_held_out_task, write_pair_set
from .triples import split_triples_by_kind

STEPS = ("pairs", "baseline", "negatives", "train", "select", "evaluate", "report")
HELD_OUT_TASK = "held-out-queries"
PROBE_STEPS = 3  # training steps timed to plan the budget (the first is warm-up)


class AdaptRun:
    """One adaptation run in ``settings.output_dir``; :meth:`run` does the steps that are not finished."""

    def __init__(self, settings: AdaptSettings, echo: Callable[[str], None] = print):
        if not settings.output_dir:
            raise ConfigError("an output folder is required (-o DIR)")
        self.settings, self.echo = settings, echo
        self.folder = Path(settings.output_dir)
        self.state_path = self.folder / "state.json"
        self.state = self._load_state()

    # -- bookkeeping -------------------------------------------------------------------------------------------
    def _load_state(self) -> dict:
        wanted = json.loads(json.dumps(self.settings.as_dict()))
        if self.state_path.is_file():
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            if state.get("settings") != wanted:
                changed = sorted(key for key in wanted if state.get("settings", {}).get(key) != wanted[key])
                raise ConfigError(f"{self.folder} holds a run made with other settings ({', '.join(changed)}); "
                                  f"use another output folder, or delete this one to start over")
            return state
        if self.folder.exists() and any(self.folder.iterdir()):
            raise ConfigError(f"{self.folder} is not empty and holds no adapt run; choose another output folder")
        return {"settings": wanted, "done": {}, "seconds": {}}

    def _save_state(self) -> None:
        with atomic_path(self.state_path) as tmp:
            tmp.write_text(json.dumps(self.state, indent=2) + "\n", encoding="utf-8")

    def elapsed(self) -> float:
        return sum(self.state["seconds"].values())

    def run(self) -> dict:
        """Run every unfinished step; return the report's record."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._save_state()  # first, so that a run stopped in its first step is still resumed as this run
        for number, step in enumerate(STEPS, 1):
            head = f"[{number}/{len(STEPS)}] {step}"
            if step in self.state["done"]:
                self.echo(f"{head}: done, skipped")
                continue
            self.echo(f"{head}: running")
            began = time.perf_counter()
            summary = getattr(self, f"step_{step}")()
            self.state["seconds"][step] = round(self.state["seconds"].get(step, 0) + time.perf_counter() - began, 1)
            self.state["done"][step] = summary
            self._save_state()
            self.echo(f"{head}: {summary.get('line', '')}")
        return json.loads((self.folder / "report.json").read_text(encoding="utf-8"))

    # -- steps -------------------------------------------------------------------------------------------------
    def step_pairs(self) -> dict:
        s = self.settings
        documents, corpus_report = read_corpus(s.inputs, s.corpus)
        self.echo(f"  {len(documents):,} documents ({', '.join(f'{k} {v:,}' for k, v in corpus_report.kinds.items())})")
        extra, llm_report = {}, None
        if s.llm is not None:
            from .synthetic_queries import write_synthetic_queries

            candidates = [d for d in documents if not held_out(d.doc_id, s.pairs.held_out)]
            synthetic, llm_report = write_synthetic_queries(candidates, s.llm)
            extra = {"synthetic": synthetic}
            llm_report = asdict(llm_report)
        pair_set = build_pair_set(documents, s.pairs, extra)
        files = write_pair_set(pair_set, self.folder / "pairs")
        queries = write_held_out_task(pair_set, s.pairs, self.folder / HELD_OUT_TASK)
        record = {"corpus": corpus_report.as_dict(), "pairs": pair_set.report, "samples": samples(pair_set),
                  "held_out_queries": queries, "synthetic_queries": llm_report,
                  "files": {kind: str(path) for kind, path in files.items()}}
        _write_json(self.folder / "pairs" / "report.json", record)
        by_kind = ", ".join(f"{kind} {counts['train']:,}" for kind, counts in pair_set.report["kinds"].items())
        line = (f"{pair_set.report['pairs']['train']:,} training pairs in {len(files)} kinds ({by_kind}); "
                f"{queries['dev']} dev and {queries['test']} test held-out queries")
        return {"line": line}

    def step_baseline(self) -> dict:
        began = time.perf_counter()
        held = self._score(self.settings.model, general=False)
        held_seconds = time.perf_counter() - began
        general = self._score(self.settings.model, held_out=False, use_cache=False)  # timed as a new model's
        scores = {**held, **general}
        record = {"scores": scores, "held_out_seconds": round(held_seconds, 1),
                  "general_seconds": round(time.perf_counter() - began - held_seconds, 1)}
        _write_json(self.folder / "baseline" / "scores.json", record)
        return {"line": f"base: held-out dev nDCG@10 {100 * held[HELD_OUT_TASK]:.2f}, general dev average "
                        f"{100 * _mean(general.values()):.2f}", **record}

    def step_negatives(self) -> dict:
        from ..negatives.mining_stage import run_mining
        from ..negatives.settings import MineSettings

        s, t = self.settings, self.settings.training
        pairs_report = json.loads((self.folder / "pairs" / "report.json").read_text(encoding="utf-8"))
        files = pairs_report["files"]
        mined = self.folder / "negatives" / "mined"
        began = time.perf_counter()
        run_mining(MineSettings(
            model=s.model, pairs=list(files.values()), top_k=max(30, 4 * (t.negatives + 4)),
            num_negatives=t.negatives + 4, relative_margin=t.relative_margin, sampling="top", keep_short=True,
            batch_size=s.batch_size, seed=t.seed, output_dir=str(mined)))
        seconds = time.perf_counter() - began
        kept, dropped = split_triples_by_kind(files, mined / "triples.jsonl", self.folder / "negatives",
                                               t.negatives, t.batch_size)
        record = {"kept": kept, "dropped": dropped, "mining_seconds": round(seconds, 1)}
        _write_json(self.folder / "negatives" / "report.json", record)
        shutil.rmtree(mined / "encoded", ignore_errors=True)
        return {"line": f"{sum(kept.values()):,} pairs with {t.negatives} hard negatives in {len(kept)} kinds "
                        f"({', '.join(f'{k}: {v}' for k, v in dropped.items()) or 'none dropped'})", **record}

    def planned_steps(self, step_seconds: float, spent: float) -> int:
        """The steps that fit the budget: what is left after the steps so far (and ``spent`` seconds of this one),
        less the time the steps after training will take, at ``step_seconds`` a step."""
        t = self.settings.training
        base = self.state["done"]["baseline"]
        held_s, general_s = base["held_out_seconds"], base["general_seconds"]
        pairs_report = json.loads((self.folder / "pairs" / "report.json").read_text(encoding="utf-8"))
        held_texts = pairs_report["held_out_queries"]["corpus"] + pairs_report["held_out_queries"]["dev"]
        extra_texts = sum(_line_count(Path(folder) / name) for folder in self.settings.eval_beir
                          for name in ("corpus.jsonl", "queries.jsonl"))
        # after training: each λ on the held-out dev queries, the general guard (the base, then one or two
        # candidates), the final evaluation of two models on test splits (about as long as dev) and the report
        after = (len(self.settings.selection.weights) * held_s + 2.5 * general_s
                 + 2 * (held_s + 1.3 * general_s + extra_texts * held_s / max(1, held_texts)) + 30)
        left = 60 * self.settings.budget_minutes - self.elapsed() - spent - after
        planned = max(t.min_steps, min(t.max_steps, int(left / step_seconds)))
        self.echo(f"  budget: {left / 60:.1f} min for training at {step_seconds:.1f} s a step (measured): "
                  f"{planned} steps")
        return planned

    def _recipe(self, steps: int, output_dir: Path) -> Recipe:
        s, t = self.settings, self.settings.training
        triples = sorted(str(path) for path in (self.folder / "negatives" / "triples").glob("*.jsonl"))
        loss = {"name": "gte", "temperature": t.temperature}
        if t.distill_weight > 0:
            loss.update(distill_teacher="start", distill_weight=t.distill_weight)
        return from_dict(Recipe, {
            "model": {"name": s.model, "max_seq_length": t.max_seq_length},
            "data": {"sources": triples, "negatives_per_query": t.negatives, "alpha": 0.5},
            "loss": loss,
            "train": {"output_dir": str(output_dir), "steps": steps, "batch_size": t.batch_size,
                      "chunk_size": t.chunk_size, "lr": t.lr, "warmup_ratio": 0.1, "save_every": max(10, steps // 5),
                      "log_every": 5, "seed": t.seed}})

    def _measure_step_seconds(self) -> float:
        """Seconds a training step takes here: a few steps of the same recipe in a scratch folder, the first
        (warm-up) left out."""
        from ..training.train_log import LOG_FILE
        from ..training.trainer import train

        probe = self.folder / "train-probe"
        train(self._recipe(PROBE_STEPS, probe), overwrite=probe.exists())
        rows = [json.loads(line) for line in (probe / LOG_FILE).read_text(encoding="utf-8").splitlines()]
        seconds = sorted(self.settings.training.batch_size / row["pairs_per_s"] for row in rows
                         if row.get("pairs_per_s") and row["step"] > 1)
        shutil.rmtree(probe, ignore_errors=True)
        return seconds[len(seconds) // 2]

    def step_train(self) -> dict:
        from ..training.checkpoint import latest_checkpoint
        from ..training.trainer import train

        out = self.folder / "train"
        began = time.perf_counter()
        steps = self.state.get("planned_steps") or self.settings.training.steps
        if not steps:
            steps = self.planned_steps(self._measure_step_seconds(), time.perf_counter() - began)
        self.state["planned_steps"] = steps
        self._save_state()
        result = train(self._recipe(steps, out), resume=latest_checkpoint(out / "checkpoints") is not None)
        _keep_length_of(self.settings.model, result.model_dir)
        seconds = time.perf_counter() - began
        return {"line": f"{result.steps} steps in {seconds / 60:.1f} min; model in {result.model_dir}",
                "steps": result.steps, "model": str(result.model_dir), "seconds": round(seconds, 1)}

    def step_select(self) -> dict:
        from ..model.weight_merge import MergeSettings, merge_models

        s = self.settings
        trained = self.state["done"]["train"]["model"]
        base_scores = self.state["done"]["baseline"]["scores"]
        base_general = _mean(v for k, v in base_scores.items() if k != HELD_OUT_TASK)
        candidates_folder = self.folder / "select" / "candidates"
        candidates = [{"weight": 0.0, "held_out": base_scores[HELD_OUT_TASK], "general": base_general}]
        for weight in sorted(set(s.selection.weights) - {0.0}):
            folder = candidates_folder / f"weight-{weight:g}"
            merge_models(MergeSettings(s.model, trained, weight, str(folder), overwrite=True))
            score = self._score(str(folder), general=False)[HELD_OUT_TASK]
            candidates.append({"weight": weight, "held_out": score, "general": None, "folder": str(folder)})
            self.echo(f"  λ = {weight:g}: held-out dev nDCG@10 {100 * score:.2f}")
        chosen = None
        base_units = None
        for candidate in sorted(candidates, key=lambda c: (-c["held_out"], c["weight"])):
            if candidate["weight"] == 0.0:
                chosen = candidate
                break
            if base_units is None:  # the base's general dev scores by unit, for the paired intervals
                base_units = self._general_units(s.model)
            guard = general_guard(base_units, self._general_units(candidate["folder"]), s.selection)
            candidate.update(general=guard["average"], general_change=guard["change"], general_tasks=guard["tasks"])
            change = guard["change"]
            self.echo(f"  λ = {candidate['weight']:g}: general dev average {100 * guard['average']:.2f} "
                      f"(base {100 * base_general:.2f}; change {100 * change['delta']:+.2f} "
                      f"[{100 * change['low']:+.2f}, {100 * change['high']:+.2f}])"
                      + "".join(f"; {name} {100 * d:+.2f}, significant" for name, d in guard["lost"].items()))
            if guard["passed"]:
                chosen = candidate
                break
        with atomic_path(self.folder / "model") as tmp:
            if chosen["weight"]:
                shutil.copytree(chosen["folder"], tmp)
            else:  # λ = 0: the base itself
                _save_model(s.model, tmp)
        shutil.rmtree(candidates_folder, ignore_errors=True)
        for candidate in candidates:
            candidate.pop("folder", None)
        record = {"chosen_weight": chosen["weight"], "candidates": candidates, "base_general_dev": base_general,
                  "max_general_drop": s.selection.max_general_drop, "max_task_drop": s.selection.max_task_drop}
        _write_json(self.folder / "select" / "selection.json", record)
        return {"line": f"λ = {chosen['weight']:g} chosen (held-out dev nDCG@10 {100 * chosen['held_out']:.2f}, "
                        f"base {100 * base_scores[HELD_OUT_TASK]:.2f}); model in {self.folder / 'model'}", **record}

    def step_evaluate(self) -> dict:
        from ..evaluation.comparison import evaluate_models
        from ..evaluation.settings import EvalModel, EvalSettings

        s = self.settings
        out = self.folder / "evaluate"
        settings = EvalSettings(
            models=[EvalModel(s.model, "base"), EvalModel(str(self.folder / "model"), "adapted")],
            tasks=list(s.selection.general_tasks), split="test",
            beir=[str(self.folder / HELD_OUT_TASK), *s.eval_beir], beir_split="test", batch_size=s.batch_size,
            results_json=str(out / "results.json"), markdown=str(out / "results.md"))
        comparison = evaluate_models(settings, echo=None)
        delta = comparison.results[1].get("delta_to_first", {})
        held = delta.get("tasks", {}).get(HELD_OUT_TASK, {})
        return {"line": f"held-out test nDCG@10 change {_signed(held.get('delta'))}; table in {out / 'results.md'}"}

    def step_report(self) -> dict:
        from .adapt_report import write_report

        record = write_report(self.folder, self.state, self.settings)
        return {"line": f"report in {self.folder / 'report.md'} (and report.json, report.png)",
                "held_out_change": record.get("headline", {}).get("held_out_change")}

    # -- helpers -----------------------------------------------------------------------------------------------
    def _score(self, model: str, *, held_out: bool = True, general: bool = True,
               use_cache: bool = True) -> dict[str, float]:
        """Main scores on dev: the held-out pseudo-queries and/or the general tasks."""
        from ..evaluation.runner import evaluate_tasks
        from ..evaluation.tasks.named_tasks import get_tasks
        from ..evaluation.tasks.task_files import beir_task
        from ..model.embedder import Embedder

        tasks = [beir_task(self.folder / HELD_OUT_TASK, "dev")] if held_out else []
        tasks += get_tasks(self.settings.selection.general_tasks, "dev") if general else []
        results = evaluate_tasks(Embedder.load(model), tasks, batch_size=self.settings.batch_size,
                                 use_cache=use_cache)
        return {name: result["main_score"] for name, result in results.items()}


    def _general_units(self, model: str) -> dict:
        """The general tasks' dev scores of ``model`` by unit (query, pair, item), for paired intervals."""
        from ..evaluation.runner import evaluate_tasks_with_units
        from ..evaluation.tasks.named_tasks import get_tasks
        from ..model.embedder import Embedder

        tasks = get_tasks(self.settings.selection.general_tasks, "dev")
        return evaluate_tasks_with_units(Embedder.load(model), tasks, batch_size=self.settings.batch_size)[1]


def general_guard(base_units: dict, candidate_units: dict, selection: SelectionSettings) -> dict:
    """Whether a candidate keeps the general tasks, on their dev splits: the paired bootstrap 95% interval of
    its average change to the base lies above ``-max_general_drop`` (the drop is at most that, with 95%
    confidence: dev splits are small, and a gain on one task must not hide losses on others that the test
    splits then show), and no task drops by more than ``max_task_drop`` with its own interval below 0.
    Returns the average, the average change's interval, each task's change with its interval, the tasks lost
    and the verdict."""
    from ..evaluation.metrics.bootstrap import deltas_to_baseline

    deltas = deltas_to_baseline(base_units, candidate_units)
    change = deltas.get("average") or next(iter(deltas["tasks"].values()))  # one task: its own interval
    average = _mean(units.full() for units in candidate_units.values())
    lost = {}
    if selection.max_task_drop is not None:
        lost = {name: d["delta"] for name, d in deltas["tasks"].items()
                if d["delta"] < -selection.max_task_drop and d["high"] < 0}
    return {"average": average, "change": change, "tasks": deltas["tasks"], "lost": lost,
            "passed": change["low"] >= -selection.max_general_drop and not lost}


def adapt(settings: AdaptSettings, echo: Callable[[str], None] = print) -> dict:
    """Run (or resume) ``gtekit adapt``; return the report's record."""
    return AdaptRun(settings, echo).run()


def _keep_length_of(base: str, folder: Path) -> None:
    """Give the trained model the base's ``max_seq_length``: training may cut texts shorter to be cheaper,
    the adapted model should read documents as far as the base did."""
    from ..model.embedder import Embedder

    length = Embedder.load(base).settings.max_seq_length
    model = Embedder.load(folder)
    if model.settings.max_seq_length != length:
        with atomic_path(folder) as tmp:
            Embedder.load(folder, max_seq_length=length).save(tmp)


def _line_count(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


def _save_model(model: str, folder: Path) -> None:
    from ..model.embedder import Embedder

    Embedder.load(model).save(folder)


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.2f}"


def _write_json(path: Path, record: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


