"""`gtekit merge`: writes the merged folder once, refuses a full folder without --overwrite."""

from __future__ import annotations

import pytest

from tests.helpers import write_start_and_trained


@pytest.fixture
def two_models(tmp_path):
    return write_start_and_trained(tmp_path)


def test_cli_writes_once_and_refuses_a_full_folder(two_models, tmp_path, capsys) -> None:
    from gtekit.cli.main import main

    start, trained = two_models
    output = tmp_path / "merged"
    assert main(["merge", str(start), str(trained), "--weight", "0.5", "-o", str(output)]) == 0
    assert "λ = 0.5" in capsys.readouterr().out and (output / "model.safetensors").is_file()
    assert main(["merge", str(start), str(trained), "--weight", "0.5", "-o", str(output)]) == 2
    assert "exists and is not empty; pass overwrite (--overwrite)" in capsys.readouterr().err
    assert main(["merge", str(start), str(trained), "--weight", "1", "-o", str(output), "--overwrite"]) == 0
    assert not list(tmp_path.glob(".tmp-*"))
