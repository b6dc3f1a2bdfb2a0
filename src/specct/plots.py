"""Figures of a run: training curves, the confusion matrix, and the heatmaps of experiments.

Every figure is drawn off-screen and written atomically as PNG.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .fileio import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    _pyplot().close(fig)
    return path


def plot_curves(summary: pd.DataFrame, path: str | Path) -> Path:
    """Loss (train and validation) and validation accuracy/UAR per epoch, from summary.csv."""
    plt = _pyplot()
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = summary["epoch"]
    ax_loss.plot(epochs, summary["train_loss"], marker="o", label="train")
    ax_loss.plot(epochs, summary["val_loss"], marker="o", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax_loss.legend()
    ax_metric.plot(epochs, summary["val_accuracy"], marker="o", label="accuracy")
    ax_metric.plot(epochs, summary["val_uar"], marker="o", label="UAR")
    ax_metric.set(xlabel="epoch", ylabel="validation score", title="Validation", ylim=(0, 1))
    ax_metric.legend()
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_metric):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers, not 1.2, 1.4
    return _save(fig, path)


def plot_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], path: str | Path,
                          title: str = "") -> Path:
    """Row-normalised confusion matrix (each row: how one true class was predicted), with counts."""
    plt = _pyplot()
    matrix = np.asarray(matrix, dtype=float)
    totals = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    size = max(4.0, 0.9 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, label="fraction of true class")
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set(xlabel="predicted", ylabel="true", title=title or "Confusion matrix (row-normalised)")
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            value = normalised[i, j]
            ax.text(j, i, f"{value:.2f}\n({int(matrix[i, j])})", ha="center", va="center", fontsize=8,
                    color="white" if value > 0.5 else "black")
    return _save(fig, path)


def plot_heatmap(table: pd.DataFrame, path: str | Path, title: str = "", xlabel: str = "score",
                 ylabel: str = "held-out corpus") -> Path:
    """A labelled heatmap of a table of scores in [0, 1], each cell annotated (NaN cells left blank)."""
    plt = _pyplot()
    values = table.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.2 * values.shape[1] + 3, 0.6 * values.shape[0] + 2))
    image = ax.imshow(values, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_xticks(np.arange(values.shape[1]), [str(c) for c in table.columns], rotation=45, ha="right")
    ax.set_yticks(np.arange(values.shape[0]), [str(r) for r in table.index])
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if np.isfinite(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=9,
                        color="black" if values[i, j] > 0.6 else "white")
    return _save(fig, path)
