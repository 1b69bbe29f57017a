"""`gtekit data extract` (also `gtekit data mine`, its older name): turn raw files into a pair file, one kind of
source at a time (``gtekit.data.extract``).

Writes ``DIR/NAME.jsonl`` with rows ``{"query", "positive", "doc_id"}`` (``gtekit.data.pairs`` reads
them; it ignores ``doc_id``) and, with ``--held-out``, ``DIR/held-out/NAME.jsonl`` with the pairs of
the held-out documents, split by doc_id and never by row. Both are written atomically.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
from pathlib import Path

# kind: (module, function, the options it takes, what its documents are)
KINDS = {
    "python": ("python_code", "mine_python", ("min_doc_words", "max_code_chars", "no_classes"), "modules"),
    "javascript": ("javascript_code", "mine_javascript", ("min_doc_words", "max_code_chars", "no_classes"),
                   "files"),
    "sections": ("sections", "mine_sections", ("heading_path",), "documents"),
    "qa": ("qa", "mine_qa", ("fields",), "files"),
    "entity": ("entities", "mine_entities", ("fields",), "entries"),
    "news": ("news", "mine_news", ("fields",), "articles"),
    "bitext": ("bitext", "mine_bitext", ("swap", "max_pairs_per_group"), "rows"),
}
OPTION_FLAGS = {"min_doc_words": "--min-doc-words", "max_code_chars": "--max-code-chars", "no_classes": "--no-classes",
                "heading_path": "--heading-path", "fields": "--field", "swap": "--swap",
                "max_pairs_per_group": "--max-pairs-per-group"}
MAX_LISTED_FAILURES = 20

DESCRIPTION = """\
Extract (query, positive) pairs of one kind from raw files (GTE Table 2) and write them as a pair file.
INPUT may be files, folders (read recursively, in sorted order) and zip archives.

kinds:
  python      (docstring, code) from Python packages; INPUT: package folders; doc_id: top-level module
  javascript  (JSDoc description, code) from .js/.jsx/.ts/.tsx files; doc_id: file
  sections    (title, lead) and (heading, section) from Markdown, reStructuredText and HTML; doc_id: file
  qa          (question, answer) from chatterbot-style YAML dialogues, JSON/JSONL/CSV records, Markdown
              FAQs (headings ending in "?"); doc_id: file#dialogue or question
  entity      (entity, description) from JSON/JSONL/CSV glossaries and WordNet data.* files;
              doc_id: the headword, so all senses of a word stay together
  news        (title, content) and (summary, content) from JSONL/CSV records (also zipped) and .txt
              articles (first line: title); doc_id: article id or file
  bitext      (sentence, paraphrase): English sentences sharing a translation in a TSV such as
              Tatoeba's spa.tsv; doc_id: the shared translation

examples:
  gtekit data extract python /usr/lib/python3.11 -o data --held-out 0.2
  gtekit data extract javascript my-project/src -o data --name my-project-code
  gtekit data extract sections docs/ -o data --heading-path
  gtekit data extract qa chatterbot_corpus/data/english -o data
  gtekit data extract entity glossary.jsonl -o data --field term=name --field definition=senses.gloss
  gtekit data extract news NewsArticles.zip -o data --field summary=subtitle
  gtekit data extract bitext spa.tsv -o data --held-out 0.1
