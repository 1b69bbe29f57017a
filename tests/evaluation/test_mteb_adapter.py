"""MtebEncoder under ``mteb.evaluate``: mteb's in-memory mock tasks, checked against gtekit's own metrics.

Offline: the hub and datasets are switched to offline mode and sockets refuse to connect. Results
go nowhere (``cache=None``) or under ``tmp_path``. mteb's mock tasks hold two examples each, so
each check also runs on the same task with a few dozen in-memory examples, where scores vary.
"""

from __future__ import annotations

import importlib
import socket
import sys

import mteb
import numpy as np
import pytest
import torch
from datasets import Dataset, DatasetDict  # mteb brings datasets
from mteb.mocks.mock_tasks import MockClassificationTask, MockRetrievalTask, MockSTSTask
from mteb.types import PromptType

from gtekit import Embedder
from gtekit.evaluation.metrics.classification import classification_scores
from gtekit.evaluation.mteb_adapter import MtebEncoder, mteb_name, text_kind
from gtekit.evaluation.tasks.beir import RetrievalData, evaluate_retrieval
from gtekit.evaluation.tasks.sts import sts_scores
from tests.helpers import make_tiny_embedder

SUBJECTS = ["the cat", "a stock trader", "the football team", "my grandmother", "the new phone", "a storm"]
ACTIONS = ["sleeps on the warm sofa", "sells shares before the crash", "wins the final match",
           "bakes bread every sunday", "runs out of battery", "floods the coastal town"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")

    def refuse(self, address):
        raise OSError(f"test tried to reach the network: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture
def prefixed_embedder():
    return make_tiny_embedder(max_seq_length=64, query_prefix="query: ", document_prefix="passage: ")


def run(model, task, **kwargs):
    """``mteb.evaluate`` on one task without a result cache -> {split: scores of the default subset}."""
    result = mteb.evaluate(model, task, cache=None, co2_tracker=False, show_progress_bar=False, **kwargs)
    assert not result.exceptions
    (task_result,) = result.task_results
    return {split: scores[0] for split, scores in task_result.scores.items()}


# ----------------------------------------------------------------- in-memory data
def sts_data() -> Dataset:
    pairs = [(f"{SUBJECTS[i]} {ACTIONS[i]}", f"{SUBJECTS[(i + j) % 6]} {ACTIONS[(i + k) % 6]}")
             for j, k in ((0, 1), (1, 0)) for i in range(6)]  # 12 pairs, no two sides alike
    scores = np.linspace(0, 5, len(pairs)).round(2).tolist()
    return Dataset.from_dict({"sentence1": [p[0] for p in pairs], "sentence2": [p[1] for p in pairs], "score": scores})


def retrieval_split() -> dict:
    corpus = [{"id": f"d{i}", "title": SUBJECTS[i] if i % 2 else "", "text": f"{SUBJECTS[i]} {action}"}
              for i, action in enumerate(ACTIONS)]
    queries = [{"id": f"q{i}", "text": f"who {ACTIONS[i]}?"} for i in range(5)]
    qrels = {f"q{i}": {f"d{i}": 2, f"d{(i + 1) % 6}": 1, f"d{(i + 2) % 6}": 0} for i in range(5)}
    return {"corpus": Dataset.from_list(corpus), "queries": Dataset.from_list(queries), "relevant_docs": qrels,
            "top_ranked": None}


def classification_data() -> DatasetDict:
    def split(n: int, offset: int) -> Dataset:
        rows = [(f"{SUBJECTS[(i + offset) % 6]} {ACTIONS[label * 2 + i % 2]} ({i})", label)
                for i in range(n) for label in range(3)]
        return Dataset.from_dict({"text": [r[0] for r in rows], "label": [r[1] for r in rows]})

    return DatasetDict({"train": split(10, 0), "test": split(4, 3)})  # 30 train rows: undersampling picks 24


def data_of(task):
    """The task's data (``mteb.evaluate`` unloads data it loaded itself)."""
    if not task.data_loaded:
        task.load_data()
    return task.dataset


def preloaded(task, dataset):
    task.dataset = dataset
    task.data_loaded = True  # mteb.evaluate then neither loads nor unloads it
    return task


def tasks_with_data():
    split = retrieval_split()
    return {
        "sts": [MockSTSTask(), preloaded(MockSTSTask(), DatasetDict({"test": sts_data()}))],
        "retrieval": [MockRetrievalTask(),
                      preloaded(MockRetrievalTask(), {"default": {"val": split, "test": split}})],
        "classification": [MockClassificationTask(), preloaded(MockClassificationTask(), classification_data())],
    }


# ----------------------------------------------------------------- the protocol
def test_meets_mtebs_encoder_protocol(tiny_embedder, tiny_model_dir):
    encoder = MtebEncoder(tiny_embedder)
    assert isinstance(encoder, mteb.EncoderProtocol)
    meta = encoder.mteb_model_meta
    assert meta.name == f"gtekit/{tiny_model_dir.name}"
    assert meta.embed_dim == tiny_embedder.dimension == 32
    assert meta.max_tokens == 64
    assert meta.similarity_fn_name.value == "cosine"
    assert meta.modalities == ["text"]
    assert meta.n_parameters == sum(p.numel() for p in tiny_embedder.parameters())
    assert MtebEncoder(str(tiny_model_dir), name="me/tiny").mteb_model_meta.revision == meta.revision


def test_revision_follows_the_weights(tiny_embedder):
    encoder = MtebEncoder(tiny_embedder)
    before = encoder.mteb_model_meta.revision
    with torch.no_grad():
        tiny_embedder.encoder.embeddings.word_embeddings.weight[5] += 1.0
    assert encoder.mteb_model_meta.revision != before


def test_names():
    assert mteb_name("all-MiniLM-L6-v2") == "gtekit/all-MiniLM-L6-v2"
    assert mteb_name("thenlper/gte-small") == "thenlper/gte-small"
    assert mteb_name("random:all-MiniLM-L6-v2") == "gtekit/random-all-MiniLM-L6-v2"
    with pytest.raises(ValueError, match="organisation/model"):
        MtebEncoder(make_tiny_embedder(), name="tiny")


def test_prompt_types_map_to_text_kinds():
    assert text_kind(PromptType.query) == "query"
    assert text_kind(PromptType.document) == "document"
    assert text_kind("passage") == "document"
    assert text_kind(None) is None
    with pytest.raises(ValueError, match="valid: query, document, passage, None"):
        text_kind("instruction")


@pytest.mark.parametrize("delimiters", [False, True])
def test_prompt_type_adds_the_models_prefixes(delimiters):
    from mteb._create_dataloaders import create_dataloader

    prefixed_embedder = make_tiny_embedder(query_prefix="query: ", document_prefix="passage: ", delimiters=delimiters)
    texts = [f"{s} {a}" for s, a in zip(SUBJECTS, ACTIONS, strict=True)]
    encoder = MtebEncoder(prefixed_embedder, batch_size=4)
    metadata = MockSTSTask.metadata

    def encode(prompt_type):
        loader = create_dataloader(Dataset.from_dict({"text": texts}), task_metadata=metadata, batch_size=4)
        return encoder.encode(loader, task_metadata=metadata, hf_split="test", hf_subset="default",
                              prompt_type=prompt_type)

    opening, closing = ("[", "]"), ("{", "}")
    expected = {
        PromptType.query: [f"{opening[0]}query: {t}{opening[1]}" if delimiters else f"query: {t}" for t in texts],
        PromptType.document: [f"{closing[0]}passage: {t}{closing[1]}" if delimiters else f"passage: {t}"
                              for t in texts],
        None: texts,
    }
    for prompt_type, prepared in expected.items():
        embeddings = encode(prompt_type)
        assert embeddings.dtype == np.float32 and embeddings.shape == (len(texts), 32)
        np.testing.assert_allclose(embeddings, prefixed_embedder.encode(prepared, kind=None), atol=1e-6)
    assert not np.allclose(encode(PromptType.query), encode(None), atol=1e-3)


def test_similarities_are_cosine(tiny_embedder):
    encoder = MtebEncoder(tiny_embedder)
    a, b = np.random.default_rng(0).normal(size=(2, 5, 8)).astype(np.float32)
    unit_a = a / np.linalg.norm(a, axis=1, keepdims=True)
    unit_b = b / np.linalg.norm(b, axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(encoder.similarity(a, b)), unit_a @ unit_b.T, atol=1e-6)
    np.testing.assert_allclose(np.asarray(encoder.similarity_pairwise(a, b)), (unit_a * unit_b).sum(1), atol=1e-6)


def test_says_how_to_install_mteb(monkeypatch):
    monkeypatch.setitem(sys.modules, "mteb", None)  # import mteb now fails as if it were not installed
    monkeypatch.delitem(sys.modules, "gtekit.evaluation.mteb_adapter")
    with pytest.raises(ImportError, match="pip install mteb"):
        importlib.import_module("gtekit.evaluation.mteb_adapter")


def test_refuses_a_precision_it_does_not_produce(tiny_embedder):
    with pytest.raises(ValueError, match="precision='int8'"):
        mteb.evaluate(MtebEncoder(tiny_embedder), MockSTSTask(), cache=None, co2_tracker=False,
                      show_progress_bar=False, encode_kwargs={"precision": "int8"})


# ----------------------------------------------------------------- scores equal gtekit's
@pytest.mark.parametrize("index", [0, 1], ids=["mteb-mock", "in-memory"])
def test_sts_main_score_is_gtekits_cosine_spearman(tiny_embedder, index):
    task = tasks_with_data()["sts"][index]
    scores = run(MtebEncoder(tiny_embedder), task)["test"]
    data = data_of(task)["test"]
    expected = sts_scores(tiny_embedder.encode(data["sentence1"]), tiny_embedder.encode(data["sentence2"]),
                          np.asarray(data["score"], dtype=float))
    assert scores["main_score"] == pytest.approx(expected["cosine_spearman"], abs=1e-6)
    assert scores["cosine_pearson"] == pytest.approx(expected["cosine_pearson"], abs=1e-6)
    if index == 1:
        assert abs(scores["main_score"]) < 0.99  # a score that can tell two models apart


@pytest.mark.parametrize("index", [0, 1], ids=["mteb-mock", "in-memory"])
def test_retrieval_scores_are_gtekits_with_query_and_document_prefixes(prefixed_embedder, index):
    task = tasks_with_data()["retrieval"][index]
    scores = run(MtebEncoder(prefixed_embedder), task)
    split = data_of(task)["default"]["test"]
    data = RetrievalData(
        corpus_ids=split["corpus"]["id"],
        corpus_texts=[f"{r['title']} {r['text']}".strip() for r in split["corpus"]],
        query_ids=split["queries"]["id"], query_texts=split["queries"]["text"],
        qrels=split["relevant_docs"], name="mock", split="test")
    expected = evaluate_retrieval(prefixed_embedder, data, k_values=task.k_values)  # kind="query"/"document"
    for split_name in ("val", "test"):
        for metric in ("ndcg_at_10", "map_at_10", "recall_at_3", "mrr_at_10", "precision_at_1"):
            assert scores[split_name][metric] == pytest.approx(expected[metric], abs=1e-5), metric  # mteb rounds
        assert scores[split_name]["main_score"] == pytest.approx(expected["main_score"], abs=1e-5)
    unprefixed = evaluate_retrieval(make_tiny_embedder(max_seq_length=64), data, k_values=task.k_values)
    if index == 1:  # the prefixes change the ranking, so the match above shows they were applied
        assert unprefixed["ndcg_at_10"] != pytest.approx(expected["ndcg_at_10"], abs=1e-4)


@pytest.mark.parametrize("index", [0, 1], ids=["mteb-mock", "in-memory"])
def test_classification_scores_are_gtekits_linear_probe(tiny_embedder, index):
    task = tasks_with_data()["classification"][index]
    scores = run(MtebEncoder(tiny_embedder), task)["test"]
    train, test = data_of(task)["train"], data_of(task)["test"]
    expected = classification_scores(tiny_embedder.encode(train["text"]), train["label"],
                                     tiny_embedder.encode(test["text"]), test["label"],
                                     n_experiments=task.n_experiments, samples_per_label=task.samples_per_label,
                                     seed=task.seed)
    for metric in ("main_score", "accuracy", "f1", "f1_weighted"):
        assert scores[metric] == pytest.approx(expected[metric], abs=1e-6), metric


# ----------------------------------------------------------------- mteb's result cache
def test_results_are_cached_under_the_model_name_and_weights(tmp_path, tiny_embedder):
    cache = mteb.ResultCache(tmp_path)
    encoder = MtebEncoder(tiny_embedder, name="me/tiny")
    first = mteb.evaluate(encoder, MockSTSTask(), cache=cache, co2_tracker=False, show_progress_bar=False)
    revision = encoder.mteb_model_meta.revision
    folder = tmp_path / "results" / "me__tiny" / revision
    assert (folder / "MockSTSTask.json").is_file() and (folder / "model_meta.json").is_file()
    assert first.model_revision == revision

    with torch.no_grad():  # a retrained model under the same name is evaluated again, not read back
        tiny_embedder.encoder.embeddings.word_embeddings.weight.mul_(-1.0)
    mteb.evaluate(encoder, MockSTSTask(), cache=cache, co2_tracker=False, show_progress_bar=False)
    assert sorted(p.name for p in (tmp_path / "results" / "me__tiny").iterdir()) == sorted(
        [revision, encoder.mteb_model_meta.revision])


@pytest.mark.slow
def test_every_text_mock_task_runs(tiny_embedder):
    results = mteb.mock_run(MtebEncoder(tiny_embedder))  # mteb's own check of a model implementation
    ran = [name for name, status in results.items() if status is not None]
    assert len(ran) >= 20 and results.all_passed, results.to_markdown()


@pytest.mark.minilm
def test_same_scores_as_mtebs_sentence_transformers_wrapper():
    from sentence_transformers import SentenceTransformer

    from gtekit.model.model_files import resolve_model_folder

    folder = resolve_model_folder("all-MiniLM-L6-v2")
    ours = MtebEncoder(Embedder.load(folder))
    theirs = mteb.SentenceTransformerEncoderWrapper(SentenceTransformer(str(folder), device="cpu"))
    for task_group in tasks_with_data().values():
        task = task_group[1]
        assert run(ours, task)["test"]["main_score"] == pytest.approx(run(theirs, task)["test"]["main_score"],
                                                                         abs=1e-5), task.metadata.name
