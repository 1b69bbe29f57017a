"""The pair set: kinds from prose and code, repeats and shared queries dropped, split by document, the
held-out pseudo-queries not won by string matching; and the pairs step with synthetic queries from the
LLM stand-in."""

import json
import random

from gtekit.adapt.adapt_run import HELD_OUT_TASK, AdaptRun
from gtekit.adapt.adapt_settings import AdaptSettings
from gtekit.adapt.documents import Document
from gtekit.adapt.pair_set import PairSettings, build_pair_set, write_held_out_task, write_pair_set
from gtekit.adapt.synthetic_queries import SyntheticQuerySettings
from gtekit.evaluation.tasks.beir import load_beir
from tests.adapt.llm_stand_in import LLMStandIn

WORDS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta", "kappa", "lambda", "sigma", "omega", "river",
         "stone", "cloud")


def prose(number: int, rng: random.Random) -> Document:
    sentences = [" ".join(rng.choice(WORDS) for _ in range(8)).capitalize() + "." for _ in range(6)]
    return Document(f"doc{number}", " ".join(sentences), title=f"Title {number} " + " ".join(rng.sample(WORDS, 3)))


GO = """// ParseHeader reads one header line and returns its name and value.
func ParseHeader(line string) (string, string, error) {
\tparts := strings.SplitN(line, ":", 2)
\tif len(parts) != 2 {
\t\treturn "", "", fmt.Errorf("no colon in %q", line)
\t}
\treturn strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1]), nil
}
"""


def test_kinds_split_by_document_and_files(tmp_path):
    rng = random.Random(0)
    documents = [prose(n, rng) for n in range(80)] + [Document("http.go", GO * 1, language="go")]
    pair_set = build_pair_set(documents, PairSettings(held_out=0.2))
    kinds = pair_set.report["kinds"]
    assert {"title_body", "first_sentence", "inverse_cloze", "random_crops"} <= set(kinds)
    assert {"code_doc_comment", "code_signature"} <= set(kinds)
    train_docs = {p.doc_id for pairs in pair_set.train.values() for p in pairs}
    held_docs = {p.doc_id for pairs in pair_set.held_out.values() for p in pairs}
    assert held_docs and not train_docs & held_docs  # whole documents on one side
    files = write_pair_set(pair_set, tmp_path / "pairs")
    rows = [json.loads(line) for line in files["title_body"].read_text().splitlines()]
    assert set(rows[0]) == {"query", "positive", "doc_id"}
    assert len(rows) == kinds["title_body"]["train"]


def test_repeated_pairs_and_shared_queries_are_dropped_and_counted():
    body = " ".join(["word"] * 40)
    documents = [Document(f"d{n}", body + f" end{n}.", title=f"Guide number {n}",
                          sections=(("Parameters of the call", f"{body} {n}"),)) for n in range(4)]
    documents.append(Document("d0-copy", body + " end0.", title="Guide number 0",
                              sections=(("Parameters of the call", f"{body} 0"),)))
    pair_set = build_pair_set(documents, PairSettings(held_out=0.0))
    assert "heading_section" not in pair_set.train  # the same heading in 5 documents names none of them
    assert pair_set.report["dropped"]["query shared by more than 2 documents"] == 4
    assert pair_set.report["dropped"]["duplicate pair"] >= 2  # d0-copy's title and heading pairs
    assert len(pair_set.train["title_body"]) == 4


def test_held_out_task_is_not_string_matching(tmp_path):
    rng = random.Random(1)
    documents = [prose(n, rng) for n in range(120)]
    settings = PairSettings(held_out=0.3, distractors=50)
    pair_set = build_pair_set(documents, settings)
    counts = write_held_out_task(pair_set, settings, tmp_path / "task")
    assert counts["dev"] > 0 and counts["test"] > 0
    for split in ("dev", "test"):
        data = load_beir(tmp_path / "task", split)
        corpus = dict(zip(data.corpus_ids, data.corpus_texts, strict=True))
        for query_id, relevant in data.qrels.items():
            query = data.query_texts[data.query_ids.index(query_id)]
            for passage_id in relevant:
                assert query not in corpus[passage_id]
                assert passage_id.split("#")[0] in pair_set.held_out_documents


def test_pairs_step_with_synthetic_queries_from_the_stand_in(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    rng = random.Random(2)
    corpus.write_text("".join(json.dumps({"_id": d.doc_id, "title": d.title, "text": d.text}) + "\n"
                              for d in (prose(n, rng) for n in range(60))), encoding="utf-8")
    with LLMStandIn() as llm:
        settings = AdaptSettings(inputs=[str(corpus)], output_dir=str(tmp_path / "run"),
                                 pairs=PairSettings(held_out=0.3),
                                 llm=SyntheticQuerySettings(url=llm.url, model="stand-in", max_documents=20,
                                                            backoff_seconds=0.01, timeout_seconds=5,
                                                            cache_path=str(tmp_path / "cache.jsonl")))
        AdaptRun(settings, echo=lambda _: None).step_pairs()
        requests = len(llm.requests)
    report = json.loads((tmp_path / "run" / "pairs" / "report.json").read_text())
    assert 0 < requests <= 20
    assert report["pairs"]["kinds"]["synthetic"]["train"] > 0
    assert report["synthetic_queries"]["requests"] == requests
    synthetic = [json.loads(line) for line in (tmp_path / "run" / "pairs" / "train" / "synthetic.jsonl")
                 .read_text().splitlines()]
    assert all(row["query"].startswith("query about") for row in synthetic)
    assert (tmp_path / "run" / HELD_OUT_TASK / "qrels" / "dev.tsv").is_file()
