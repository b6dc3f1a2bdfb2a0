"""Figures of a run: training curves, the confusion matrix, the heatmaps of experiments and the
reliability diagram of calibration.

Every figure is drawn off-screen and written atomically as PNG (120 dpi, for a look); with
``paper=True`` as a 300 dpi PNG and, beside it, the same figure as SVG (for a paper).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..core.fileio import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


SCREEN_DPI = 120
PAPER_DPI = 300
# The numbers inside heatmap and confusion-matrix cells: report.html shows a figure at
# report_render.PAGE_PX_PER_INCH CSS px per inch, where 10 pt is 12 px (readable at 100% zoom).
NUMBER_PT = 10


def save_figure(fig, path: str | Path, paper: bool = False) -> Path:
    """``path`` (PNG); for the paper at :data:`PAPER_DPI` and an SVG of the same figure beside it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=PAPER_DPI if paper else SCREEN_DPI, bbox_inches="tight", format="png")
    if paper:
        with atomic_path(path.with_suffix(".svg")) as tmp:
            fig.savefig(tmp, bbox_inches="tight", format="svg")
    _pyplot().close(fig)
    return path


def _epoch_ticks(ax, epochs: Sequence[int]) -> None:
    """Whole epochs on the x axis; a few epochs each get their tick (one epoch: one tick, not 0.95-1.05)."""
    from matplotlib.ticker import MaxNLocator

    epochs = [int(e) for e in epochs]
    if epochs and len(epochs) <= 12:
        ax.set_xticks(epochs)
        ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_curves(summary: pd.DataFrame, path: str | Path, chosen_epoch: int | None = None,
                chance: float | None = None, title: str = "", paper: bool = False) -> Path:
    """Loss (train and validation) and validation accuracy/UAR per epoch, from summary.csv; the epoch
    whose checkpoint was kept (``chosen_epoch``) as a dashed line and the chance UAR as a dotted one."""
    plt = _pyplot()
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 4))
    if title:
        fig.suptitle(title)
    epochs = summary["epoch"]
    ax_loss.plot(epochs, summary["train_loss"], marker="o", label="train")
    ax_loss.plot(epochs, summary["val_loss"], marker="o", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax_loss.legend()
    ax_metric.plot(epochs, summary["val_accuracy"], marker="o", label="accuracy")
    ax_metric.plot(epochs, summary["val_uar"], marker="o", label="UAR")
    ax_metric.set(xlabel="epoch", ylabel="validation score", title="Validation", ylim=(0, 1))
    if chance is not None:
        ax_metric.axhline(chance, color="grey", linestyle=":", label=f"chance UAR ({chance:.2f})")
    for ax in (ax_loss, ax_metric):
        if chosen_epoch is not None:
            ax.axvline(chosen_epoch, color="black", linestyle="--", alpha=0.6, label=f"kept: epoch {chosen_epoch}")
        ax.grid(alpha=0.3)
        _epoch_ticks(ax, epochs)
        ax.legend()
    return save_figure(fig, path, paper)


def plot_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], path: str | Path,
                          title: str = "", paper: bool = False) -> Path:
    """Row-normalised confusion matrix (each row: how one true class was predicted), with counts."""
    plt = _pyplot()
    matrix = np.asarray(matrix, dtype=float)
    totals = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    import textwrap

    n = len(class_names)   # about 0.5 in per cell: two lines of NUMBER_PT each; three fit a page's row
    fig, ax = plt.subplots(figsize=(0.5 * n + 2.0, 0.5 * n + 1.6))
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, label="fraction of true class")
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set(xlabel="predicted", ylabel="true")
    title = title or "Confusion matrix (row-normalised)"   # wrapped: a long title would widen the figure
    ax.set_title("\n".join(textwrap.fill(line, 6 * n + 16) for line in title.splitlines()), fontsize=NUMBER_PT)
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            value = normalised[i, j]
            ax.text(j, i, f"{value:.2f}\n({int(matrix[i, j])})", ha="center", va="center", fontsize=NUMBER_PT,
                    color="white" if value > 0.5 else "black")
    return save_figure(fig, path, paper)


def plot_heatmap(table: pd.DataFrame, path: str | Path, title: str = "", xlabel: str = "score",
                 ylabel: str = "held-out corpus", low: pd.DataFrame | None = None,
                 high: pd.DataFrame | None = None, paper: bool = False) -> Path:
    """A labelled heatmap of a table of scores in [0, 1], each cell annotated (NaN cells left blank);
    with ``low`` and ``high`` (tables of the same shape) each cell also shows its interval."""
    plt = _pyplot()
    values = table.to_numpy(dtype=float)
    intervals = low is not None and high is not None
    if intervals:
        lows, highs = (t.reindex(index=table.index, columns=table.columns).to_numpy(dtype=float) for t in (low, high))
    fig, ax = plt.subplots(figsize=((1.3 if intervals else 0.9) * values.shape[1] + 3,
                                    (0.75 if intervals else 0.5) * values.shape[0] + 2))
    image = ax.imshow(values, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_xticks(np.arange(values.shape[1]), [str(c) for c in table.columns], rotation=45, ha="right")
    ax.set_yticks(np.arange(values.shape[0]), [str(r) for r in table.index])
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if np.isfinite(values[i, j]):
                text = f"{values[i, j]:.2f}"
                if intervals and np.isfinite(lows[i, j]) and np.isfinite(highs[i, j]):
                    text += f"\n[{lows[i, j]:.2f}, {highs[i, j]:.2f}]"
                ax.text(j, i, text, ha="center", va="center", fontsize=NUMBER_PT,
                        color="black" if values[i, j] > 0.6 else "white")
    return save_figure(fig, path, paper)


def plot_reliability(tables: dict[str, pd.DataFrame], path: str | Path, title: str = "",
                     paper: bool = False) -> Path:
    """Reliability diagram: per confidence bin, the accuracy against the mean confidence, one line per
    name (a system); the diagonal is perfect calibration. Tables as :func:`specct.stats.calibration.reliability_table`."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    for name, table in tables.items():
        filled = table[table["count"] > 0]
        ax.plot(filled["confidence"], filled["accuracy"], marker="o", label=name)
    ax.set(xlabel="confidence (highest class probability)", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1),
           title=title or "Reliability")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path, paper)
