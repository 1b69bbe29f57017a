"""`gtekit serve` as a command: options become ServerSettings, missing packages and bad values fail clearly."""

from __future__ import annotations

import importlib.util

import pytest

from gtekit.cli.main import build_parser, main
from gtekit.serving import require_serve_extra
from gtekit.serving.settings import ServerSettings, model_names


def test_missing_packages_name_the_extra(monkeypatch, capsys, tiny_model_dir):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "uvicorn" else real_find_spec(name, *a))
    with pytest.raises(RuntimeError, match=r"needs uvicorn.*pip install 'gtekit\[serve\]'"):
        require_serve_extra()
    assert main(["serve", str(tiny_model_dir), "--port", "0"]) == 2
    assert "pip install 'gtekit[serve]'" in capsys.readouterr().err


def test_help_lists_every_option_without_loading_anything():
    parser = build_parser()
    serve = parser._subparsers._group_actions[0].choices["serve"]
    text = serve.format_help()
    for option in ("--index", "--api-key", "GTEKIT_API_KEY", "--max-batch-size", "--max-wait-ms",
                   "--max-inputs-per-request", "--max-request-bytes", "--max-text-chars", "--alias", "--port",
                   "--max-header-bytes", "--header-timeout", "--keep-alive-timeout", "--body-timeout",
                   "--body-min-rate", "--shutdown-timeout", "--max-batch-tokens", "--metrics-public"):
        assert option in text
    args = parser.parse_args(["serve", "m", "--alias", "a", "--alias", "b", "--max-batch-size", "4"])
    assert args.alias == ["a", "b"] and args.max_batch_size == 4 and args.port == 8000
    assert args.max_batch_tokens == 0 and not args.metrics_public
    args = parser.parse_args(["serve", "m", "--max-batch-tokens", "8192", "--metrics-public"])
    assert args.max_batch_tokens == 8192 and args.metrics_public


def test_model_names():
    assert model_names("all-MiniLM-L6-v2") == ("all-MiniLM-L6-v2",)
    assert model_names("runs/x/model/", "mine", ("text-embedding-3-small",)) == (
        "mine", "runs/x/model/", "model", "text-embedding-3-small")


@pytest.mark.parametrize(("options", "says"), [
    ({"max_batch_size": 0}, "--max-batch-size must be at least 1"),
    ({"max_wait_ms": -1}, "--max-wait-ms must be >= 0"),
    ({"max_queued_texts": 10, "max_inputs_per_request": 20}, "--max-queued-texts"),
    ({"api_key": " "}, "API key is empty"),
])
def test_settings_refuse_bad_values(options, says):
    with pytest.raises(ValueError, match=says):
        ServerSettings(model_names=("m",), **options)


def test_a_busy_port_is_a_clear_error():
    import uvicorn  # noqa: F401  (gtekit.serving.server runs on it)

    from gtekit.serving.server import bind_socket

    taken = bind_socket("127.0.0.1", 0)
    try:
        with pytest.raises(RuntimeError, match=r"cannot listen on 127\.0\.0\.1:\d+"):
            bind_socket("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()
