"""`gtekit data`: the group of data commands, one module each: `extract` (raw files -> a pair file;
`mine` is its older name), `build` (a cleaned, sharded mixture) and `stats` (what a built mixture holds)."""

from __future__ import annotations

import argparse

from . import data_build, data_extract, data_stats


def add_parser(subcommands) -> argparse.ArgumentParser:
    data = subcommands.add_parser("data", help="extract, build and inspect training pairs",
                                  description="Turn raw material into pair files (extract), assemble a cleaned, "
                                              "sharded mixture of sources (build) and inspect it (stats).")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND",
                                        help="run `gtekit data DATA_COMMAND --help` for its options")
    for module in (data_extract, data_build, data_stats):
        module.add_parser(data_commands)
    return data
