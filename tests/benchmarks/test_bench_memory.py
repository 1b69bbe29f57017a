"""Memory points: the loss phase in-process and in a fresh process, whole and row-blocked."""

from __future__ import annotations

import pytest

from benchmarks.memory import loss_blocks_supported, loss_point, memory_curve, run_point


def test_loss_point_reports_its_peak_and_the_loss():
    point = loss_point(64, 8, block=0)
    assert point["kind"] == "loss" and point["n"] == 64
    assert point["peak_mib"] >= point["rss_before_mib"] > 0
    assert point["loss"] > 0


@pytest.mark.skipif(not loss_blocks_supported(), reason="this gtekit's losses take no `rows`")
def test_row_blocked_loss_sums_to_the_whole_loss():
    whole, blocked = loss_point(64, 8, block=0), loss_point(64, 8, block=16)
    assert blocked["loss"] == pytest.approx(whole["loss"], rel=1e-5)


def test_point_in_a_fresh_process():
    point = run_point(["loss", "32", "--dim", "8"], timeout=120)
    assert point["kind"] == "loss" and point["n"] == 32 and point["peak_mib"] > 0
    assert "error" in run_point(["loss", "not-a-number"], timeout=120)  # a failing point is reported, not raised


def test_points_too_large_for_this_machine_are_skipped_and_say_why():
    curve = memory_curve([], [10**6], chunk=64, block=1024, pairs_file=None, model_name="unused",
                         max_seq_length=128, dim=384, log=lambda _: None)
    assert curve["points"] and all("needs ~" in p["skipped"] for p in curve["points"])
