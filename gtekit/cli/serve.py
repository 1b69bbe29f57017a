"""`gtekit serve`: an OpenAI-compatible embeddings HTTP server for one model (``gtekit.serving``)."""

from __future__ import annotations

import argparse
import logging

from ..serving.settings import API_KEY_ENV, ServerSettings

DEFAULTS = ServerSettings(model_names=("-",))

DESCRIPTION = f"""\
Serve one embedding model over HTTP with the OpenAI embeddings API, so any OpenAI client can use it:

  POST /v1/embeddings   {{"input": "text" | ["text", ...], "model": NAME, "encoding_format": "float" | "base64",
                         "dimensions": N (Matryoshka truncation, renormalised), "input_type": "query" | "document"}}
  POST /search          {{"query": "text" | [...], "k": 10}} -> ids, scores, texts  (needs --index)
  GET  /v1/models       the served model and its input types (prefixes);  GET /health: model, dimension, uptime,
                        queue depth, batching counters;  GET /metrics: Prometheus metrics

Requests arriving together are embedded together: up to --max-batch-size texts (and, with
--max-batch-tokens, at most that many padded tokens) gathered within --max-wait-ms go through the model
in one call on a worker thread. A request's "model" must be the
served name (--served-model-name, default MODEL as given), MODEL itself, its last path part, or an
--alias; anything else gets 404 model_not_found. Errors use OpenAI's body
{{"error": {{"message", "type", "param", "code"}}}}. A text that cannot be embedded (empty, whitespace
only, a lone surrogate) gets 422 naming it, before it joins a batch. Slow clients are cut off: headers
must arrive within --header-timeout, a body within --body-timeout (extended by --body-min-rate), else
408 and the connection is closed; idle connections close after --keep-alive-timeout. SIGTERM or Ctrl-C
stops accepting connections, answers the requests in flight (cancelling those still running after
--shutdown-timeout), then exits 0; a second SIGTERM or Ctrl-C exits at once.

examples:
  gtekit serve all-MiniLM-L6-v2                         http://127.0.0.1:8000
  gtekit serve runs/quickstart/model --port 9000 --alias text-embedding-3-small
  {API_KEY_ENV}=secret gtekit serve all-MiniLM-L6-v2 --host 0.0.0.0
  gtekit serve all-MiniLM-L6-v2 --index my-index       also POST /search over a `gtekit index build` folder

  curl -s localhost:8000/v1/embeddings -H 'Content-Type: application/json' \\
      -d '{{"input": ["a cat", "a dog"], "model": "all-MiniLM-L6-v2"}}'
  python -c "from openai import OpenAI; c = OpenAI(base_url='http://127.0.0.1:8000/v1', api_key='-'); \\
      print(c.embeddings.create(model='all-MiniLM-L6-v2', input='a cat').data[0].embedding[:4])"
"""


