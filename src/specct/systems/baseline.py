"""Feature baselines (openSMILE, frozen SSL and speaker vectors + a classifier, :mod:`specct.baselines`):
trained by :mod:`specct.baselines.trainer`, saved as one skops file."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..baselines import BASELINES, MODEL_NAME
from ..core.records import read_record
from .base import Scores, ScoreSettings, System, TrainedSystem
from ..train.option_models import BaselineOptions


class TrainedBaseline(TrainedSystem):
    """A saved baseline: its feature extractor (made on first use), scaler and classifier."""

    def __init__(self, path: str | Path, device: str = "cpu"):
        from ..baselines.model import load_model, model_path

        self.path = model_path(path)
        self.model = load_model(path)
        self.device = "cpu" if device == "auto" else device
        self.class_names = list(self.model.class_names)
        self._extractor = None

    @property
    def extractor(self):
        if self._extractor is None:
            self._extractor = self.model.extractor(self.device)
        return self._extractor

    def record(self) -> dict:
        from ..baselines.trainer import scaling_record

        info = self.model.info
        return {"model": self.model.model_name, "checkpoint": str(self.path.resolve()),
                "checkpoint_epoch": int(info.get("hyperparameters", {}).get("epoch", 0)),
                "features": self.model.spec.as_dict(), "scaling": scaling_record(self.model.scaler.mode),
                "hyperparameters": info.get("hyperparameters", {}),
                # refit: fitted again on training + validation rows after the choice (models saved before
                # the refit existed have no such key: they were fitted on the training rows)
                "refit": bool(info.get("refit", False)),
                "fitted_rows": int(info.get("fitted_rows", info.get("train_rows", 0)))}

    def score(self, frame, settings: ScoreSettings) -> Scores:
        from ..baselines.features import features_for_wavs
        from ..baselines.trainer import scaling_groups

        features = features_for_wavs(frame["wav"], self.model.spec)
        groups = scaling_groups(frame, self.model.scaler.mode)
        note = "  (transductive scaling)" if self.model.scaler.transductive else ""
        return Scores(self.model.probabilities(features, groups), self.model.predict(features, groups), note=note)

    def predict_batch_size(self, batch_size: int) -> int | None:
        return None    # transductive scaling takes the files of one call as one group

    def inputs_of_signal(self, signal: np.ndarray):
        return self.model.features_of_signal(self.extractor, signal)

    def classify(self, inputs: list, echo=print) -> tuple[np.ndarray, np.ndarray]:
        """With transductive scaling (corpus/speaker) the files of one call are one group, scaled by
        their own statistics from two files on (one file alone gets the pooled training statistics)."""
        features = np.stack(inputs)
        groups = None
        if self.model.scaler.transductive and len(inputs) > 1:
            groups = ["given files"] * len(inputs)
            if echo:
                echo(f"note: {self.model.scaler.mode} scaling is transductive; the {len(inputs)} files given "
                     f"are scaled together by their own statistics")
        return self.model.probabilities(features, groups), self.model.predict(features, groups)

    def export_onnx(self, path):
        from ..core.errors import InputError

        raise InputError("--export_onnx: only the neural models export to ONNX, not the baselines")


class BaselineSystem(System):
    """The names of :data:`specct.baselines.BASELINES`."""
    kind = "baseline"
    options = BaselineOptions   # the train.py flags its training reads
    saved_name = MODEL_NAME
    saved_suffixes = (".skops",)

    def handles(self, model_name: str) -> bool:
        return str(model_name) in BASELINES

    def model_names(self) -> list[str]:
        return list(BASELINES)

    def is_seeded(self, model_name: str, flags: dict) -> bool:
        # the torch heads draw their initial weights and batches; the scikit-learn fits do not
        return BASELINES[model_name].classifier in ("linear", "mlp")

    def vector_sets(self, model_name: str, flags: dict) -> list:
        from ..baselines.features import parse_features

        features = flags.get("features") or BASELINES[model_name].features
        if not features:
            from ..core.errors import InputError

            raise InputError(f"{model_name} needs its features named (features: ssl:<model>, docs/baselines.md)")
        if features == "resemblyzer":
            return []
        return [parse_features(features, flags.get("layer"), flags.get("whisper_input"), flags.get("whisper_precision"))]

    def feature_caches(self, model_name: str, flags: dict) -> list[str]:
        from ..baselines.features import FeatureSpec

        names = []
        for spec in self.vector_sets(model_name, flags):
            names.append(spec.name)
            if spec.kind == "ssl" and spec.layer != "all":   # one layer may be read from the all-layers cache
                names.append(FeatureSpec("ssl", spec.source, "all").name)
        return names

    def run_name(self, args: argparse.Namespace) -> str:
        from ..baselines.trainer import run_name

        return run_name(args)

    def fit(self, args: argparse.Namespace, on_epoch_end=None) -> Path:
        from ..baselines.trainer import train_baseline

        return train_baseline(args)

    def is_trained(self, out_dir: Path, args: argparse.Namespace) -> bool:
        """The saved model (written last, atomically) is there and was fitted as ``args`` ask: a folder
        fitted without the refit (``--no_refit``, or before the refit existed) is not a refit one."""
        from ..baselines.trainer import refit_wanted
        from ..protocol.runs import ARGS_NAME

        out_dir = Path(out_dir)
        if not (out_dir / MODEL_NAME).is_file():
            return False
        recorded = read_record(out_dir / ARGS_NAME, "training record") if (out_dir / ARGS_NAME).is_file() else {}
        return (recorded or {}).get("refit") is True if refit_wanted(args) else not (recorded or {}).get("refit")

    def load(self, path, device: str = "cpu", checkpoint: str | None = None) -> TrainedBaseline:
        return TrainedBaseline(path, device)
