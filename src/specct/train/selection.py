"""The validation metric that keeps an epoch (``--eval_metric``): its value in a summary row and
whether a value beats the best so far, in the direction :data:`specct.stats.metrics.METRICS` gives it.

One home for the rule every trained system applies (the image networks' loop, the baselines'
classifiers, the frame heads), so "best epoch" means the same thing in each.
"""
from __future__ import annotations

import math

from ..stats.metrics import get_metric

LOSS = "loss"   # the validation cross-entropy: not a reported metric, lower is better


def higher_is_better(metric: str) -> bool:
    return metric != LOSS and get_metric(metric).direction == "higher"


def selection_value(row: dict, metric: str) -> float:
    """The row's validation value of ``metric`` (summary.csv's ``val_<metric>`` column)."""
    return row[f"val_{metric}"]


def is_better(value: float, best: float | None, metric: str) -> bool:
    """Whether ``value`` beats ``best``; the first finite value beats none."""
    if best is None or not math.isfinite(best):
        return bool(math.isfinite(value))
    return value > best if higher_is_better(metric) else value < best
