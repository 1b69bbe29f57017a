"""`gtekit export onnx`: write a model as an ONNX graph (encoder, pooling, normalisation) that ONNX Runtime runs.

The work is ``gtekit.export.export_onnx``; this module only turns the options into an ``ExportSettings`` and
prints what was written.
"""

from __future__ import annotations

import argparse

from ..export.settings import DEFAULT_OPSET, FP32_MIN_COSINE, INT8_MIN_COSINE, SUPPORTED_OPSETS, ExportSettings

ONNX_DESCRIPTION = f"""\
Export MODEL as one ONNX graph, token ids (input_ids, attention_mask[, token_type_ids]) -> sentence
embedding (pooling and, when the model normalises, L2 normalisation inside the graph; dynamic batch
and sequence axes), and write into DIR:

  model.onnx            the fp32 graph (outputs: sentence_embedding, pooled_embedding)
  model_int8.onnx       with --int8: the same graph with int8 weights (dynamic quantisation)
  export_manifest.json  model source, opset, precisions, versions, agreement with PyTorch
  gtekit_config.json    pooling, normalize, max_seq_length, query/document prefixes, plus the
                        sentence-transformers module files, config.json and the tokenizer files

Before DIR is written (atomically), every graph is checked: ONNX Runtime and PyTorch embed the same
13 texts and the export fails unless each row's cosine is >= {FP32_MIN_COSINE} (fp32) or >= {INT8_MIN_COSINE} (int8).
Load the folder with `gtekit.export.OnnxEmbedder.load(DIR, int8=False)`; its encode() takes the
arguments of Embedder.encode and gives the same embeddings.

Needs onnx and onnxruntime: pip install 'gtekit[onnx]'.

examples:
  gtekit export onnx all-MiniLM-L6-v2 exported/minilm
  gtekit export onnx runs/quickstart/model exported/quickstart --int8
  gtekit export onnx my-model exported/my-model --int8 --optimize --overwrite
"""


def add_parser(subcommands) -> argparse.ArgumentParser:
    export = subcommands.add_parser("export", help="export a model for serving without PyTorch (ONNX)",
                                    description="Export a model to a format other runtimes serve.")
    formats = export.add_subparsers(dest="export_command", required=True,
                                    help="run `gtekit export FORMAT --help` for its options")
    parser = formats.add_parser("onnx", help="ONNX graph (fp32, optionally int8) checked against PyTorch",
                                description=ONNX_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="MODEL", help="model folder, 'all-MiniLM-L6-v2' or a hub name")
    parser.add_argument("output_dir", metavar="DIR", help="folder to write (must not exist, or be empty)")
    parser.add_argument("--int8", action="store_true",
                        help="also write model_int8.onnx: int8 weights per output channel, activations quantised "
                             "at run time (about 4x smaller; load it with OnnxEmbedder.load(DIR, int8=True))")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, metavar="N",
                        help=f"ONNX opset, {SUPPORTED_OPSETS.start} to {SUPPORTED_OPSETS.stop - 1} (default: "
                             f"{DEFAULT_OPSET}, the first with a LayerNormalization op)")
    parser.add_argument("--optimize", action="store_true",
                        help="fuse attention, LayerNorm and GELU with onnxruntime's transformer optimizer; the "
                             "graph then runs in ONNX Runtime only (see docs/export.md for whether it pays off)")
    parser.add_argument("--overwrite", action="store_true", help="replace DIR if it exists and is not empty")
    parser.set_defaults(handler=run)
    return parser


def run(args) -> int:
    from ..export.onnx_export import export_onnx

    settings = ExportSettings(output_dir=args.output_dir, int8=args.int8, opset=args.opset, optimize=args.optimize,
                              overwrite=args.overwrite)
    result = export_onnx(args.model, settings)
    print(f"exported {result.manifest['model']} (dimension {result.manifest['dimension']}, opset "
          f"{result.manifest['opset']}) to {result.folder}")
    for precision, path in result.files.items():
        agreement = result.agreement[precision]
        print(f"  {path.name:<16} {path.stat().st_size / 1e6:7.1f} MB  agrees with PyTorch: minimum cosine "
              f"{agreement.min_cosine:.6f} over {agreement.texts} texts")
    return 0
