"""Build the adaptation sets: BEIR folders whose queries were written by people, from pinned archives.

    .venv/bin/python -m benchmarks.adapt_sets.build                       # every set, into benchmarks/adapt_sets
    .venv/bin/python -m benchmarks.adapt_sets.build --only npm-jsdoc      # one set; the others stay as they are
    .venv/bin/python -m benchmarks.adapt_sets.build --downloads ~/.cache/adapt-sets   # keep the archives

Per set: download its archives (``sources``), unpack them into a temporary folder, read candidates
(``code_sets``, ``doc_sets``), choose the set (``candidates.choose``), write ``NAME/corpus.jsonl``,
``NAME/queries.jsonl`` and ``NAME/qrels/test.tsv`` (each folder replaced whole, atomically), score a
TF-IDF baseline, and record everything in ``manifest.json`` and ``README.md``. The same pins and seed
give the same files.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gtekit.io.atomic import atomic_path

from .baseline import tfidf_scores
from .candidates import Candidate, ChosenSet, choose, words
from .code_sets import is_prose, javascript_candidates, python_candidates
from .doc_sets import is_question, is_topic_heading, section_candidates
from .readme import render_readme
from .sources import DJANGO_FAQ, DOCUMENTATION, JAVASCRIPT_CODE, PYTHON_CODE, Archive, download, sha256, unpack

HERE = Path(__file__).resolve().parent
SEED = 20261206


@dataclass(frozen=True)
class SetSpec:
    """How one set is built: its archives, how candidates are read from each, and the choice rules."""

    name: str
    summary: str
    archives: tuple[Archive, ...]
    read: Callable[[Path, Archive], list[Candidate]]
    rules: dict = field(default_factory=dict)  # keyword arguments of candidates.choose


SETS = (
    SetSpec("pypi-docstrings", "query: the first paragraph of a Python function's or method's docstring; "
            "document: the function's source without its docstring", PYTHON_CODE, python_candidates,
            dict(n_queries=400, max_docs=3000, min_query_words=4, min_doc_words=30, max_source_share=0.25,
                 query_filter=is_prose)),
    SetSpec("npm-jsdoc", "query: the first paragraph of a JavaScript/TypeScript function's JSDoc description; "
            "document: the function's source without its comment", JAVASCRIPT_CODE, javascript_candidates,
            dict(n_queries=400, max_docs=3000, min_query_words=4, min_doc_words=20, max_source_share=0.25,
                 query_filter=is_prose)),
    SetSpec("pypi-doc-sections", "query: a section heading (or page title) of a package's documentation; "
            "document: that section's own text, without the heading", DOCUMENTATION, section_candidates,
            dict(n_queries=400, max_docs=3000, min_query_words=2, min_doc_words=30, max_doc_words=400,
                 max_source_share=0.25, query_filter=is_topic_heading)),
    SetSpec("faq-questions", "query: a documentation heading that is a question (FAQ pages and others); "
            "document: the answer, the section's own text", (*DOCUMENTATION, DJANGO_FAQ), section_candidates,
            dict(n_queries=400, max_docs=3000, min_query_words=4, min_doc_words=15, max_doc_words=400,
                 query_filter=is_question)),
)
SET_NAMES = tuple(spec.name for spec in SETS)


def build_set(spec: SetSpec, out: Path, downloads: Path, scratch: Path, read_before: dict) -> dict:
    """Build one set into ``out/spec.name``; its manifest entry.

    ``read_before`` keeps the candidates of each (archive, reader) for the next set that reads the same.
    """
    candidates: list[Candidate] = []
    packages = []
    for archive in spec.archives:
        path = download(archive, downloads)
        key = (archive, spec.read)
        if key not in read_before:
            root = unpack(path, scratch / f"{archive.registry}-{archive.name}-{archive.version}")
            read_before[key] = spec.read(root, archive)
        found = read_before[key]
        candidates.extend(found)
        packages.append({"registry": archive.registry, "name": archive.name, "version": archive.version,
                         "file": path.name, "sha256": sha256(path), "licence": archive.licence,
                         "paths": list(archive.paths), "candidates": len(found)})
        print(f"  {archive.pin}: {len(found)} candidates")
    chosen = choose(candidates, seed=SEED, **spec.rules)
    folder = out / spec.name
    write_beir(chosen, folder)
    sources = {package["name"]: 0 for package in packages}
    by_id = {candidate.doc_id: candidate.source for candidate in candidates}
    for _, _, doc_id in chosen.queries:
        sources[by_id[doc_id]] += 1
    doc_words = [words(text) for _, text in chosen.corpus]
    rules = {key: (value.__name__ if callable(value) else value) for key, value in spec.rules.items()}
    return {"summary": spec.summary, "seed": SEED, "rules": rules, "packages": packages,
            "documents": len(chosen.corpus), "queries": len(chosen.queries), "qrels": len(chosen.queries),
            "queries_per_package": sources, "mean_document_words": round(sum(doc_words) / len(doc_words), 1),
            "mean_query_words": round(sum(words(text) for _, text, _ in chosen.queries) / len(chosen.queries), 1),
            "corpus_bytes": (folder / "corpus.jsonl").stat().st_size, "selection": chosen.counts,
            "tfidf": tfidf_scores(folder)}


def write_beir(chosen: ChosenSet, folder: Path) -> None:
    """corpus.jsonl (empty titles), queries.jsonl and qrels/test.tsv (one relevant document per query)."""
    with atomic_path(folder) as tmp:
        (tmp / "qrels").mkdir(parents=True)
        with open(tmp / "corpus.jsonl", "w", encoding="utf-8") as stream:
            for doc_id, text in chosen.corpus:
                stream.write(json.dumps({"_id": doc_id, "title": "", "text": text}, ensure_ascii=False) + "\n")
        with open(tmp / "queries.jsonl", "w", encoding="utf-8") as stream:
            for query_id, text, _ in chosen.queries:
                stream.write(json.dumps({"_id": query_id, "text": text}, ensure_ascii=False) + "\n")
        with open(tmp / "qrels" / "test.tsv", "w", encoding="utf-8") as stream:
            stream.write("query-id\tcorpus-id\tscore\n")
            for query_id, _, doc_id in chosen.queries:
                stream.write(f"{query_id}\t{doc_id}\t1\n")


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=SET_NAMES, action="append", help="build only this set (repeatable)")
    parser.add_argument("--out", type=Path, default=HERE, help="folder of the sets, manifest.json and README.md")
    parser.add_argument("--downloads", type=Path, help="keep downloaded archives here (default: a temporary folder)")
    args = parser.parse_args(argv)
    names = args.only or SET_NAMES
    manifest_path = args.out / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    read_before: dict = {}
    with tempfile.TemporaryDirectory(prefix="adapt-sets-") as tmp:
        downloads = args.downloads or Path(tmp) / "downloads"
        for spec in SETS:
            if spec.name in names:
                print(f"{spec.name}:")
                manifest[spec.name] = entry = build_set(spec, args.out, downloads, Path(tmp) / "unpacked",
                                                            read_before)
                print(f"  {entry['documents']} documents ({entry['mean_document_words']} words on average, "
                      f"{entry['corpus_bytes'] / 1e6:.2f} MB), {entry['queries']} queries; "
                      f"TF-IDF nDCG@10 {entry['tfidf']['ndcg_at_10']:.3f}")
    manifest = {name: manifest[name] for name in SET_NAMES if name in manifest}
    write_text(manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    write_text(args.out / "README.md", render_readme(manifest))


if __name__ == "__main__":
    main()
