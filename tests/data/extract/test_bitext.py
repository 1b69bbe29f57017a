"""(sentence, paraphrase) mining from Tatoeba-style bitext: exact pairs, groups, skips, the CLI."""

from __future__ import annotations

import pytest

from gtekit.data.extract.base import MinedPair
from gtekit.data.extract.bitext import mine_bitext

ATTRIBUTION = "CC-BY 2.0 (France) Attribution: tatoeba.org #1 (CM) & #2 (x)"
ROWS = [
    ("Go.", "Ve."),
    ("Go.", "Vete."),
    ("Go away.", "Vete."),
    ("Leave.", "Vete."),
    ("Go!", "Ve."),  # differs from "Go." only in punctuation: not a pair
    ("I'm hungry.", "Tengo hambre."),
    ("I am hungry.", "Tengo hambre."),
    ("I am hungry.", "Tengo hambre."),  # a repeated row
    ("Hi.", "Hola."),
    ("It's raining.", "Está lloviendo."),
    ("It is raining.", "Llueve."),
    ("", "Vacío."),
]


@pytest.fixture
def spa_tsv(tmp_path):
    lines = [f"{english}\t{spanish}\t{ATTRIBUTION}" for english, spanish in ROWS] + ["a line without a tab"]
    path = tmp_path / "spa.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_pairs_are_exact(spa_tsv):
    pairs, report = mine_bitext([spa_tsv])
    assert pairs == [
        MinedPair("Go.", "Go away.", "Ve."),  # via "Vete."; "Ve." and "Vete." share "Go.", so one group
        MinedPair("Go.", "Leave.", "Ve."),
        MinedPair("Go away.", "Leave.", "Ve."),
        MinedPair("I'm hungry.", "I am hungry.", "Tengo hambre."),
    ]
    assert report.documents == len(ROWS) + 1
    assert dict(report.skipped) == {
        "row with fewer than two columns": 1,
        "row with an empty sentence": 1,
        "repeated row": 1,
        "trivial variant (case, spacing, punctuation)": 1,
        "sentence without a paraphrase": 3,  # Hola., Está lloviendo., Llueve.
    }


def test_swap_and_cap(spa_tsv):
    pairs, _ = mine_bitext([spa_tsv], swap=True)
    assert pairs == [MinedPair("Ve.", "Vete.", "Go.")]
    pairs, report = mine_bitext([spa_tsv], max_pairs_per_group=1)
    assert [(pair.query, pair.positive) for pair in pairs] == [("Go.", "Go away."), ("I'm hungry.", "I am hungry.")]
    assert report.skipped["pair over max_pairs_per_group"] == 2


def test_cli(spa_tsv, mine_cli, read_rows):
    code, output, out = mine_cli("bitext", str(spa_tsv), "--held-out", "0.5", "--max-pairs-per-group", "2")
    assert code == 0
    train, held = read_rows(out / "bitext.jsonl"), read_rows(out / "held-out" / "bitext.jsonl")
    assert len(train) + len(held) == 3
    assert not {row["doc_id"] for row in train} & {row["doc_id"] for row in held}
    again = mine_cli("bitext", str(spa_tsv), "--held-out", "0.5", "--max-pairs-per-group", "2")[2]
    assert read_rows(again / "held-out" / "bitext.jsonl") == held  # the split is the same on every run
    code, output, _ = mine_cli("bitext", str(spa_tsv), "--held-out", "1.5")
    assert code == 2 and "--held-out must be between 0 and 1" in output
