"""Calibration of a system's class probabilities: does a 0.8 mean right four times in five?

From an evaluation's ``predictions.csv`` (truth, prediction and one ``prob_<class>`` column per
class): the confidence of a row is its highest class probability; the rows are put in equal-width
confidence bins, and per bin the mean confidence is set against the accuracy (the reliability
diagram, :func:`specct.figures.plots.plot_reliability`). The expected calibration error (ECE) is the mean
of ``|accuracy - confidence|`` over the bins, weighted by their rows (Guo et al. 2017, top-label).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

PROBABILITY_PREFIX = "prob_"
DEFAULT_BINS = 10
RELIABILITY_COLUMNS = ["bin_low", "bin_high", "count", "confidence", "accuracy"]


def class_probabilities(predictions: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """The class names and the (rows, classes) probabilities of a predictions.csv frame."""
    columns = [c for c in predictions.columns if str(c).startswith(PROBABILITY_PREFIX)]
    if not columns:
        raise ValueError("no class probabilities (prob_<class> columns) in these predictions")
    return [c[len(PROBABILITY_PREFIX):] for c in columns], predictions[columns].to_numpy(dtype=float)


def confidence_and_correct(predictions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the probability of the predicted class, and whether the prediction was right."""
    _, probabilities = class_probabilities(predictions)
    confidence = probabilities.max(axis=1)
    correct = (predictions["truth"].astype(str) == predictions["prediction"].astype(str)).to_numpy()
    return confidence, correct


def reliability_table(confidence: np.ndarray, correct: np.ndarray, bins: int = DEFAULT_BINS) -> pd.DataFrame:
    """One row per equal-width confidence bin of [0, 1]: its edges, rows, mean confidence and accuracy
    (NaN where empty). A confidence of exactly 1 falls in the last bin."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    frame = pd.DataFrame({"confidence": np.asarray(confidence, dtype=float),
                          "accuracy": np.asarray(correct, dtype=float)})
    frame["bin"] = pd.cut(frame["confidence"], edges, labels=False, include_lowest=True)
    grouped = frame.groupby("bin")[["confidence", "accuracy"]].agg(["count", "mean"])
    table = pd.DataFrame({"bin_low": edges[:-1], "bin_high": edges[1:]})
    table["count"] = grouped[("confidence", "count")].reindex(range(bins), fill_value=0).to_numpy()
    table["confidence"] = grouped[("confidence", "mean")].reindex(range(bins)).to_numpy()
    table["accuracy"] = grouped[("accuracy", "mean")].reindex(range(bins)).to_numpy()
    return table[RELIABILITY_COLUMNS]


def expected_calibration_error(table: pd.DataFrame) -> float:
    """ECE of a reliability table: ``sum_b n_b / N * |accuracy_b - confidence_b|``."""
    filled = table[table["count"] > 0]
    weights = filled["count"] / filled["count"].sum()
    return float((weights * (filled["accuracy"] - filled["confidence"]).abs()).sum())


def calibration_of(predictions: pd.DataFrame, bins: int = DEFAULT_BINS) -> tuple[float, pd.DataFrame]:
    """``(ECE, reliability table)`` of one evaluation's predictions."""
    table = reliability_table(*confidence_and_correct(predictions), bins=bins)
    return expected_calibration_error(table), table
