"""Helpers shared by test modules: ``from tests.helpers import make_tiny_embedder, TableEncoder``.

(A module of its own: several test folders have a ``conftest.py``, so ``from conftest import`` would
find whichever one was imported first.)
"""

from __future__ import annotations

import json


def make_tiny_embedder(**overrides):
    from gtekit import Embedder

    return Embedder.from_config("all-MiniLM-L6-v2", hidden_size=32, num_layers=2, num_heads=2,
                                intermediate_size=64, max_position_embeddings=128, seed=0, **overrides)


def write_start_and_trained(folder):
    """Two tiny models of one architecture and vocabulary, the second with perturbed weights (as if trained):
    ``(folder/start, folder/trained)``."""
    import torch

    start, trained = folder / "start", folder / "trained"
    make_tiny_embedder(max_seq_length=64).save(start)
    other = make_tiny_embedder(max_seq_length=64)
    with torch.no_grad():
        for parameter in other.encoder.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=torch.Generator().manual_seed(1)) * 0.1)
    other.save(trained)
    return start, trained


class TableEncoder:
    """An mteb encoder that looks each text up in a dict of precomputed embeddings, so mteb's own
    evaluators can score exactly the embeddings gtekit's metric functions get; similarities are mteb's cosine."""

    def __init__(self, table):
        self.table = table

    def encode(self, inputs, **kwargs):
        import numpy as np

        return np.stack([self.table[text] for batch in inputs for text in batch["text"]])

    def similarity(self, a, b):
        from mteb.similarity_functions import cos_sim

        return cos_sim(a, b)

    def similarity_pairwise(self, a, b):
        from sklearn.metrics.pairwise import paired_cosine_distances

        return 1 - paired_cosine_distances(a, b)

    @property
    def mteb_model_meta(self):
        return None


def write_source(path, n, negatives=0):
    """A JSONL pair file of ``n`` (query, positive) rows named after the file, with ``negatives`` each."""
    with open(path, "w") as handle:
        for i in range(n):
            row = {"query": f"what is item {i} of {path.stem}?", "positive": f"item {i} is a {path.stem} thing {i * 7}"}
            if negatives:
                row["negatives"] = [f"unrelated text {i}-{k}" for k in range(negatives)]
            handle.write(json.dumps(row) + "\n")
    return path


def write_duplicate_pairs(path, n):
    """A JSONL pair file of ``n`` rows whose texts repeat: queries every 5 rows, positives every 7, and two
    negatives each, the first another row's positive (``loss.mask_duplicates`` has something to mask)."""
    with open(path, "w") as handle:
        for i in range(n):
            row = {"query": f"which item is number {i % 5}?", "positive": f"item number {i % 7} of the list",
                   "negatives": [f"item number {(i + 1) % 7} of the list", f"an unrelated text {i}"]}
            handle.write(json.dumps(row) + "\n")
    return path


def strings_with_raw_bytes(values):
    """An Arrow string array holding ``values`` (bytes or None) as they are, UTF-8 or not, as writers other than
    pyarrow may leave a Parquet file."""
    import pyarrow as pa

    binary = pa.array(values, pa.binary())
    return pa.Array.from_buffers(pa.string(), len(binary), binary.buffers())


def write_other_vocabulary_model(folder):
    """A tiny random BERT embedder whose tokenizer is not MiniLM's: WordPiece over single letters, digits and
    punctuation (so its token ids and sequence lengths differ from the MiniLM student's): ``folder``."""
    import string

    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    from gtekit import Embedder

    symbols = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocabulary = {token: i for i, token in enumerate(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *symbols, *(f"##{s}" for s in symbols)])}
    tokenizer = Tokenizer(models.WordPiece(vocabulary, unk_token="[UNK]", max_input_chars_per_word=1000))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tokens = folder / "tokenizer"
    BertTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                      sep_token="[SEP]", mask_token="[MASK]").save_pretrained(tokens)
    model = Embedder.from_config(tokens, hidden_size=24, num_layers=2, num_heads=2, intermediate_size=48,
                                 max_position_embeddings=256, seed=3, max_seq_length=96)
    model.save(folder / "model")
    return folder / "model"
