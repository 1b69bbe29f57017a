"""Files and text at the edges: atomic writes, folder manifests, the embedding store (gtekit's one on-disk
format for embeddings), files fetched from PyPI packages, and the check that a text can be embedded at all.

The leaf of the package: depends on nothing else in gtekit.
"""