"""


def add_parser(subcommands) -> argparse.ArgumentParser:
    parser = subcommands.add_parser(
        "extract", aliases=["mine"],
        help="extract pairs of one kind (code, sections, QA, entities, news, bitext) from raw files",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=sorted(KINDS), metavar="KIND",
                        help=f"the kind of source: {', '.join(KINDS)}")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or zip archives to read")
    parser.add_argument("-o", "--output-dir", required=True, metavar="DIR", help="folder for the pair files")
    parser.add_argument("--name", help="file name of the source, without .jsonl (default: KIND); the training "
                                       "source is named after it")
    parser.add_argument("--held-out", type=float, metavar="FRACTION",
                        help="also write held-out/NAME.jsonl (a subfolder: training on DIR never reads it) with "
                             "the pairs of this fraction of documents, "
                             "chosen by a SHA-1 of doc_id (stable across runs and machines), e.g. 0.1")
    parser.add_argument("--skip-dir", action="append", metavar="NAME",
                        help="folder name to skip at any depth (repeatable; default: node_modules and "
                             "__pycache__ for files, the stdlib's test folders for python)")
    code = parser.add_argument_group("python and javascript")
    code.add_argument("--min-doc-words", type=int, metavar="N",
                      help="shortest docstring or JSDoc description kept, in words (default: 3)")
    code.add_argument("--max-code-chars", type=int, metavar="N",
                      help="longest code kept, in characters; longer definitions are skipped (default: 4000)")
    code.add_argument("--no-classes", action="store_true", default=None,
                      help="extract functions and methods only, not classes")
    text = parser.add_argument_group("sections")
    text.add_argument("--heading-path", action="store_true", default=None,
                      help="query = the path of headings ('Title > Install > Linux') instead of the heading alone")
    records = parser.add_argument_group("qa, entity and news")
    records.add_argument("--field", dest="fields", action="append", metavar="ROLE=PATH",
                         help="read ROLE from PATH, a field name or a dotted path into nested objects and lists "
                              "(repeatable). Roles: qa: question, answer, id; entity: term, definition; news: "
                              "title, summary (several paths joined with ','), content, id")
    bitext = parser.add_argument_group("bitext")
    bitext.add_argument("--swap", action="store_true", default=None,
                        help="pair translations that share an English sentence instead")
    bitext.add_argument("--max-pairs-per-group", type=int, metavar="N",
                        help="most pairs from the sentences sharing one translation (default: 10)")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..data.extract.base import split_held_out
    from ..io.atomic import atomic_path

    module_name, function_name, accepted, unit = KINDS[args.kind]
    options = _kind_options(args, accepted)
    name = args.name or args.kind
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) or name.endswith(".jsonl"):
        raise ValueError(f"--name {name!r}: use letters, digits, '.', '_' and '-', without .jsonl")
    if args.held_out is not None and not 0.0 < args.held_out < 1.0:
        raise ValueError(f"--held-out must be between 0 and 1 (exclusive), got {args.held_out}")
    miner = getattr(importlib.import_module(f"gtekit.data.extract.{module_name}"), function_name)
    if args.skip_dir:
        options["skip_dirs"] = tuple(args.skip_dir)
    pairs, report = miner(args.inputs, **options)
    print(f"{args.kind}: read {report.documents} {unit}, mined {report.pairs} pairs "
          f"from {len({pair.doc_id for pair in pairs})} documents (doc_id)")
    _print_report(report)
    if not pairs:
        raise ValueError(f"no pairs mined from {', '.join(args.inputs)}; nothing written")
    train, held = split_held_out(pairs, args.held_out or 0.0)
    outputs = [(Path(args.output_dir) / f"{name}.jsonl", train)]
    if args.held_out is not None:
        outputs.append((Path(args.output_dir) / "held-out" / f"{name}.jsonl", held))
    for path, rows in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
            for pair in rows:
                row = {"query": pair.query, "positive": pair.positive, "doc_id": pair.doc_id}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"wrote {len(rows)} pairs ({len({pair.doc_id for pair in rows})} documents) to {path}")
    return 0


def _kind_options(args: argparse.Namespace, accepted: tuple[str, ...]) -> dict:
    """The miner's keyword arguments from the options given; an option of another kind is an error."""
    given = {option for option in OPTION_FLAGS if getattr(args, option, None) is not None}
    wrong = sorted(given - set(accepted))
    if wrong:
        flags = ", ".join(OPTION_FLAGS[option] for option in wrong)
        valid = ", ".join(OPTION_FLAGS[option] for option in accepted)
        raise ValueError(f"{flags} does not apply to {args.kind}; its options are: {valid}")
    options: dict = {}
    for option in given:
        if option == "no_classes":
            options["include_classes"] = False
        elif option == "fields":
            options["fields"] = _parse_fields(args.fields)
        else:
            options[option] = getattr(args, option)
    return options


def _parse_fields(items: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in items:
        role, separator, path = item.partition("=")
        if not separator or not role.strip() or not path.strip():
            raise ValueError(f"--field {item!r}: expected ROLE=PATH, e.g. --field definition=pos.definitions.text")
        fields[role.strip()] = path.strip()
    return fields


def _print_report(report) -> None:
    if report.skipped:
        print("skipped:")
        width = len(str(max(report.skipped.values())))
        for reason, count in sorted(report.skipped.items(), key=lambda item: (-item[1], item[0])):
            print(f"  {count:>{width}}  {reason}")
    if report.failed:
        print(f"files that could not be read ({len(report.failed)}):")
        for path, reason in report.failed[:MAX_LISTED_FAILURES]:
            print(f"  {path}: {reason}")
        if len(report.failed) > MAX_LISTED_FAILURES:
            print(f"  ... and {len(report.failed) - MAX_LISTED_FAILURES} more")
