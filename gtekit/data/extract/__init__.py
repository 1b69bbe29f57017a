"""Miners: build (query, positive) training pairs from raw sources, one kind of source per module.

Each miner returns typed pairs plus a report of what it skipped, and can turn its pairs into
rows of the training-file format read by ``gtekit.data.pairs``. No miner loads a model.

The pair kinds of GTE Table 2, each ``mine_<kind>(paths, **options) -> (list[MinedPair], MineReport)``:
``python_code.mine_python`` (docstring, code), ``javascript_code.mine_javascript`` (JSDoc, code),
``sections.mine_sections`` (title, lead) and (heading, section), ``qa.mine_qa`` (question, answer),
``entities.mine_entities`` (entity, description), ``news.mine_news`` (title or summary, content) and
``bitext.mine_bitext`` (sentence, paraphrase). Shared: ``base`` (the pair, the report, the held-out
split by doc_id), ``files`` (input files, folders and zips), ``records`` (JSON/JSONL/CSV records and
field paths), ``document_outline`` (headings and blocks of text, sections), ``markup_outline``/``html_outline``
(the outline of Markdown, reST and HTML).
"""
