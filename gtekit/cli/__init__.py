"""The ``gtekit`` command: argparse only, one module per command; each calls one library function.

``main`` (the entry point) builds the parser from the command modules. Nothing in the library
imports this package.
"""
