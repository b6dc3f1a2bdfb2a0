"""Classification metrics of speech emotion recognition: accuracy, UAR and their bootstrap intervals.

UAR (unweighted average recall) is the mean of the per-class recalls over the classes present in
the truth, the field's headline number because emotion corpora are rarely balanced; it equals
scikit-learn's ``balanced_accuracy_score``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0:
        return float("nan")
    return float(np.mean(y_true == y_pred))


def per_class_recall(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """Recall of each class; NaN for a class absent from the truth."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    recalls = np.full(num_classes, np.nan)
    for c in range(num_classes):
        of_class = y_true == c
        if of_class.any():
            recalls[c] = float(np.mean(y_pred[of_class] == c))
    return recalls


def uar(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Unweighted average recall over the classes that occur in ``y_true``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0:
        return float("nan")
    classes = np.unique(y_true)
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in classes]))


METRICS = {"uar": uar, "accuracy": accuracy}


def bootstrap_ci(y_true: Sequence[int], y_pred: Sequence[int], metric=uar, num_resamples: int = 1000,
                 confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric``, resampling utterances with replacement (seeded)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = np.empty(num_resamples)
    for i in range(num_resamples):
        pick = rng.integers(0, y_true.size, y_true.size)
        values[i] = metric(y_true[pick], y_pred[pick])
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)
