"""Training: one optimizer step (``step``), the loop around it (``trainer``) and what they use.

One step reads top to bottom in ``step.train_step``, through ``grad_cache`` (embedding a batch larger
than the encoder fits at once), ``distributed`` (the gather across processes and the loss-scaling rule;
every ``torch.distributed`` call of gtekit) and a loss of ``gtekit.losses``, with what the recipe adds to it
(``objective``: false-negative masks, a teacher from ``teacher``, Matryoshka prefixes). ``setup`` builds what a
recipe names (model, sources, sampler, trained modules); ``batches`` prepares the batches; ``trainer``
runs the steps, logs them (``train_log``), validates (``validation``) and writes checkpoints
(``checkpoint``, ``run_folder``). ``schedule`` and ``recompute`` are the learning-rate schedule and
activation recomputation. ``curves``, ``tensorboard_log`` and ``run_summary`` turn the log into
``curves.png``, TensorBoard event files and the data of a model card.

Imports the config, model, data, losses and evaluation (the overlap guard and validation) packages;
only the CLI and the pipeline import training. Inside it, ``step`` imports ``batches``, ``grad_cache``,
``distributed`` and ``objective`` only, and nothing imports ``trainer``.
"""
