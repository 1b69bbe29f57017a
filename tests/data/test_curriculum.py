"""The easy-to-hard negative curriculum: the window on triples of known scores, and reading the scores
and the minimum number of negatives from JSONL, Parquet files and streamed mixtures alike."""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gtekit.data.curriculum import EasyToHardNegatives, difficulty, ranked_hardest_first
from gtekit.data.negative_scores import NegativeRequirements, failing_rows, pair_meeting
from gtekit.data.pairs import Pair, PairFormatError, load_sources, read_pairs
from gtekit.data.rows import RowError
from gtekit.data.streaming import write_mixture

SCORED = NegativeRequirements(keep_scores=True)


def scored_pair(i: int, scores: list[float], positive: float = 0.8) -> Pair:
    """A pair whose negative j is named 'neg i j' and scored scores[j] (not in score order)."""
    return Pair(f"query {i}", f"positive {i}", tuple(f"neg {i} {j}" for j in range(len(scores))),
                positive, tuple(scores))


def reference_window(scores: list[float], positive: float, k: int, pool: int, step: int, steps: int,
                     hold: float) -> set[int]:
    """The window written out from the docstring's formulas, in exact arithmetic: which negatives
    (list positions) step ``step`` uses."""
    relative = [s / positive for s in scores]
    hardest_first = sorted(range(len(scores)), key=lambda j: (-relative[j], j))[:pool or len(scores)]
    m = len(hardest_first)
    n = m - k + 1
    q = min(Fraction(1), Fraction(step, steps) / (1 - Fraction(hold).limit_denominator(1000)))
    c = min(n - 1, math.floor(q * n))
    return set(hardest_first[m - k - c: m - c])


def test_window_slides_from_easiest_to_hardest_as_steps_advance():
    scores = [0.31, 0.72, 0.15, 0.55, 0.68, 0.22, 0.47, 0.60]  # hardest: 1 (0.72), easiest: 2 (0.15)
    pair = scored_pair(0, scores)
    curriculum = EasyToHardNegatives(per_query=3, total_steps=20, pool=7, hold=0.25)
    chosen = [curriculum.negatives(pair, step) for step in range(20)]
    hardness = [sorted(scores[int(text.split()[-1])] for text in negatives) for negatives in chosen]
    pool = sorted(scores, reverse=True)[:7]  # the 7 hardest: 0.15 is left out
    assert hardness[0] == sorted(pool[-3:])  # the 3 easiest of the pool first
    assert all(h == sorted(pool[:3]) for h in hardness[15:])  # hold: the last 25% on the 3 hardest
    for before, after in itertools.pairwise(hardness):  # every rank of the window moves up or stays
        assert all(a >= b for a, b in zip(after, before, strict=True))
    assert len({tuple(h) for h in hardness}) == 7 - 3 + 1  # every window position is visited
    for step, negatives in enumerate(chosen):
        assert {int(t.split()[-1]) for t in negatives} == reference_window(scores, 0.8, 3, 7, step, 20, 0.25)
        assert [scores[int(t.split()[-1])] for t in negatives] == sorted(
            (scores[int(t.split()[-1])] for t in negatives), reverse=True)  # hardest first


@pytest.mark.parametrize("k, pool, steps, hold", [(1, 0, 7, 0.0), (2, 5, 11, 0.5), (4, 0, 3, 0.1), (3, 9, 100, 0.0)])
def test_window_matches_the_formula_and_never_moves_back(k, pool, steps, hold):
    scores = [((j * 37) % 11) / 10 for j in range(9)]  # a fixed shuffle of distinct scores
    pair = scored_pair(1, scores, positive=0.9)
    curriculum = EasyToHardNegatives(k, steps, pool, hold)
    starts = []
    for step in range(steps):
        negatives = curriculum.negatives(pair, step)
        assert {int(t.split()[-1]) for t in negatives} == reference_window(scores, 0.9, k, pool, step, steps, hold)
        starts.append(curriculum.ranks(step, len(scores)).start)
    assert starts == sorted(starts, reverse=True)  # the hardest-first rank of the window only decreases
    assert starts[-1] == 0 or steps < (pool or 9) - k + 1  # the last step reaches the hardest when it can