def add_parser(subcommands) -> argparse.ArgumentParser:
    parser = subcommands.add_parser("serve", help="serve a model over HTTP (OpenAI embeddings API, search)",
                                    description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model folder, 'all-MiniLM-L6-v2' or a hub name")
    parser.add_argument("--index", metavar="DIR", help="a search index folder (`gtekit index build`): enables "
                                                       "POST /search; it must have been built with this model")

    network = parser.add_argument_group("network and access")
    network.add_argument("--host", default="127.0.0.1",
                         help="address to listen on; 0.0.0.0 for every interface (default: 127.0.0.1)")
    network.add_argument("--port", type=int, default=8000, help="TCP port; 0 picks a free one (default: 8000)")
    network.add_argument("--api-key", default=None, metavar="KEY",
                         help=f"require `Authorization: Bearer KEY` on every route but /health and /docs "
                              f"(default: ${API_KEY_ENV} if set, else no key; prefer the variable: a command "
                              "line is visible to other users)")
    network.add_argument("--metrics-public", action="store_true",
                         help="serve GET /metrics without the API key (default: /metrics needs the key like "
                              "every route but /health)")
    network.add_argument("--served-model-name", default=None, metavar="NAME",
                         help="the model's name in responses and /v1/models (default: MODEL as given)")
    network.add_argument("--alias", action="append", default=[], metavar="NAME",
                         help="another name requests may use for the model, e.g. text-embedding-3-small "
                              "(repeatable)")

    batching = parser.add_argument_group("batching and limits")
    batching.add_argument("--max-batch-size", type=int, default=DEFAULTS.max_batch_size, metavar="N",
                          help=f"texts per model call, gathered from concurrent requests "
                               f"(default: {DEFAULTS.max_batch_size})")
    batching.add_argument("--max-batch-tokens", type=int, default=DEFAULTS.max_batch_tokens, metavar="N",
                          help="padded tokens per model call: texts join a batch until texts x the longest text's "
                               "tokens would pass N (a batch always holds one text); 0: no token bound, only "
                               f"--max-batch-size (default: {DEFAULTS.max_batch_tokens})")
    batching.add_argument("--max-wait-ms", type=float, default=DEFAULTS.max_wait_ms, metavar="MS",
                          help=f"how long an idle server waits for more requests to join a batch "
                               f"(default: {DEFAULTS.max_wait_ms:g})")
    batching.add_argument("--max-inputs-per-request", type=int, default=DEFAULTS.max_inputs_per_request,
                          metavar="N", help=f"more texts in one request: 413 (default: "
                                            f"{DEFAULTS.max_inputs_per_request}, OpenAI's limit)")
    batching.add_argument("--max-request-bytes", type=int, default=DEFAULTS.max_request_bytes, metavar="BYTES",
                          help=f"a larger request body: 413 (default: {DEFAULTS.max_request_bytes:,})")
    batching.add_argument("--max-text-chars", type=int, default=DEFAULTS.max_text_chars, metavar="N",
                          help=f"a longer text: 422; texts are truncated to the model's max_seq_length tokens "
                               f"anyway (default: {DEFAULTS.max_text_chars:,})")
    batching.add_argument("--max-queued-texts", type=int, default=DEFAULTS.max_queued_texts, metavar="N",
                          help=f"texts waiting for the model beyond which requests get 503 with Retry-After "
                               f"(default: {DEFAULTS.max_queued_texts:,})")
    batching.add_argument("--max-k", type=int, default=DEFAULTS.max_k, metavar="K",
                          help=f"largest k of POST /search (default: {DEFAULTS.max_k})")
    batching.add_argument("--max-header-bytes", type=int, default=DEFAULTS.max_header_bytes, metavar="BYTES",
                          help=f"longer request line and headers: 431 (400 if sent in pieces), connection closed "
                               f"(default: {DEFAULTS.max_header_bytes:,})")

    timeouts = parser.add_argument_group("timeouts (seconds)")
    timeouts.add_argument("--header-timeout", type=float, default=DEFAULTS.header_timeout, metavar="SECONDS",
                          help=f"a request's line and headers must arrive within this long of the connection "
                               f"opening (or of the request's first byte on a reused connection), else 408 and "
                               f"the connection is closed (default: {DEFAULTS.header_timeout:g})")
    timeouts.add_argument("--keep-alive-timeout", type=float, default=DEFAULTS.keep_alive_timeout,
                          metavar="SECONDS", help=f"close a connection idle this long after a response "
                                                  f"(default: {DEFAULTS.keep_alive_timeout:g})")
    timeouts.add_argument("--body-timeout", type=float, default=DEFAULTS.body_timeout, metavar="SECONDS",
                          help=f"a request body must arrive within this long of its headers, plus the time "
                               f"--body-min-rate allows, else 408 and the connection is closed "
                               f"(default: {DEFAULTS.body_timeout:g})")
    timeouts.add_argument("--body-min-rate", type=float, default=DEFAULTS.body_min_rate, metavar="BYTES_PER_S",
                          help=f"each this many bytes of body received extend --body-timeout by one second, "
                               f"so a large body sent at least this fast always arrives; 0: no extension "
                               f"(default: {DEFAULTS.body_min_rate:,.0f})")

    running = parser.add_argument_group("running")
    running.add_argument("--device", default=None,
                         help="where the model runs, e.g. cpu, cuda, cuda:1 (default: cuda if available, else cpu)")
    running.add_argument("--shutdown-timeout", type=float, default=DEFAULTS.shutdown_timeout, metavar="SECONDS",
                         help=f"on SIGTERM, cancel requests still running (or still sending their body) after "
                              f"this long (default: {DEFAULTS.shutdown_timeout:g})")
    running.add_argument("--no-access-log", action="store_true", help="do not log one line per request")
    running.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                         help="uvicorn's log level (default: info)")
    parser.set_defaults(handler=run)
    return parser


def run(args) -> int:
    from ..serving import require_serve_extra

    require_serve_extra()
    from ..model.device import resolve_device
    from ..model.embedder import Embedder
    from ..serving.app import create_app
    from ..serving.server import bind_socket, serve_forever
    from ..serving.settings import api_key_from, model_names

    settings = ServerSettings(
        model_names=model_names(args.model, args.served_model_name, tuple(args.alias)),
        api_key=api_key_from(args.api_key), max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms,
        max_batch_tokens=args.max_batch_tokens, metrics_public=args.metrics_public,
        max_inputs_per_request=args.max_inputs_per_request, max_request_bytes=args.max_request_bytes,
        max_text_chars=args.max_text_chars, max_queued_texts=args.max_queued_texts, max_k=args.max_k,
        max_header_bytes=args.max_header_bytes, header_timeout=args.header_timeout,
        keep_alive_timeout=args.keep_alive_timeout, body_timeout=args.body_timeout, body_min_rate=args.body_min_rate,
        shutdown_timeout=args.shutdown_timeout)
    sock = bind_socket(args.host, args.port)  # before loading: a busy port fails at once
    model = Embedder.load(args.model).to(resolve_device(args.device))
    index = _load_index(args.index, args.model) if args.index else None
    app = create_app(model, settings, index)
    serve_forever(app, sock, settings, access_log=not args.no_access_log, log_level=args.log_level)
    print("gtekit serve: stopped", flush=True)
    return 0


def _load_index(folder: str, model_name: str):
    from ..search import SearchIndex

    index = SearchIndex.load(folder)
    if index.model != model_name:
        logging.getLogger("gtekit.serving").warning(
            "the index %s was built with the model %r; serving %r: make sure they are the same model",
            folder, index.model, model_name)
    return index
