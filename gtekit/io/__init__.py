"""Files and text at the edges: atomic writes, folder manifests, files fetched from PyPI packages, and the
check that a text can be embedded at all.

The leaf of the package: depends on nothing else in gtekit.
"""