def test_difficulty_is_the_score_relative_to_the_positive():
    pair = scored_pair(2, [0.2, 0.6, 0.4], positive=0.8)
    assert difficulty(pair) == pytest.approx([0.25, 0.75, 0.5])
    assert ranked_hardest_first(pair) == ("neg 2 1", "neg 2 2", "neg 2 0")
    # a positive scored <= 0 would reverse the order if divided by: the raw scores rank instead
    assert ranked_hardest_first(scored_pair(2, [0.2, 0.6, 0.4], positive=-0.1)) == ("neg 2 1", "neg 2 2", "neg 2 0")
    no_positive = Pair("q", "p", ("a", "b"), None, (0.1, 0.3))
    assert ranked_hardest_first(no_positive) == ("b", "a")
    assert ranked_hardest_first(Pair("q", "p", ("a", "b", "c"))) == ("a", "b", "c")  # unscored: as listed
    assert ranked_hardest_first(Pair("q", "p", ("a", "b", "c"), 1.0, (0.5, 0.7, 0.5))) == ("b", "a", "c")  # ties


def test_unscored_pairs_use_the_list_order_hardest_first():
    pair = Pair("q", "p", tuple(f"rank {r}" for r in range(6)))  # as gtekit mine lists them
    curriculum = EasyToHardNegatives(per_query=2, total_steps=5)
    assert [curriculum.negatives(pair, s) for s in range(5)] == [
        ("rank 4", "rank 5"), ("rank 3", "rank 4"), ("rank 2", "rank 3"), ("rank 1", "rank 2"), ("rank 0", "rank 1")]


def test_too_few_negatives_and_bad_settings_are_errors():
    curriculum = EasyToHardNegatives(per_query=2, total_steps=10, pool=4)
    with pytest.raises(ValueError, match=r"ranks 4 negatives per pair and uses 2, but a pair has only 3 negatives "
                                         r"\(query 'q'\)"):
        curriculum.negatives(Pair("q", "p", ("a", "b", "c")), 0)
    for kwargs, message in [({"per_query": 0}, "negatives_per_query >= 1"), ({"total_steps": 0}, "at least 1 step"),
                            ({"pool": 2}, "pool=2 must exceed"), ({"hold": 1.0}, r"hold must be in \[0, 1\)")]:
        with pytest.raises(ValueError, match=message):
            EasyToHardNegatives(**{"per_query": 2, "total_steps": 10, **kwargs})
    assert curriculum.requirements == NegativeRequirements(min_count=4, keep_scores=True)
    assert EasyToHardNegatives(3, 10).requirements.min_count == 3


# ---------------------------------------------------------------- reading the scores

ROWS = [{"query": f"query {i}", "positive": f"positive {i}", "negatives": [f"neg {i} {j}" for j in range(4)],
         "positive_score": 0.9, "negative_scores": [0.1 * ((i + j) % 4) for j in range(4)]} for i in range(6)]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def expected_pairs(rows) -> list[Pair]:
    return [Pair(r["query"], r["positive"], tuple(r["negatives"]), r.get("positive_score"),
                 None if r.get("negative_scores") is None else tuple(r["negative_scores"])) for r in rows]


def test_scores_are_read_only_when_asked_and_alike_from_every_kind_of_source(tmp_path):
    jsonl = write_jsonl(tmp_path / "a.jsonl", ROWS)
    parquet = tmp_path / "b.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), parquet)
    mixture = write_mixture(tmp_path / "mix", {"c": [expected_pairs(ROWS)[:4], expected_pairs(ROWS)[4:]]}).parent
    plain = [Pair(r["query"], r["positive"], tuple(r["negatives"])) for r in ROWS]
    assert read_pairs(jsonl)[0] == plain and read_pairs(parquet)[0] == plain  # unchanged by default
    unscored, scored, streamed = load_sources([jsonl]), load_sources([jsonl, parquet], requirements=SCORED), \
        load_sources([mixture], requirements=SCORED)[0]
    assert unscored[0].pairs == plain and load_sources([mixture])[0].read_batch(list(range(6)))[0] == plain
    assert scored[0].pairs == expected_pairs(ROWS) == scored[1].pairs
    assert streamed.read_batch(list(range(6)))[0] == expected_pairs(ROWS) == list(streamed.iter_pairs())


def test_rows_without_scores_are_unscored_not_bad(tmp_path):
    rows = [{"query": "q", "positive": "p", "negatives": ["a", "b"]},
            {"query": "q", "positive": "p", "negatives": ["a", "b"], "negative_scores": [0.1, 0.2]},
            {"query": "q", "positive": "p", "negatives": ["a"], "positive_score": 0.5, "negative_scores": None}]
    pairs, _ = read_pairs(write_jsonl(tmp_path / "a.jsonl", rows), requirements=SCORED)
    assert pairs == [Pair("q", "p", ("a", "b")), Pair("q", "p", ("a", "b"), None, (0.1, 0.2)),
                     Pair("q", "p", ("a",), 0.5, None)]


