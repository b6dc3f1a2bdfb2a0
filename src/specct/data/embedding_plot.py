"""2-D maps of a corpus's speaker vectors (t-SNE), one colour per speaker.

``preprocess_embedding.py --save_2D_embed_compare`` writes ``images/speakers_2d_<CORPUS>.png``: a
quick look at whether the encoder separates a corpus's speakers (tight, separate clusters) before any
training. t-SNE is seeded, so the same vectors give the same picture.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.naming import NameError_, parse_name
from .speaker import load_embeddings


def embed_2d(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    """t-SNE of the vectors to (N, 2); perplexity shrinks for small corpora."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    n = len(vectors)
    if n < 3:
        raise InputError(f"a 2-D map needs at least 3 vectors, got {n}")
    perplexity = float(min(30, max(2, (n - 1) // 3)))
    # a few thousand points: one thread is quick, and waiting threads on a busy machine are not
    with threadpool_limits(limits=1):
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
            np.asarray(vectors, dtype=np.float32))


LEGEND_MAX_SPEAKERS = 12


def plot_speakers_2d(names: list[str], vectors: np.ndarray, out_path: str | Path, title: str = "",
                     seed: int = 0, paper: bool = False) -> Path:
    """Scatter of the 2-D map coloured by the speaker field of each canonical name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    speakers = []
    for name in names:
        try:
            speakers.append(parse_name(name).speaker)
        except NameError_:
            speakers.append("?")   # still drawn, in its own colour
    points = embed_2d(vectors, seed)
    fig, ax = plt.subplots(figsize=(7, 6))
    cmap = plt.get_cmap("tab20")
    distinct = sorted(set(speakers))
    for i, spk in enumerate(distinct):
        mask = np.array([s == spk for s in speakers])
        ax.scatter(points[mask, 0], points[mask, 1], s=12, color=cmap(i % 20), label=spk)
    title = title or "speaker embeddings (t-SNE)"
    if len(distinct) <= LEGEND_MAX_SPEAKERS:
        # outside the axes; the saved figure grows to hold it instead of the map shrinking
        ax.legend(title="speaker", fontsize=7, markerscale=1.5, loc="center left", bbox_to_anchor=(1.0, 0.5))
    else:   # a legend of 65 names would be wider than the map, and 20 colours repeat anyway
        title += f"\n{len(distinct)} speakers, one colour each (colours repeat; no legend)"
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    from ..figures.plots import save_figure

    return save_figure(fig, out_path, paper)


def plot_corpus_speakers(datasets_dir: str | Path, corpus: str, images_dir: str | Path = "images",
                         seed: int = 0, paper: bool = False) -> Path:
    """``images/speakers_2d_<CORPUS>.png`` from the corpus's stored speaker vectors."""
    vectors = load_embeddings(datasets_dir, corpus)
    names = sorted(vectors)
    matrix = np.stack([vectors[n] for n in names]) if names else np.zeros((0, 256))
    return plot_speakers_2d(names, matrix, Path(images_dir) / f"speakers_2d_{corpus.upper()}.png",
                            title=f"{corpus.upper()}: speaker embeddings (t-SNE, {len(names)} utterances)",
                            seed=seed, paper=paper)
