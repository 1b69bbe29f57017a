"""Local task files of every type, BEIR folders on the command line, tables, charts and the cache."""

from __future__ import annotations

import json

import pytest

from gtekit.cli.main import main
from gtekit.evaluation.results_report import format_table, plot_results
from gtekit.evaluation.runner import evaluate_tasks
from gtekit.evaluation.tasks.task_files import TaskFileError, load_task_file

WORDS = ["cat", "dog", "car", "bus", "tree", "rose", "piano", "violin"]
GROUPS = {"cat": "animal", "dog": "animal", "car": "vehicle", "bus": "vehicle", "tree": "plant", "rose": "plant",
          "piano": "music", "violin": "music"}


def jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def make_task_files(folder):
    """One small task file per type (and the data files it points at)."""
    rows = [{"text": f"a sentence about a {w}", "label": GROUPS[w]} for w in WORDS for _ in range(3)]
    jsonl(folder / "labelled.jsonl", rows)
    (folder / "pairs.csv").write_text("s1,s2,score,label\n" + "".join(
        f"the {a} is here,a {b} is there,{4.5 if GROUPS[a] == GROUPS[b] else 0.5},{int(GROUPS[a] == GROUPS[b])}\n"
        for a in WORDS for b in WORDS if a < b))
    jsonl(folder / "rerank.jsonl", [{"query": f"about {w}", "positive": [f"all about the {w}"],
                                     "negative": [f"all about the {v}" for v in WORDS if v != w][:3]} for w in WORDS])
    jsonl(folder / "code.jsonl", [{"query": f"return the {w}", "code": f"def get_{w}():\n    return '{w}'"}
                                  for w in WORDS])
    jsonl(folder / "summaries.jsonl", [{"machine_summaries": [f"{w} text", "unrelated"], "human_summaries": [f"{w}"],
                                        "relevance": [4.0, 1.0]} for w in WORDS[:4]])
    specs = {
        "sts.yaml": {"name": "LocalSTS", "type": "STS", "data": {"path": "pairs.csv", "text1": "s1", "text2": "s2"}},
        "pairs.yaml": {"name": "LocalPairs", "type": "PairClassification",
                       "data": {"path": "pairs.csv", "text1": "s1", "text2": "s2"}},
        "classes.json": {"name": "LocalClassification", "type": "Classification", "n_experiments": 2,
                         "train": {"path": "labelled.jsonl"}, "test": {"path": "labelled.jsonl"}},
        "clusters.yaml": {"name": "LocalClustering", "type": "Clustering", "data": {"path": "labelled.jsonl"}},
        "rerank.yaml": {"name": "LocalReranking", "type": "Reranking", "data": {"path": "rerank.jsonl"}},
        "zeroshot.yaml": {"name": "LocalZeroShot", "type": "ZeroShotClassification", "data": {"path": "labelled.jsonl"},
                          "label_texts": {g: f"this is about a {g}" for g in set(GROUPS.values())}},
        "code.yaml": {"name": "LocalCode", "type": "CodeSearch", "data": {"path": "code.jsonl"}},
        "summ.yaml": {"name": "LocalSummarization", "type": "Summarization", "data": {"path": "summaries.jsonl"}},
    }
    for name, spec in specs.items():
        (folder / name).write_text(json.dumps(spec))
    return [folder / name for name in specs]


def test_every_task_type_from_files(tmp_path, tiny_embedder):
    tasks = [load_task_file(path) for path in make_task_files(tmp_path)]
    results = evaluate_tasks(tiny_embedder, tasks)
    assert len(results) == 8
    for name, scores in results.items():
        assert -1.0 <= scores["main_score"] <= 1.0, name
        assert scores["source"].endswith((".yaml", ".json")) and scores["type"]
    table = format_table([{"model": "tiny", "tasks": results}])
    assert "| LocalSTS | STS |" in table and "**average**" in table


