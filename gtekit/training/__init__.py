"""Training: the loop, its learning-rate schedule and atomic checkpoints.

Imports the model, data and losses; nothing outside the CLI imports training.
"""
