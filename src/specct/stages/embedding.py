"""The speaker-vector stage (``preprocess_embedding.py``): embed every corpus, then optionally fit
and save a PCA for a held-out protocol and draw a 2-D speaker map per corpus."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..data import embedding_plot, speaker
from ..core import paths

LEAK_WARNING = ("WARNING: --fit_on_all fits the PCA on every corpus, the held-out test corpus included. "
                "This reproduces the paper but leaks test information into training; "
                "results are not a clean cross-corpus estimate.")


def run_embedding_stage(datasets_dir: str | Path = paths.DATASETS_DIR, datasets: Sequence[str] | None = None,
                        device: str = "cpu", batch_size: int = 32, n_components: int = 256,
                        eval_dataset: str | None = None, fit_on_all: bool = False,
                        encoder_dir: str | Path = paths.ENCODER_DIR, save_2d: bool = False,
                        images_dir: str | Path = "images", overwrite: bool = False, seed: int = 0,
                        threads: int | None = None, progress: bool = True) -> dict:
    """What ``preprocess_embedding.py`` does: embed, then optionally fit and save a PCA and draw maps.

    Returns ``{"summaries": [VectorSummary per corpus], "pca_path": Path or None, "plots": [Path]}``.
    """
    # a wrong --eval_dataset is refused before the minutes of embedding, not after
    wants_pca = bool(eval_dataset or fit_on_all)
    pca_corpora = speaker.pca_corpora_for(datasets_dir, eval_dataset, fit_on_all, datasets) if wants_pca else []
    summaries = speaker.embed_corpora(datasets_dir, datasets, device, batch_size, progress, overwrite, threads)
    result: dict = {"summaries": summaries, "pca_path": None, "plots": []}
    if wants_pca:
        if fit_on_all:
            print(LEAK_WARNING)
        pca = speaker.fit_pca_on_corpora(datasets_dir, pca_corpora, n_components)
        out = speaker.save_pca(speaker.default_pca_path(encoder_dir, pca.n_components, pca_corpora), pca)
        kept = float(pca.explained_variance_ratio.sum())
        print(f"PCA to {pca.n_components} components on {'+'.join(pca.corpora)} "
              f"({kept:.1%} of the variance) saved to {out}")
        result["pca_path"] = out
    else:
        print("No PCA fitted here: preprocess_split_dataset.py fits one per split on its training speakers.")
    if save_2d:
        for s in summaries:
            result["plots"].append(embedding_plot.plot_corpus_speakers(datasets_dir, s.corpus, images_dir, seed=seed))
            print(f"speaker map of {s.corpus} saved to {result['plots'][-1]}")
    return result