def test_cli_side_by_side_table_chart_and_cache(tmp_path, tiny_model_dir, capsys, monkeypatch):
    files = make_task_files(tmp_path)
    output, chart = tmp_path / "results.json", tmp_path / "chart.png"
    arguments = ["eval", str(tiny_model_dir), str(tiny_model_dir), "--task-file", str(files[0]),
                 "--task-file", str(files[4]), "-o", str(output), "--plot", str(chart),
                 "--markdown", str(tmp_path / "table.md")]
    assert main([*arguments, "--resamples", "50"]) == 0
    results = json.loads(output.read_text())
    assert [r["model"] for r in results] == [str(tiny_model_dir)] * 2
    assert results[0]["tasks"]["LocalSTS"]["main_score"] == results[1]["tasks"]["LocalSTS"]["main_score"]
    same = results[1]["delta_to_first"]  # the same model twice: no change, an interval of width 0
    assert same["tasks"]["LocalSTS"] == {"delta": 0.0, "low": 0.0, "high": 0.0, "significant": False,
                                         "resamples": 50, "confidence": 0.95}
    assert same["average"]["delta"] == 0.0 and "delta_to_first" not in results[0]
    shown = capsys.readouterr().out
    assert "| LocalSTS | +0.00 [+0.00, +0.00] |" in shown and "95% paired bootstrap intervals, 50 resamples" in shown
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "LocalReranking" in (tmp_path / "table.md").read_text()


def test_beir_folder_on_the_command_line(tmp_path, tiny_model_dir):
    folder = tmp_path / "tinybeir"
    (folder / "qrels").mkdir(parents=True)
    jsonl(folder / "corpus.jsonl", [{"_id": f"d{i}", "title": w, "text": f"a text about a {w}"}
                                    for i, w in enumerate(WORDS)])
    jsonl(folder / "queries.jsonl", [{"_id": f"q{i}", "text": f"which {w}?"} for i, w in enumerate(WORDS)])
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" +
                                               "".join(f"q{i}\td{i}\t1\n" for i in range(len(WORDS))))
    output = tmp_path / "r.json"
    assert main(["eval", str(tiny_model_dir), "--beir", str(folder), "-o", str(output)]) == 0
    scores = json.loads(output.read_text())["tasks"]["tinybeir"]
    assert {"ndcg_at_10", "recall_at_100", "mrr_at_10"} <= set(scores)
    assert scores["main_score"] == scores["ndcg_at_10"]


@pytest.mark.parametrize(("spec", "message"), [
    ({"type": "STS"}, "missing section 'data'"),
    ({"type": "Nope", "data": {}}, "unknown task type 'Nope'; valid: STS"),
    ({"type": "STS", "data": {"path": "missing.csv"}}, "missing.csv does not exist"),
    ({"type": "STS", "data": {"path": "pairs.csv", "text1": "nope"}}, "pairs.csv:2: missing column 'nope'"),
    ({"type": "Clustering", "data": {"path": "bad.jsonl"}}, "bad.jsonl:2: malformed JSON"),
    ({"type": "STS", "data": {"path": "pairs.csv", "text1": "s1", "text2": "s2", "score": "s1"}},
     "pairs.csv:2: column 's1' must be a number"),
    ({"type": "Retrieval", "beir": "nowhere"}, "nowhere"),
])
def test_bad_task_files_are_clear_errors(tmp_path, spec, message):
    make_task_files(tmp_path)
    (tmp_path / "bad.jsonl").write_text('{"text": "a", "label": "x"}\n{"text": \n')
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps(spec))
    with pytest.raises((TaskFileError, FileNotFoundError, ValueError), match=message):
        load_task_file(path)


def test_plot_has_one_bar_per_model_and_task(tmp_path):
    results = [{"model": m, "tasks": {"A": {"main_score": 0.5, "type": "STS"}, "B": {"main_score": 0.7, "type": "X"}}}
               for m in ("m1", "m2")]
    assert plot_results(results, tmp_path / "c.png").stat().st_size > 1000
