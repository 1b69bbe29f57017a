"""Subcommands, one module each (``gtekit mine``, ``gtekit data ...``); ``cli.py`` registers them."""
