"""The figures: sane axes, what a reader needs marked on them, and the paper's formats."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from specct.figures.plots import plot_curves, plot_heatmap


def _axes_of(monkeypatch):
    """Capture the figure a plot function saves (its axes stay readable)."""
    import specct.figures.plots as plots

    saved = {}
    original = plots.save_figure

    def keep(fig, path, paper=False):
        saved["axes"] = fig.axes
        saved["texts"] = [t.get_text() for ax in fig.axes for t in ax.texts]
        return original(fig, path, paper)

    monkeypatch.setattr(plots, "save_figure", keep)
    return saved


def one_epoch_summary() -> pd.DataFrame:
    return pd.DataFrame({"epoch": [1], "train_loss": [1.3], "val_loss": [1.2], "val_accuracy": [0.4],
                         "val_uar": [0.35], "lr": [1e-3]})


def test_one_epoch_curves_have_one_whole_tick_and_mark_the_kept_epoch_and_chance(tmp_path, monkeypatch):
    saved = _axes_of(monkeypatch)
    plot_curves(one_epoch_summary(), tmp_path / "curves.png", chosen_epoch=1, chance=0.25, title="cct on DEMOA")
    loss, metric = saved["axes"]
    assert list(loss.get_xticks()) == [1] and list(metric.get_xticks()) == [1]
    labels = [t.get_text() for t in metric.get_legend().get_texts()]
    assert "kept: epoch 1" in labels and "chance UAR (0.25)" in labels


def test_heatmap_cells_carry_their_intervals_and_paper_figures_are_300_dpi_with_an_svg(tmp_path, monkeypatch):
    saved = _axes_of(monkeypatch)
    table = pd.DataFrame({"DEMOA": [0.61, 0.40], "mean": [0.55, np.nan]}, index=["cct", "svm"])
    low = pd.DataFrame({"DEMOA": [0.57, 0.35], "mean": [0.50, np.nan]}, index=["cct", "svm"])
    high = pd.DataFrame({"DEMOA": [0.65, 0.45], "mean": [0.60, np.nan]}, index=["cct", "svm"])
    path = plot_heatmap(table, tmp_path / "heatmap.png", low=low, high=high, paper=True)
    assert "0.61\n[0.57, 0.65]" in saved["texts"] and len(saved["texts"]) == 3     # the NaN cell stays blank
    with Image.open(path) as image:
        assert image.info["dpi"][0] == pytest.approx(300, abs=1)
    assert "<svg" in path.with_suffix(".svg").read_text()


@pytest.mark.parametrize("speakers, legend", [(4, True), (65, False)])
def test_a_corpus_of_many_speakers_keeps_its_map_square(tmp_path, monkeypatch, speakers, legend):
    import matplotlib.pyplot as plt

    import specct.figures.plots as plots
    from specct.data.embedding_plot import plot_speakers_2d

    shapes = {}
    original = plots.save_figure

    def keep(fig, path, paper=False):
        ax = fig.axes[0]
        shapes["legend"] = ax.get_legend() is not None
        fig.canvas.draw()
        box = ax.get_window_extent()
        shapes["aspect"] = box.width / box.height
        return original(fig, path, paper)

    monkeypatch.setattr(plots, "save_figure", keep)
    rng = np.random.default_rng(0)
    names = [f"anger_DEMOA_s{i % speakers:02d}_u{i}.wav" for i in range(3 * speakers)]
    plot_speakers_2d(names, rng.normal(size=(len(names), 8)), tmp_path / "map.png")
    plt.close("all")
    assert shapes["legend"] is legend
    assert shapes["aspect"] > 0.8            # the map is not squeezed into a strip by its legend
