"""The mine stage: ``MineSettings`` -> a model loaded on its device -> ``mine_hard_negatives`` into its output folder.

``run_mining(settings)`` is what ``gtekit mine`` and a mine stage of ``gtekit run`` both call; it returns the
report (``report.json``). Depends on ``gtekit.model`` (to load the model and choose its device) and this package.
"""

from __future__ import annotations

from ..model.device import resolve_device
from ..model.embedder import Embedder
from .hard_negative_mining import mine_hard_negatives
from .settings import MineSettings


def run_mining(settings: MineSettings) -> dict:
    """Mine hard negatives for ``settings.pairs`` with ``settings.model`` into ``settings.output_dir``; return the
    report. The model runs on ``resolve_device(settings.device)`` (``auto``: CUDA when available, else CPU)."""
    if not settings.output_dir:
        raise ValueError("output_dir is required: the folder for the mining outputs")
    model = Embedder.load(settings.model).to(resolve_device(settings.device))
    return mine_hard_negatives(model, settings.pairs, settings.output_dir, corpus_file=settings.corpus,
                               corpus_field=settings.corpus_field, rules=settings.rules(),
                               search_settings=settings.search(), keep_short=settings.keep_short,
                               chunk_size=settings.chunk_size, batch_size=settings.batch_size,
                               encode_options={"bf16": True} if settings.bf16 else None, samples=settings.samples,
                               with_scores=settings.with_scores, skip_invalid=settings.skip_invalid)
