"""`gtekit adapt`: a better retriever for a user's own corpus, from its documents alone; the options become an
``AdaptSettings`` for ``gtekit.adapt.adapt_run.adapt``."""

from __future__ import annotations

import argparse

ADAPT_DESCRIPTION = """\
Fine-tune MODEL on CORPUS without labelled queries and say, with evidence, whether it got better:

  1. pairs from the documents' own structure, by kind: (title or heading, body), (first sentence, rest),
     inverse cloze (a sentence, its context without it), two random crops of a document, for code
     (identifier words and signature, body) and (doc comment, code) in Python, JavaScript, Go, Java, C,
     C++, Rust, shell and more, and (question, answer); de-duplicated; 10% of documents held out;
  2. optionally, queries written by an LLM (--llm-url, any OpenAI-compatible endpoint);
  3. hard negatives mined in the corpus with MODEL (relative margin), then fine-tuning within the budget;
  4. WiSE-FT: the weight between MODEL and the fine-tuned model chosen on held-out pseudo-queries, keeping the
     general tasks' dev average within --max-general-drop of MODEL's with 95% confidence and no general task
     lost significantly by more than --max-task-drop;
  5. a report (DIR/report.md, .json, .png): before and after on the held-out queries, the general offline
     tasks and any --eval BEIR folders, each with a 95% paired bootstrap interval.

CORPUS: a BEIR folder or corpus.jsonl ({_id, title, text}), a folder of .txt/.md/.rst/.html/source files, or
JSONL/Parquet records with a text field. The adapted model is DIR/model (a sentence-transformers folder:
`gtekit serve DIR/model`). A rerun with the same options resumes where it stopped.

  gtekit adapt my-docs/ -o runs/adapt-docs
  gtekit adapt corpus.jsonl --model all-MiniLM-L6-v2 -o runs/adapt --budget-minutes 60 --eval my-beir-set/
  gtekit adapt src/ -o runs/adapt-code --llm-url http://localhost:8000/v1 --llm-model Qwen2.5-7B-Instruct
"""


def add_parser(subcommands) -> argparse.ArgumentParser:
    parser = subcommands.add_parser("adapt", help="adapt a model to a corpus from its documents alone",
                                    description=ADAPT_DESCRIPTION,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="+", metavar="CORPUS", help="BEIR folder, folder of files, JSONL or Parquet")
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="the model to adapt (default: all-MiniLM-L6-v2)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="the run folder (resumed when rerun)")
    parser.add_argument("--budget-minutes", type=float, default=30.0,
                        help="wall time for the whole run; training gets what the other steps leave (default: 30)")
    parser.add_argument("--eval", action="append", default=[], metavar="BEIR_DIR",
                        help="a BEIR folder with real queries, scored before and after on its test split (repeatable)")
    reading = parser.add_argument_group("reading the corpus")
    reading.add_argument("--text-field", default="text", help="JSONL/Parquet: the text field (default: text)")
    reading.add_argument("--title-field", default="title", help="JSONL/Parquet: the title field (default: title)")
    reading.add_argument("--id-field", default="", help="JSONL/Parquet: the id field (default: _id, then id, "
                                                        "else file:line)")
    reading.add_argument("--language", default="auto",
                         help="JSONL/Parquet: the records' programming language: auto (default: from a file "
                              "extension at the start of the id, e.g. pkg/util.go:Parse), prose, or python, go, "
                              "rust, java, javascript, c, cpp, shell, ...")
    reading.add_argument("--min-words", type=int, default=20,
                         help="shorter documents are skipped, counted (default: 20)")
    reading.add_argument("--skip-invalid", action="store_true",
                         help="count and skip undecodable files and malformed rows instead of stopping")
    reading.add_argument("--held-out", type=float, default=0.1,
                         help="share of documents held out for choosing and reporting (default: 0.1)")
    training = parser.add_argument_group("training")
    training.add_argument("--steps", type=int, default=0, help="training steps (default 0: from the time budget)")
    training.add_argument("--batch-size", type=int, default=32, help="pairs per step (default: 32)")
    training.add_argument("--negatives", type=int, default=1, help="hard negatives per pair (default: 1)")
    training.add_argument("--chunk-size", type=int, default=16,
                          help="gradient cache: texts encoded at a time (default: 16; 0: the whole batch at once, "
                               "which needs far more memory)")
    training.add_argument("--max-seq-length", type=int, default=128,
                          help="tokens per text in training (default: 128); the adapted model keeps the base's")
    training.add_argument("--lr", type=float, default=2e-5, help="peak learning rate (default: 2e-5)")
    training.add_argument("--temperature", type=float, default=0.05,
                          help="loss temperature; the base model's own (default 0.05: all-MiniLM-L6-v2's scale 20)")
    training.add_argument("--relative-margin", type=float, default=0.05,
                          help="drop negative candidates above (1 - margin) x the positive's score (default: 0.05)")
    training.add_argument("--distill-weight", type=float, default=0.0,
                          help="> 0: also distil the base model's in-batch similarities, with this weight")
    training.add_argument("--seed", type=int, default=42, help="seed of sampling and training (default: 42)")
    selection = parser.add_argument_group("choosing the model")
    selection.add_argument("--merge-weights", default="0.5,0.75,1",
                           help="WiSE-FT weights λ to try; λ = 0 (the base) is always a candidate "
                                "(default: 0.5,0.75,1)")
    selection.add_argument("--max-general-drop", type=float, default=0.5,
                           help="the most the general tasks' dev average may drop, in points, with 95%% confidence "
                                "(the paired bootstrap interval of its change must lie above minus this; "
                                "default: 0.5)")
    selection.add_argument("--max-task-drop", type=float, default=1.0,
                           help="a λ that loses any general task's dev score significantly (paired bootstrap 95%% "
                                "interval below 0) by more than this many points is not chosen; a negative "
                                "value turns the check off (default: 1.0)")
    llm = parser.add_argument_group("synthetic queries (optional; nothing is called without --llm-url)")
    llm.add_argument("--llm-url", default=None, help="an OpenAI-compatible endpoint, e.g. http://localhost:8000/v1")
    llm.add_argument("--llm-model", default=None, help="the model name the endpoint serves")
    llm.add_argument("--llm-api-key-env", default="OPENAI_API_KEY",
                     help="environment variable holding the API key (default: OPENAI_API_KEY)")
    llm.add_argument("--llm-documents", type=int, default=1000, help="documents to write queries for (default: 1000)")
    llm.add_argument("--llm-max-requests", type=int, default=1000,
                     help="hard cap on requests, retries included (default: 1000)")
    llm.add_argument("--llm-concurrency", type=int, default=4, help="requests in flight (default: 4)")
    parser.set_defaults(handler=run)
    return parser


