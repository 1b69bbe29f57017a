"""Subcommands of ``gtekit data``, one module each; ``cli.py`` registers them."""
