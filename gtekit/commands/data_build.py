"""`gtekit data build`."""

from __future__ import annotations

import argparse


def add_parser(subcommands) -> argparse.ArgumentParser:
    parser = subcommands.add_parser("build", help="(not yet available)")
    parser.set_defaults(handler=lambda args: 2)
    return parser
