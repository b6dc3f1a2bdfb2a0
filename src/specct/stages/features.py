"""The baseline-feature stage (``preprocess_features.py``): one feature set for every corpus.

Each corpus goes through the resumable vector loop of :mod:`specct.data.vectors` (progress bar, skip list,
a checkpoint at least every minute, one summary line); ``--features resemblyzer`` fills the speaker
cache that ``preprocess_embedding.py`` also fills, so the two never compute a vector twice.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..core import paths
from ..baselines import features as baseline_features
from ..data.vectors import VectorSummary


def run_features_stage(datasets_dir: str | Path = paths.DATASETS_DIR, datasets: Sequence[str] | None = None,
                       features: str = "egemaps", layer: int | str | None = None, device: str = "cpu",
                       progress: bool = True, overwrite: bool = False, offline: bool | None = None,
                       whisper_input: str | None = None, whisper_precision: str | None = None
                       ) -> list[VectorSummary]:
    """What ``preprocess_features.py`` does; returns one summary per corpus (each also printed)."""
    return baseline_features.extract_corpora(datasets_dir, datasets, features, layer, device=device,
                                             progress=progress, overwrite=overwrite, offline=offline,
                                             whisper_input=whisper_input, whisper_precision=whisper_precision)
