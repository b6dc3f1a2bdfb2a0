"""Emotion of new wav files from a saved baseline folder alone.

The chain is the one training saw: ``audio.load_trimmed`` -> the feature extractor the model names
(openSMILE; or the SSL model from its hub name or directory, which must be reachable) -> the saved
scaler -> the classifier. With transductive scaling (``corpus``/``speaker``) the files of one call
are taken as one group and scaled by their own statistics (from two files on; one file alone gets
the pooled training statistics), which is announced once.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..audio import AudioError, load_trimmed
from ..errors import InputError
from .model import load_model


class BaselinePredictor:
    """The interface of :class:`specct.predict.Predictor` for a saved baseline."""

    def __init__(self, model: str | Path, device: str = "cpu"):
        self.model = load_model(model)
        self.device = device
        self.class_names = list(self.model.class_names)
        self._extractor = None

    @property
    def extractor(self):
        if self._extractor is None:
            self._extractor = self.model.extractor(self.device)
        return self._extractor

    def predict_files(self, files: Sequence[str | Path], batch_size: int = 16, progress: bool = True, echo=print):
        from tqdm import tqdm

        from ..predict import Prediction

        results, rows, vectors = [], [], []
        for path in tqdm(list(files), desc="predict", unit="file", disable=not progress, leave=False):
            result = Prediction(file=str(path))
            results.append(result)
            try:
                vectors.append(self.model.features_of_signal(self.extractor, load_trimmed(path)))
            except AudioError as exc:
                result.error = str(exc)
                if echo:
                    echo(f"skip {path}: {exc}")
                continue
            rows.append(result)
        if rows:
            features = np.stack(vectors)
            groups = None
            if self.model.scaler.transductive and len(rows) > 1:
                groups = ["given files"] * len(rows)
                if echo:
                    echo(f"note: {self.model.scaler.mode} scaling is transductive; the {len(rows)} files given "
                         f"are scaled together by their own statistics")
            probabilities = self.model.probabilities(features, groups)
            predicted = self.model.predict(features, groups)
            for result, probs, index in zip(rows, probabilities, predicted):
                result.probabilities = {name: float(v) for name, v in zip(self.class_names, probs)}
                result.emotion = self.class_names[int(index)]
        return results

    def export_onnx(self, path):
        raise InputError("--export-onnx: only the neural models export to ONNX, not the baselines")
