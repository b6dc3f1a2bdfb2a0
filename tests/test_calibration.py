"""Calibration: the ECE of made-up predictors whose calibration is known, and the reliability diagram."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from specct.stats.calibration import calibration_of, class_probabilities, reliability_table
from specct.figures.plots import plot_reliability

CLASSES = ["anger", "happy", "neutral", "sad"]


def made_up_predictions(confidence: np.ndarray, correct: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """predictions.csv rows: the predicted class gets ``confidence``, the others share the rest; the
    truth is the prediction where ``correct``, another class elsewhere."""
    rng = np.random.default_rng(seed)
    n, k = len(confidence), len(CLASSES)
    predicted = rng.integers(0, k, n)
    truth = np.where(correct, predicted, (predicted + rng.integers(1, k, n)) % k)
    probabilities = np.repeat(((1 - confidence) / (k - 1))[:, None], k, axis=1)
    probabilities[np.arange(n), predicted] = confidence
    frame = pd.DataFrame({"file": [f"r{i}.png" for i in range(n)], "truth": np.array(CLASSES)[truth],
                          "prediction": np.array(CLASSES)[predicted]})
    for i, name in enumerate(CLASSES):
        frame[f"prob_{name}"] = probabilities[:, i]
    return frame


def test_a_calibrated_predictor_has_an_ece_near_zero_and_an_overconfident_one_a_large_ece():
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.25, 1.0, 20000)
    calibrated = made_up_predictions(confidence, rng.random(20000) < confidence)   # right as often as it says
    ece, table = calibration_of(calibrated)
    assert ece < 0.02
    filled = table[table["count"] > 0]
    assert np.allclose(filled["accuracy"], filled["confidence"], atol=0.05)

    sure = np.full(20000, 0.99)
    overconfident = made_up_predictions(sure, rng.random(20000) < 0.5)            # says 0.99, right half the time
    ece, _ = calibration_of(overconfident)
    assert ece == pytest.approx(0.49, abs=0.02)


def test_reliability_bins_count_every_row_once_and_the_diagram_is_drawn(tmp_path):
    table = reliability_table(np.array([0.05, 0.31, 0.35, 1.0, 1.0]), np.array([0, 1, 0, 1, 1]), bins=10)
    assert list(table["count"]) == [1, 0, 0, 2, 0, 0, 0, 0, 0, 2]          # 1.0 falls in the last bin
    assert table.loc[3, "accuracy"] == 0.5 and table.loc[3, "confidence"] == pytest.approx(0.33)
    assert np.isnan(table.loc[1, "accuracy"])
    names, probabilities = class_probabilities(made_up_predictions(np.array([0.7, 0.4]), np.array([True, False])))
    assert names == CLASSES and probabilities.sum(axis=1) == pytest.approx([1, 1])
    path = plot_reliability({"svm": table}, tmp_path / "reliability.png", paper=True)
    with Image.open(path) as image:
        assert image.info["dpi"][0] == pytest.approx(300, abs=1)
    assert path.with_suffix(".svg").read_text().lstrip().startswith("<?xml")
