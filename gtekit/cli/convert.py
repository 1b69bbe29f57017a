"""`gtekit convert`: an ONNX export of a BERT encoder -> a sentence-transformers model folder
(``gtekit.model.onnx_import.convert_onnx``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subcommands) -> argparse.ArgumentParser:
    convert = subcommands.add_parser("convert", help="convert an ONNX BERT export into a model folder",
                                     description="Read the weights of a BERT encoder exported to ONNX and write a "
                                                 "sentence-transformers folder (needs `pip install onnx`).")
    convert.add_argument("onnx", help="the .onnx file")
    convert.add_argument("output", help="folder to write")
    convert.add_argument("--tokenizer-from", default="all-MiniLM-L6-v2",
                         help="model whose tokenizer the export uses (default: all-MiniLM-L6-v2, BERT uncased)")
    convert.add_argument("--pooling", default="mean", choices=["mean", "cls", "last"],
                         help="pooling (default: mean)")
    convert.set_defaults(handler=run)
    return convert


def run(args) -> int:
    from ..model.onnx_import import convert_onnx

    folder = convert_onnx(Path(args.onnx), Path(args.output), tokenizer_from=args.tokenizer_from, pooling=args.pooling)
    print(f"wrote {folder}")
    return 0
