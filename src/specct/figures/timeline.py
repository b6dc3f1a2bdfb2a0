"""The timeline of one recording: each emotion's probability over time above the waveform."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..core.fileio import atomic_path


def plot_timeline(rows: Sequence, envelope: tuple[np.ndarray, np.ndarray, np.ndarray], class_names: Sequence[str],
                  path: str | Path, title: str | None = None) -> Path:
    """``rows``: the file's SegmentPredictions; ``envelope``: times, minima and maxima of the waveform.
    Overlapping windows draw each segment's probabilities at its centre; a segment without an emotion
    leaves a gap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times, low, high = envelope
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 4.2), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    centres = np.array([(r.start + r.end) / 2 for r in rows])
    for name in class_names:
        values = np.array([r.probabilities[name] if r.probabilities else np.nan for r in rows])
        top.plot(centres, values, marker="o", markersize=3, linewidth=1.4, label=name)
    for r in rows:
        if r.emotion is not None:
            top.axvspan(r.start, r.end, ymin=0.0, ymax=0.04, color=f"C{list(class_names).index(r.emotion)}",
                        alpha=0.8, linewidth=0)
    top.axhline(1 / len(class_names), color="grey", linestyle=":", linewidth=1, label="chance")
    top.set_ylim(0, 1)
    top.set_ylabel("probability")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    top.set_title(title or Path(rows[0].file).name if rows else "")
    bottom.fill_between(times, low, high, color="0.35", linewidth=0)
    for r in rows:
        bottom.axvspan(r.start, r.end, color="C0" if r.emotion else "0.8", alpha=0.12, linewidth=0)
    bottom.set_ylabel("waveform")
    bottom.set_xlabel("time (s)")
    bottom.set_xlim(0, max(float(times[-1]) if len(times) else 0.0, max((r.end for r in rows), default=1.0)))
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)
    return path