BAD_SCORES = [
    ({"negative_scores": [0.1]}, "negative_scores",
     "1 scores for 2 negatives; one score per negative, in the same order"),
    ({"negative_scores": [0.1, None]}, "negative_scores[1]", "expected a number, got null"),
    ({"negative_scores": [0.1, "0.2"]}, "negative_scores[1]", "expected a number, got string"),
    ({"negative_scores": 0.1}, "negative_scores", "expected a list of numbers, got number"),
    ({"positive_score": True}, "positive_score", "expected a number, got boolean"),
    ({"positive_score": float("nan")}, "positive_score", "not a finite number (nan)"),
    ({"negatives": ["a"], "negative_scores": [0.1]}, "negatives", "1 negatives, fewer than the 2 required"),
]


@pytest.mark.parametrize("change, field, reason", BAD_SCORES)
def test_bad_scores_name_the_file_line_and_field(tmp_path, change, field, reason):
    good = {"query": "q", "positive": "p", "negatives": ["a", "b"], "positive_score": 0.9,
            "negative_scores": [0.1, 0.2]}
    path = write_jsonl(tmp_path / "src.jsonl", [good, good, {**good, **change}])
    needs = NegativeRequirements(min_count=2, keep_scores=True)
    with pytest.raises(PairFormatError) as caught:
        read_pairs(path, requirements=needs)
    assert str(caught.value) == f"{path}:3: field '{field}': {reason}"
    pairs, problems = read_pairs(path, skip_invalid=True, requirements=needs)
    assert len(pairs) == 2 and len(problems) == 1


def test_streamed_checks_agree_with_the_row_checks(tmp_path):
    """Every row of a table with good and bad scores: Arrow's verdict (failing_rows) is the Python one."""
    rows = [(["a", "b"], 0.9, [0.1, 0.2]), (["a", "b"], None, None), (["a"], 0.9, [0.1]), (["a", "b"], 0.9, [0.1]),
            (["a", "b"], float("inf"), [0.1, 0.2]), (["a", "b"], 0.9, [0.1, None]),
            (["a", "b"], 0.9, [0.1, float("nan")]), ([], None, []), (["a", "b", "c"], 1, [1, 2, 3])]
    table = pa.table({"query": ["q"] * len(rows), "positive": ["p"] * len(rows),
                      "negatives": [r[0] for r in rows], "positive_score": [r[1] for r in rows],
                      "negative_scores": [r[2] for r in rows]})
    for needs in (NegativeRequirements(min_count=2, keep_scores=True), SCORED, NegativeRequirements(min_count=3)):
        expected = []
        for negatives, positive, scores in rows:
            try:
                pair_meeting(needs, "q", "p", negatives, positive, scores)
                expected.append(False)
            except RowError:
                expected.append(True)
        assert failing_rows(table, needs, "t.parquet").tolist() == expected
    with pytest.raises(PairFormatError, match="field 'negative_scores': column of type list<item: string>"):
        failing_rows(table.set_column(4, "negative_scores", pa.array([["x"]] * len(rows))), SCORED, "t.parquet")


def test_streamed_row_with_too_few_negatives_names_the_shard_or_is_replaced(tmp_path):
    pairs = expected_pairs(ROWS)
    pairs[2] = Pair(pairs[2].query, pairs[2].positive, pairs[2].negatives[:1], 0.9, pairs[2].negative_scores[:1])
    manifest = write_mixture(tmp_path / "mix", {"short": [pairs]})
    needs = NegativeRequirements(min_count=2, keep_scores=True)
    source = load_sources([manifest.parent], requirements=needs)[0]
    with pytest.raises(PairFormatError, match=r"short/part-00000\.parquet:3: field 'negatives': 1 negatives, "
                                              r"fewer than the 2 required"):
        source.read_batch([0, 1])
    skipping = load_sources([manifest.parent], skip_invalid=True, requirements=needs)[0]
    read, skipped = skipping.read_batch([1, 2])
    assert [p.query for p in read] == ["query 1", "query 3"] and "row 4 took its place" in skipped[0]
    assert load_sources([manifest.parent])[0].read_batch([2])[0][0].negatives == ("neg 2 0",)  # no rule, no error
