"""`gtekit plot`: one metric of several runs on one figure."""

from __future__ import annotations

from gtekit.cli.main import main
from tests.cli.conftest import assert_help_explains_every_option
from tests.training.test_curves import PNG, write_log


def test_plot_two_runs(tmp_path, capsys, monkeypatch):
    a = write_log(tmp_path / "run-a", [2.0, 1.5, 1.2, 1.0])
    b = write_log(tmp_path / "run-b", [2.5, 2.0, 1.0, 0.8])
    assert main(["plot", str(a), str(b), "-o", str(tmp_path / "both.png")]) == 0
    assert "drew loss of 2 run(s)" in capsys.readouterr().out
    assert (tmp_path / "both.png").read_bytes().startswith(PNG)
    monkeypatch.chdir(tmp_path)
    assert main(["plot", str(a), str(b), "--metric", "lr"]) == 0
    assert (tmp_path / "curves-lr.png").read_bytes().startswith(PNG)
    assert main(["plot", str(a), "--metric", "nope"]) == 2
    assert "valid: loss, lr" in capsys.readouterr().err


def test_help_explains_every_option(capsys):
    text = assert_help_explains_every_option("plot", capsys=capsys)
    assert "validation/TASK" in text