def settings_from_args(args):
    from ..adapt.adapt_settings import AdaptSettings, SelectionSettings, TrainingSettings
    from ..adapt.corpus_reading import CorpusSettings
    from ..adapt.pair_set import PairSettings
    from ..adapt.synthetic_queries import SyntheticQuerySettings

    if (args.llm_url is None) != (args.llm_model is None):
        raise ValueError("--llm-url and --llm-model go together")
    try:
        weights = [float(value) for value in args.merge_weights.split(",") if value.strip()]
    except ValueError:
        raise ValueError(f"--merge-weights: expected numbers separated by commas, got {args.merge_weights!r}") from None
    if any(not 0 <= weight <= 1 for weight in weights):
        raise ValueError(f"--merge-weights: every λ must be in [0, 1], got {args.merge_weights!r}")
    llm = None
    if args.llm_url:
        llm = SyntheticQuerySettings(url=args.llm_url, model=args.llm_model, api_key_env=args.llm_api_key_env,
                                     max_documents=args.llm_documents, max_requests=args.llm_max_requests,
                                     concurrency=args.llm_concurrency, seed=args.seed,
                                     cache_path=f"{args.output}/synthetic-queries-cache.jsonl")
    return AdaptSettings(
        inputs=list(args.corpus), model=args.model, output_dir=args.output, budget_minutes=args.budget_minutes,
        eval_beir=list(args.eval),
        corpus=CorpusSettings(text_field=args.text_field, title_field=args.title_field, id_field=args.id_field,
                              language=args.language, min_words=args.min_words,
                              skip_invalid=args.skip_invalid),
        pairs=PairSettings(held_out=args.held_out, seed=args.seed),
        training=TrainingSettings(steps=args.steps, batch_size=args.batch_size, chunk_size=args.chunk_size,
                                  negatives=args.negatives,
                                  max_seq_length=args.max_seq_length, lr=args.lr, temperature=args.temperature,
                                  relative_margin=args.relative_margin, distill_weight=args.distill_weight,
                                  seed=args.seed),
        selection=SelectionSettings(weights=weights, max_general_drop=args.max_general_drop / 100,
                                    max_task_drop=args.max_task_drop / 100 if args.max_task_drop >= 0 else None),
        llm=llm)


def run(args) -> int:
    from ..adapt.adapt_run import adapt

    record = adapt(settings_from_args(args))
    held = record["headline"]["held_out_change"]
    if held:
        print(f"held-out test nDCG@10: {100 * held['delta']:+.2f} [{100 * held['low']:+.2f}, "
              f"{100 * held['high']:+.2f}] with λ = {record['headline']['chosen_weight']:g}; "
              f"model in {args.output}/model; report in {args.output}/report.md")
    return 0
