"""``gtekit adapt``: a better retriever for a user's own corpus, from its documents alone.

- ``documents``: the Document type;
- ``corpus_reading``: BEIR folders, folders of files, JSONL/Parquet records into documents;
- ``prose_pairs`` and ``code_pairs``: pairs by kind from one document (``code_pairs`` reads definitions and
  doc comments in many languages through ``code_definitions``, ``code_headers``, ``code_lexer``,
  ``code_syntax``, ``code_comments``, ``code_python`` and ``code_model``);
- ``pair_set``: de-duplication, the held-out split, the pair files and samples;
- ``synthetic_queries`` (through ``chat_endpoint``): optional queries written by an OpenAI-compatible LLM;
- ``triples``: mined hard negatives back into one source per kind, without the query's own document;
- ``adapt_settings`` and ``adapt_run``: the steps (pairs, hard negatives, fine-tuning, the WiSE-FT weight
  chosen on held-out pseudo-queries, before/after evaluation);
- ``adapt_report``: the Markdown, JSON and PNG report.
"""
