"""Feature scaling of the baselines, fitted on training rows only.

- ``standard``: every row by the mean and standard deviation of the pooled training rows (default).
- ``corpus``: every row by the statistics of its own corpus; training corpora by their own rows,
  the test corpus by its own unlabelled features.
- ``speaker``: every row by the statistics of its own speaker; at test time each test speaker by
  his or her own unlabelled features.

``corpus`` and ``speaker`` are transductive: they read the test audio (never its labels) before
predicting. They are off by default and every output of a run that uses them says so. A group with
fewer than ``MIN_GROUP_ROWS`` rows falls back to the pooled training statistics.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..core.errors import InputError

SCALING_MODES = ("standard", "corpus", "speaker")
TRANSDUCTIVE = ("corpus", "speaker")
MIN_GROUP_ROWS = 2
EPS = 1e-8


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    return mean.astype(np.float32), np.where(scale < EPS, 1.0, scale).astype(np.float32)


@dataclass
class FeatureScaler:
    mode: str = "standard"
    mean: np.ndarray | None = None    # pooled training statistics, flattened feature width
    scale: np.ndarray | None = None

    def __post_init__(self):
        if self.mode not in SCALING_MODES:
            raise InputError(f"--scaling {self.mode!r}: choose one of {', '.join(SCALING_MODES)}")

    @property
    def transductive(self) -> bool:
        return self.mode in TRANSDUCTIVE

    def fit(self, x: np.ndarray) -> "FeatureScaler":
        """Pooled statistics of the training rows (the only rows this ever sees)."""
        flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        if len(flat) < 2:
            raise InputError(f"feature scaling needs at least two training rows, got {len(flat)}")
        self.mean, self.scale = _stats(flat)
        return self

    def transform(self, x: np.ndarray, groups: Sequence[str] | None = None) -> np.ndarray:
        """Scaled features; ``groups`` (corpus or speaker of each row) is used by the transductive modes."""
        if self.mean is None:
            raise InputError("feature scaler used before it was fitted")
        x = np.asarray(x, dtype=np.float32)
        flat = x.reshape(len(x), int(np.prod(x.shape[1:])))   # also for no rows (no validation)
        out = (flat - self.mean) / self.scale
        if self.transductive and groups is not None:
            groups = np.asarray(list(groups))
            if len(groups) != len(flat):
                raise InputError(f"{len(groups)} group names for {len(flat)} feature rows")
            for group in np.unique(groups):
                rows = groups == group
                if rows.sum() >= MIN_GROUP_ROWS:
                    mean, scale = _stats(flat[rows].astype(np.float64))
                    out[rows] = (flat[rows] - mean) / scale
        return out.reshape(x.shape).astype(np.float32)

    def state(self) -> dict:
        return {"mode": self.mode, "transductive": self.transductive, "mean": self.mean, "scale": self.scale}

    @classmethod
    def from_state(cls, state: dict) -> "FeatureScaler":
        return cls(state["mode"], np.asarray(state["mean"], np.float32), np.asarray(state["scale"], np.float32))
